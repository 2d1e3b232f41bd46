"""Domain services shared by handlers, channels and the scheduler."""
