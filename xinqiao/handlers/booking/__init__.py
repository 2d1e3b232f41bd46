"""Counselling booking in chat: the student's booking, the counsellor's desk, duty, statistics."""
