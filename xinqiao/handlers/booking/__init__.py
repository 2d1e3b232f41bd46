"""Counselling booking in chat: the student's booking, the counsellor's desk, duty, statistics."""

from xinqiao.handlers.booking import texts
from xinqiao.services.booking import wording

# The booking services push in this package's words (a booking, a cancellation, a reminder).
wording.use(texts)
