"""Psycho-education content: the article library, its search, weekly tips and content campaigns."""
