"""Channels translate messages in and out; one module per channel."""
