"""Tables, sessions and queries. Imports nothing from the rest of xinqiao."""
