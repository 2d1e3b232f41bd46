"""The domain's words every layer shares: roles, attention tiers, booking kinds, a person.

No tables and no queries: the storage layer builds its rows on these types and re-exports
them, so handlers can name a role or a tier without reaching storage. This module sits below
storage in the layers contract (pyproject.toml) and imports nothing of the project.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
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


class Rostered(Member, Protocol):
    """A roster person as services read them: their school, units and attention tier.

    Both the stored row and a flow's frozen :class:`PersonView` are one; a service that only
    reads a person takes this, one that changes them loads the row by id.
    """

    @property
    def school_id(self) -> int:
        """Their school."""
        ...

    @property
    def college_id(self) -> int | None:
        """Their college (学院), if they belong to one."""
        ...

    @property
    def klass_id(self) -> int | None:
        """Their class (班级), for students and network members."""
        ...

    @property
    def dorm_id(self) -> int | None:
        """Their dormitory room, for students."""
        ...

    @property
    def tier(self) -> Tier:
        """Their attention tier (design.md §2)."""
        ...


@dataclass(frozen=True, slots=True)
class PersonView:
    """The person a turn speaks with, as a flow sees them: no row, no phone, no code.

    Built by the engine from the roster row when the turn begins; a flow reads it and hands it
    to services, which load the row themselves when they must change it.
    """

    id: int | None
    school_id: int
    external_id: str
    name: str
    college_id: int | None
    klass_id: int | None
    dorm_id: int | None
    enrolment_year: int | None
    tier: Tier
    active: bool


class Account(Protocol):
    """A chat account a message arrived on, as flows and services read it (the stored row
    stays with the engine; a service that changes it loads it by id)."""

    @property
    def id(self) -> int | None:
        """The account's id; the conversation state is keyed by it."""
        ...

    @property
    def channel(self) -> str:
        """wechat, telegram, wecom, console."""
        ...

    @property
    def preferred(self) -> bool:
        """Whether alerts and reminders go to this account."""
        ...

    @property
    def bind_locked_until(self) -> datetime | None:
        """Binding is refused here until then after repeated wrong codes."""
        ...

    reachable: bool  # False once the account unsubscribed: pushes stop


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


class WaitOrigin(StrEnum):
    """How a student came onto the waitlist: by their own tap, or placed by the centre after a
    positive screen (they are told so in those words, never as if they had queued)."""

    student = "student"
    screen = "screen"
