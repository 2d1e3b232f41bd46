"""The wording booking's pushes are sent in, handed to the services from the handlers' side.

A booking, a cancellation or a timer firing queues its push in the same transaction as the
change, with no flow to word it; the words live in ``handlers/booking/texts.py``, which offers
itself here when the booking handlers load (as the content wiring hands its pushes their
wording). The services import only this port, never a handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Protocol

from xinqiao.services.pushed import Pushed
from xinqiao.services.wording_port import WordingPort


class BookingWording(Protocol):
    """The labels and pushes the booking services send; ``handlers/booking/texts`` is one."""

    REASONS: dict[str, str]  # the reason codes a student may give, with their labels
    NOSHOW_ALERT_TITLE: str

    def booked_push(self, student: str, start: datetime, reason: str | None,
                    moved_from: datetime | None) -> Pushed:
        """A new booking (or a student's own reschedule), to the counsellor."""
        ...

    def cancelled_push(self, student: str | None, start: datetime) -> Pushed:
        """A student cancelled, to the counsellor."""
        ...

    def noshow_push(self, start: datetime) -> Pushed:
        """A missed appointment is released, to the student."""
        ...

    def repeated_noshows_push(self, student: str | None, window_days: int,
                              count: int) -> Pushed:
        """A student keeps missing sessions, to the centre lead."""
        ...

    def centre_cancelled_push(self, start: datetime) -> Pushed:
        """The centre cancelled, to the student."""
        ...

    def move_proposed_push(self, counsellor: str, start: datetime, options: list[datetime],
                           on_leave: bool) -> Pushed:
        """New times proposed, to the student."""
        ...

    def move_declined_push(self, start: datetime) -> Pushed:
        """The student keeps the original time, to the counsellor."""
        ...

    def cancelled_for_leave_push(self, start: datetime) -> Pushed:
        """The student cancelled an appointment in the counsellor's leave."""
        ...

    def move_expired_push(self, start: datetime, on_leave: bool) -> Pushed:
        """A proposal went unanswered, to the counsellor."""
        ...

    def noshow_alert_push(self, ref: str, title: str) -> Pushed:
        """A key- or crisis-tier student missed a session, to their counsellor (``title``: the
        item as its alerts name it, with the class)."""
        ...

    def referred_to_you_push(self, by: str, student: str) -> Pushed:
        """A colleague referred a student, to the counsellor."""
        ...

    def referred_student_push(self, by: str, to: str) -> Pushed:
        """Who will see the student next, to the student."""
        ...

    def booked_for_student_push(self, by: str, start: datetime, place: str | None) -> Pushed:
        """Staff (or a crisis referral) booked a session for the student, to the student."""
        ...

    def positive_unplaced_push(self, student_number: str, last_day: date) -> Pushed:
        """A positive screen found no session in its window, to the centre staff on duty."""
        ...

    def referral_case_note(self, by: str, place: str, note: str | None) -> str:
        """The crisis case's timeline entry for a crisis referral."""
        ...

    def referral_outcome_note(self, outcome: str) -> str:
        """The crisis case's timeline entry for a referral's outcome."""
        ...

    def reminder_push(self, which: str, ahead: timedelta, start: datetime,
                      counsellor: str | None, mode: str, place: str | None,
                      cutoff: timedelta) -> Pushed:
        """The evening-before or hour-before reminder, to the student."""
        ...

    def morning_list_push(
        self, day: date, lines: Sequence[tuple[datetime, str | None, str | None, str]],
    ) -> Pushed:
        """A counsellor's appointments of the day."""
        ...

    def offer_push(self, start: datetime, hold_until: datetime) -> Pushed:
        """A freed slot held for a waitlisted student."""
        ...

    def placed_push(self, start: datetime) -> Pushed:
        """A session held after a positive screen lapsed: the centre keeps looking, to the
        student (placed on the waitlist by the centre, not by their own tap)."""
        ...


words: WordingPort[BookingWording] = WordingPort("booking", "xinqiao.handlers.booking")
