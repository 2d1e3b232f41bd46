"""Psycho-education content in chat: browsing, search, tips, exercises, the centre's pushes."""
