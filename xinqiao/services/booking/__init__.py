"""Counselling booking: slots, appointments, the waitlist, counsellors' actions, timers."""
