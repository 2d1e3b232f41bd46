"""Appointments, moves and waitlist places as a flow shows them: frozen, no row behind them.

The booking flows show these and hand back their ids; the services look the rows up again in
the same unit of work, so a flow never holds (or changes) a database row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from xinqiao.storage.booking import Appointment, MoveProposal, WaitlistEntry
from xinqiao.vocabulary import AppointmentStatus, Mode, WaitOrigin, WaitStatus


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as a flow shows it: when, who, how, where and how it stands."""

    id: int
    student_id: int
    counsellor_id: int
    start_at: datetime
    end_at: datetime
    status: AppointmentStatus
    mode: Mode
    place: str | None
    reason: str | None
    has_note: bool  # the counsellor's private note exists (reading it is an audited act)


def appointment_view(appt: Appointment) -> AppointmentView:
    """The view of an appointment row."""
    return AppointmentView(appt.id or 0, appt.student_id, appt.counsellor_id, appt.start_at,
                           appt.end_at, AppointmentStatus(appt.status), Mode(appt.mode),
                           appt.place, appt.reason, bool(appt.note))


@dataclass(frozen=True)
class ProposalView:
    """A counsellor's open move proposal: the times offered, and whether they are on leave at
    the original time (then keeping it is no choice)."""

    id: int
    starts: tuple[datetime, ...]
    on_leave: bool


def proposal_view(proposal: MoveProposal, on_leave: bool) -> ProposalView:
    """The view of a proposal row."""
    return ProposalView(proposal.id or 0,
                        tuple(datetime.fromisoformat(t) for t in proposal.options), on_leave)


@dataclass(frozen=True)
class WaitView:
    """A student's place on the waitlist: what they wait for, a session held for them, and
    whether they joined themselves or the centre placed them after a positive screen."""

    status: WaitStatus
    gender: str | None
    mode: str | None
    created_at: datetime
    offered_counsellor_id: int | None
    offered_start: datetime | None
    origin: WaitOrigin = WaitOrigin.student


def wait_view(entry: WaitlistEntry) -> WaitView:
    """The view of a waitlist row."""
    return WaitView(WaitStatus(entry.status), entry.gender, entry.mode, entry.created_at,
                    entry.offered_counsellor_id, entry.offered_start, WaitOrigin(entry.origin))
