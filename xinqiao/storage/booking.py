"""Counselling booking tables: counsellors, duty patterns, appointments, moves, referrals.

Exclusivity lives in the database, not in the code that checks first: a partial unique index
lets one live appointment hold a counsellor's start time, and another lets a student hold one
upcoming appointment. A race between two bookings ends in an IntegrityError for the loser.
"""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import Column, Date, Index, String, Time, text
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedText
from xinqiao.storage.types import JSONType, utc_column

# Re-exported: the rows are built on the shared vocabulary and older importers name it here.
from xinqiao.vocabulary import AppointmentStatus as AppointmentStatus
from xinqiao.vocabulary import ExceptionKind as ExceptionKind
from xinqiao.vocabulary import Mode as Mode
from xinqiao.vocabulary import WaitOrigin as WaitOrigin
from xinqiao.vocabulary import WaitStatus as WaitStatus

# Statuses that keep a counsellor's start time taken. A no-show or a cancellation frees it.
HOLDING = (AppointmentStatus.booked, AppointmentStatus.started, AppointmentStatus.attended)
_HOLDING_SQL = "status IN ('booked', 'started', 'attended')"
_UPCOMING_SQL = "status = 'booked'"


class CounsellorProfile(SQLModel, table=True):
    """What students may filter on: gender, room, online/offline; inactive hides a counsellor."""

    __tablename__ = "counsellor_profile"
    person_id: int = Field(foreign_key="person.id", primary_key=True)
    gender: str | None = Field(default=None, sa_column=Column(String(8)))  # female | male
    place: str | None = Field(default=None, sa_column=Column(String(100)))
    modes: Mode = Field(default=Mode.offline, sa_column=Column(String(8), nullable=False))
    active: bool = True
    updated_at: datetime = utc_column()


class DutyPattern(SQLModel, table=True):
    """A weekly duty window of one counsellor, cut into sessions, for a range of dates."""

    __tablename__ = "duty_pattern"
    id: int | None = Field(default=None, primary_key=True)
    counsellor_id: int = Field(foreign_key="person.id", index=True)
    weekday: int  # ISO: 1 = Monday
    start: time = Field(sa_column=Column(Time, nullable=False))
    end: time = Field(sa_column=Column(Time, nullable=False))
    session_minutes: int = 45
    break_minutes: int = 15
    place: str | None = Field(default=None, sa_column=Column(String(100)))
    mode: Mode = Field(default=Mode.offline, sa_column=Column(String(8), nullable=False))
    valid_from: date = Field(sa_column=Column(Date, nullable=False))
    valid_until: date | None = Field(default=None, sa_column=Column(Date))
    created_at: datetime = utc_column()


class DutyException(SQLModel, table=True):
    """A one-day change to a counsellor's duty: leave or extra duty."""

    __tablename__ = "duty_exception"
    id: int | None = Field(default=None, primary_key=True)
    counsellor_id: int = Field(foreign_key="person.id", index=True)
    day: date = Field(sa_column=Column(Date, nullable=False, index=True))
    kind: ExceptionKind = Field(sa_column=Column(String(8), nullable=False))
    start: time | None = Field(default=None, sa_column=Column(Time))
    end: time | None = Field(default=None, sa_column=Column(Time))
    session_minutes: int = 45
    break_minutes: int = 15
    place: str | None = Field(default=None, sa_column=Column(String(100)))
    mode: Mode = Field(default=Mode.offline, sa_column=Column(String(8), nullable=False))
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_column()


class Appointment(SQLModel, table=True):
    """A student's session with a counsellor; ``token`` changes to silence stale reminders."""

    __table_args__ = (
        Index("ux_appointment_slot", "counsellor_id", "start_at", unique=True,
              sqlite_where=text(_HOLDING_SQL), postgresql_where=text(_HOLDING_SQL)),
        Index("ux_appointment_upcoming", "student_id", unique=True,
              sqlite_where=text(_UPCOMING_SQL), postgresql_where=text(_UPCOMING_SQL)),
        Index("ix_appointment_start", "start_at", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="person.id", index=True)
    counsellor_id: int = Field(foreign_key="person.id", index=True)
    start_at: datetime = utc_column()
    end_at: datetime = utc_column()
    place: str | None = Field(default=None, sa_column=Column(String(100)))
    mode: Mode = Field(default=Mode.offline, sa_column=Column(String(8), nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(String(32)))
    status: AppointmentStatus = Field(
        default=AppointmentStatus.booked, sa_column=Column(String(16), nullable=False)
    )
    token: int = 1
    # When the student first asked (kept across reschedules and moves): waiting-time stats.
    requested_at: datetime = utc_column()
    created_at: datetime = utc_column()
    status_at: datetime | None = utc_column(nullable=True)
    marked_by: int | None = Field(default=None, foreign_key="person.id")
    note: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    moved_from: int | None = Field(default=None, foreign_key="appointment.id")


class ProposalStatus(StrEnum):
    """A counsellor's move proposal waits for the student's answer."""

    open = "open"
    accepted = "accepted"
    declined = "declined"
    expired = "expired"
    void = "void"  # the appointment ended otherwise before the student answered


class MoveProposal(SQLModel, table=True):
    """New times a counsellor offers for an appointment; nothing moves until the student picks."""

    __tablename__ = "appointment_move"
    id: int | None = Field(default=None, primary_key=True)
    appointment_id: int = Field(foreign_key="appointment.id", index=True)
    proposed_by: int = Field(foreign_key="person.id")
    options: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    status: ProposalStatus = Field(
        default=ProposalStatus.open, sa_column=Column(String(16), nullable=False)
    )
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    answered_at: datetime | None = utc_column(nullable=True)
    new_appointment_id: int | None = Field(default=None, foreign_key="appointment.id")


class Referral(SQLModel, table=True):
    """转介: to another counsellor or out to a hospital, with its outcome when known."""

    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="person.id", index=True)
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id")
    by_id: int = Field(foreign_key="person.id")
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # counsellor | hospital
    to_counsellor_id: int | None = Field(default=None, foreign_key="person.id")
    hospital: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    crisis: bool = False
    case_id: int | None = Field(default=None, foreign_key="crisis_case.id")
    note: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    outcome: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    outcome_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()


_WAITING_SQL = "status IN ('waiting', 'offered')"


class WaitlistEntry(SQLModel, table=True):
    """A student waiting for a freed slot, with the filters they asked for; one per student."""

    __tablename__ = "booking_waitlist"
    __table_args__ = (
        Index("ux_waitlist_student", "student_id", unique=True,
              sqlite_where=text(_WAITING_SQL), postgresql_where=text(_WAITING_SQL)),
        Index("ix_waitlist_queue", "status", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    student_id: int = Field(foreign_key="person.id", index=True)
    gender: str | None = Field(default=None, sa_column=Column(String(8)))
    mode: str | None = Field(default=None, sa_column=Column(String(8)))
    status: WaitStatus = Field(
        default=WaitStatus.waiting, sa_column=Column(String(16), nullable=False)
    )
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    offered_counsellor_id: int | None = Field(default=None, foreign_key="person.id")
    offered_start: datetime | None = utc_column(nullable=True)
    offer_expires_at: datetime | None = utc_column(nullable=True)
    token: int = 0
    # Who put them here: rows from before this column are the student's own taps.
    origin: WaitOrigin = Field(default=WaitOrigin.student, sa_column=Column(
        String(16), nullable=False, server_default=WaitOrigin.student.value))
