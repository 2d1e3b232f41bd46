"""What the bot does, one module per capability; no handler imports a channel."""
