"""Time-driven work: the working calendar and the escalation and check-in policy."""
