"""Escalation: an item's chain of levels, its deadlines, records and the alerts' facts."""
