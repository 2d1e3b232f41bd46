"""What the counsellor's desk reads and does: the day's appointments, one appointment (as a
frozen view; the desk flow hands back its id), marking it, its note, colleagues."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.policy.policy import Policy
from xinqiao.services.access import Action, Actor, Kind, appointment_target, authorize
from xinqiao.services.booking.counsellor_actions import Marked, mark, noshows, on_leave, read_note
from xinqiao.services.booking.referrals import open_referrals, record_outcome
from xinqiao.services.booking.views import AppointmentView, appointment_view
from xinqiao.storage.booking import Appointment, AppointmentStatus, CounsellorProfile
from xinqiao.storage.models import Person
from xinqiao.vocabulary import Member

S = AppointmentStatus
SHOWN = 12  # appointments listed with their actions; the count covers them all


@dataclass(frozen=True)
class DeskLine:
    """One appointment in the list."""

    appt_id: int
    start_at: datetime
    student: str
    status: AppointmentStatus
    noshows: int  # the student's recent no-shows
    on_leave: bool  # booked, but the counsellor is on leave then


@dataclass(frozen=True)
class DeskDay:
    """The appointments of a day (or days): how many, and the first :data:`SHOWN`."""

    total: int
    lines: tuple[DeskLine, ...]


@dataclass(frozen=True)
class StudentCard:
    """Who an appointment is with."""

    name: str
    external_id: str


async def desk_day(s: AsyncSession, policy: Policy, counsellor_id: int | None,
                   day_start: datetime, days: int, now: datetime) -> DeskDay:
    """Appointments starting in ``days`` days from ``day_start`` (one counsellor's, or all)."""
    query = select(Appointment).where(
        Appointment.start_at >= day_start,
        Appointment.start_at < day_start + timedelta(days=days),
        col(Appointment.status).not_in([S.moved.value, S.cancelled.value]))
    if counsellor_id is not None:
        query = query.where(Appointment.counsellor_id == counsellor_id)
    rows = list(await s.exec(query.order_by(col(Appointment.start_at))))
    lines = []
    for appt in rows[:SHOWN]:
        student = await s.get(Person, appt.student_id)
        count = await noshows(s, policy, appt.student_id, now)
        leave = appt.status == S.booked and await on_leave(s, appt)
        lines.append(DeskLine(appt.id or 0, appt.start_at, student.name if student else "?",
                              S(appt.status), count, leave))
    return DeskDay(len(rows), tuple(lines))


async def appointment_to_handle(s: AsyncSession, actor: Actor, appt_id: int | None,
                                now: datetime) -> Appointment | None:
    """The appointment, if ``actor`` may act on it (a refusal is audited)."""
    appt = await s.get(Appointment, appt_id) if appt_id else None
    if appt is None:
        return None
    # Opening an appointment is not yet reading its note: only refusals are audited here.
    mine = await authorize(s, actor, Kind.appointment_note, Action.change,
                           await appointment_target(s, appt), now=now, audit_allowed=False,
                           appointment=appt.id)
    return appt if mine else None


async def appointment_view_to_handle(s: AsyncSession, actor: Actor, appt_id: int | None,
                                     now: datetime) -> AppointmentView | None:
    """The appointment as the desk flow shows it, if ``actor`` may act on it."""
    appt = await appointment_to_handle(s, actor, appt_id, now)
    return appointment_view(appt) if appt is not None else None


async def mark_appointment(s: AsyncSession, policy: Policy, appt_id: int,
                           outcome: AppointmentStatus, by: Member, now: datetime,
                           note: str | None = None) -> Marked:
    """Record the outcome of the appointment the desk flow shows (see :func:`mark`)."""
    appt = await s.get(Appointment, appt_id)
    return await mark(s, policy, appt, outcome, by, now, note) if appt else Marked("already")


async def note_of(s: AsyncSession, appt_id: int, reader: Actor, now: datetime) -> str | None:
    """The appointment's private note for an allowed reader (an audited read)."""
    appt = await s.get(Appointment, appt_id)
    return await read_note(s, appt, reader, now) if appt is not None else None


async def has_open_referral(s: AsyncSession, student_id: int) -> bool:
    """Whether a referral of the student still waits for its outcome."""
    return bool(await open_referrals(s, student_id))


async def record_referral_outcome(s: AsyncSession, student_id: int, by: Member, outcome: str,
                                  now: datetime) -> bool:
    """How the student's latest open referral went; False when none is open."""
    pending = await open_referrals(s, student_id)
    if pending:
        await record_outcome(s, pending[-1], by, outcome, now)
    return bool(pending)


async def student_card(s: AsyncSession, appt: Appointment | AppointmentView
                       ) -> StudentCard | None:
    """The appointment's student, by name and number."""
    student = await s.get(Person, appt.student_id)
    return StudentCard(student.name, student.external_id) if student else None


async def colleagues(s: AsyncSession, counsellor_id: int) -> list[tuple[int, str]]:
    """Other active counsellors to refer to: (person id, name), by name."""
    rows = await s.exec(
        select(Person).join(CounsellorProfile, col(CounsellorProfile.person_id) == Person.id)
        .where(col(CounsellorProfile.active).is_(True), Person.id != counsellor_id)
        .order_by(col(Person.name)))
    return [(p.id or 0, p.name) for p in rows]


async def is_counsellor(s: AsyncSession, person_id: int) -> bool:
    """Whether the person exists and has a counsellor profile."""
    return (await s.get(Person, person_id) is not None
            and await s.get(CounsellorProfile, person_id) is not None)
