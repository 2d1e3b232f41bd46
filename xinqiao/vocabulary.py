"""The domain's words every layer shares: roles, attention tiers, booking kinds, a person.

No tables and no queries: the storage layer builds its rows on these types and re-exports
them, so handlers can name a role or a tier without reaching storage. This module sits below
storage in the layers contract (pyproject.toml) and imports nothing of the project.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class Role(StrEnum):
    """Roles of design.md §1; one person may hold several."""

    student = "student"
    committee = "committee"
    informant = "informant"
    class_advisor = "class_advisor"
    college_lead = "college_lead"
    college_counsellor = "college_counsellor"
    centre_staff = "centre_staff"
    centre_lead = "centre_lead"


class Tier(StrEnum):
    """Attention tiers of design.md §2."""

    routine = "routine"
    key = "key"
    crisis = "crisis"


class Member(Protocol):
    """Someone on the roster as a flow names them in a signature, not the row behind them."""

    @property
    def id(self) -> int | None:
        """The roster person's id."""
        ...

    @property
    def external_id(self) -> str:
        """The school's number for them (学号, 工号)."""
        ...

    @property
    def name(self) -> str:
        """Their name as the roster has it."""
        ...


# --- counselling bookings ---------------------------------------------------------------


class Mode(StrEnum):
    """How a session takes place."""

    offline = "offline"
    online = "online"
    both = "both"


class AppointmentStatus(StrEnum):
    """Life of an appointment; ``booked`` is upcoming, ``started`` waits to be marked."""

    booked = "booked"
    started = "started"
    attended = "attended"
    no_show = "no_show"
    cancelled = "cancelled"  # by the student, before the cut-off
    centre_cancelled = "centre_cancelled"
    moved = "moved"  # replaced by a new appointment (reschedule, or a move the student took)


class ExceptionKind(StrEnum):
    """Leave removes duty (a window, or the whole day when it has no times); extra adds it."""

    leave = "leave"
    extra = "extra"


class WaitStatus(StrEnum):
    """A waitlist entry waits, is offered a freed slot, and ends booked, left or expired."""

    waiting = "waiting"
    offered = "offered"
    booked = "booked"
    left = "left"
    expired = "expired"
