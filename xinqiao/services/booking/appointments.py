"""Booking, cancelling and rescheduling appointments; the database decides who gets a slot.

A booking first checks the slot is still free, then inserts under a savepoint. Two students
racing for one slot both pass the check; the partial unique index on (counsellor, start) lets
one insert through and the other gets an IntegrityError, which becomes :attr:`Outcome.code`
``"taken"`` instead of an error, so the loser is told kindly and shown fresh slots.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.policy import Policy
from xinqiao.services.booking import waitlist
from xinqiao.services.booking.slots import find_slot
from xinqiao.services.booking.views import AppointmentView, appointment_view
from xinqiao.services.booking.wording import words
from xinqiao.services.recipients import push_to_people
from xinqiao.services.timers import schedule
from xinqiao.storage.booking import (
    HOLDING,
    Appointment,
    AppointmentStatus,
    Mode,
    MoveProposal,
    ProposalStatus,
)
from xinqiao.storage.models import Person
from xinqiao.vocabulary import Member

REMIND = "booking.remind"
BOOKED = AppointmentStatus.booked


@dataclass(frozen=True)
class Outcome:
    """What became of a request: ``code`` says why when it did not go through."""

    ok: bool
    code: str  # booked | moved | cancelled | taken | gone | has_upcoming | cutoff
    appointment: AppointmentView | None = None


async def lapse_started(s: AsyncSession, student_id: int, now: datetime) -> None:
    """Booked appointments whose start has passed wait to be marked; they are not upcoming."""
    rows = await s.exec(select(Appointment).where(
        Appointment.student_id == student_id, Appointment.status == BOOKED,
        Appointment.start_at <= now))
    for appt in rows:
        appt.status, appt.status_at = AppointmentStatus.started, now
        s.add(appt)
    await s.flush()


async def upcoming(s: AsyncSession, student_id: int, now: datetime) -> Appointment | None:
    """The student's one upcoming appointment, if any."""
    await lapse_started(s, student_id, now)
    return (await s.exec(select(Appointment).where(
        Appointment.student_id == student_id, Appointment.status == BOOKED))).first()


async def next_appointment(s: AsyncSession, student_id: int, now: datetime
                           ) -> AppointmentView | None:
    """The student's one upcoming appointment, as their flow shows it."""
    appt = await upcoming(s, student_id, now)
    return appointment_view(appt) if appt is not None else None


async def book(
    s: AsyncSession, policy: Policy, student: Member, counsellor_id: int, start: datetime,
    now: datetime, *, reason: str | None = None, mode: str | None = None,
    requested_at: datetime | None = None, replaces: Appointment | None = None,
    crisis: bool = False,
) -> Outcome:
    """Take a free slot for ``student``; ``replaces`` is the appointment it moves (rescheduled).

    ``crisis`` lets it take a crisis-kept session (services/booking/fair_access.py only).
    """
    assert student.id is not None
    slot = await find_slot(s, policy, now, counsellor_id, start, for_student=student.id,
                           crisis=crisis)
    if slot is None:
        held = (await s.exec(select(Appointment.id).where(
            Appointment.counsellor_id == counsellor_id, Appointment.start_at == start,
            col(Appointment.status).in_([h.value for h in HOLDING])))).first()
        return Outcome(False, "gone" if held is None else "taken")
    if replaces is None and await upcoming(s, student.id, now) is not None:
        return Outcome(False, "has_upcoming")
    chosen = Mode(mode) if mode in (Mode.online, Mode.offline) and slot.mode is Mode.both \
        else (Mode.offline if slot.mode is Mode.both else slot.mode)
    appt = Appointment(
        student_id=student.id, counsellor_id=counsellor_id, start_at=slot.start,
        end_at=slot.end, place=slot.place, mode=chosen,
        reason=reason if reason in words().REASONS else None, status=BOOKED,
        requested_at=requested_at or now, created_at=now,
        moved_from=replaces.id if replaces else None,
    )
    try:
        async with s.begin_nested():
            if replaces is not None:  # free the student's one upcoming place first
                _end(replaces, AppointmentStatus.moved, now)
                s.add(replaces)
                await s.flush()
            s.add(appt)
            await s.flush()
    except IntegrityError:
        if replaces is not None:
            await s.refresh(replaces)
        taken = replaces is not None or await upcoming(s, student.id, now) is None
        return Outcome(False, "taken" if taken else "has_upcoming")
    await schedule_reminders(s, policy, appt, now)
    await waitlist.mark_booked(s, student.id, now)
    if replaces is not None:
        await _void_proposals(s, replaces, now)
        await _after_free(s, policy, replaces, now)
    await push_to_people(s, [counsellor_id], key=f"booking:new:{appt.id}", now=now,
                         reply=words().booked_push(student.name, appt.start_at, appt.reason,
                                                   replaces.start_at if replaces else None))
    return Outcome(True, "moved" if replaces else "booked", appointment_view(appt))


async def schedule_reminders(s: AsyncSession, policy: Policy, appt: Appointment,
                             now: datetime) -> None:
    """The evening-before and hour-before reminders, tied to the appointment's token."""
    rules = policy.booking
    day_before = datetime.combine(local(appt.start_at).date() - timedelta(days=1),
                                  rules.remind_day_before_at, SHANGHAI)
    for which, due in (("day", day_before), ("hour", appt.start_at - rules.remind_before)):
        if due > now:
            await schedule(s, kind=REMIND, ref=f"{appt.id}:{which}", due_at=due, now=now,
                           token=appt.token)


def _end(appt: Appointment, status: AppointmentStatus, now: datetime) -> None:
    """Close an appointment; the new token silences its reminders."""
    appt.status, appt.status_at, appt.token = status, now, appt.token + 1


def within_cutoff(policy: Policy, appt: Appointment | AppointmentView, now: datetime) -> bool:
    """True while a student may still cancel or reschedule ``appt`` themselves."""
    return now <= appt.start_at - policy.booking.cutoff


async def cancel(s: AsyncSession, policy: Policy, appt_id: int, now: datetime) -> Outcome:
    """The student cancels before the cut-off; the counsellor is told, the waitlist offered."""
    appt = await s.get(Appointment, appt_id)
    if appt is None:
        return Outcome(False, "gone")
    if appt.status != BOOKED or appt.start_at <= now:
        return Outcome(False, "gone", appointment_view(appt))
    if not within_cutoff(policy, appt, now):
        return Outcome(False, "cutoff", appointment_view(appt))
    _end(appt, AppointmentStatus.cancelled, now)
    s.add(appt)
    await _void_proposals(s, appt, now)
    student = await s.get(Person, appt.student_id)
    await push_to_people(s, [appt.counsellor_id], key=f"booking:cancel:{appt.id}", now=now,
                         reply=words().cancelled_push(student.name if student else None,
                                                      appt.start_at))
    await _after_free(s, policy, appt, now)
    return Outcome(True, "cancelled", appointment_view(appt))


async def reschedule(s: AsyncSession, policy: Policy, appt_id: int, counsellor_id: int,
                     start: datetime, now: datetime) -> Outcome:
    """The student moves their appointment to another free slot, before the cut-off."""
    appt = await s.get(Appointment, appt_id)
    if appt is None:
        return Outcome(False, "gone")
    if appt.status != BOOKED or appt.start_at <= now:
        return Outcome(False, "gone", appointment_view(appt))
    if not within_cutoff(policy, appt, now):
        return Outcome(False, "cutoff", appointment_view(appt))
    student = await s.get(Person, appt.student_id)
    assert student is not None
    return await book(s, policy, student, counsellor_id, start, now, reason=appt.reason,
                      mode=appt.mode, requested_at=appt.requested_at, replaces=appt)


async def _after_free(s: AsyncSession, policy: Policy, appt: Appointment, now: datetime) -> None:
    """A freed future slot goes to the first matching student on the waitlist."""
    if appt.start_at > now:
        await waitlist.offer_freed(s, policy, appt.counsellor_id, appt.start_at, now)


async def _void_proposals(s: AsyncSession, appt: Appointment, now: datetime) -> None:
    rows = await s.exec(select(MoveProposal).where(
        MoveProposal.appointment_id == appt.id, MoveProposal.status == ProposalStatus.open))
    for proposal in rows:
        proposal.status, proposal.answered_at = ProposalStatus.void, now
        s.add(proposal)


async def free_and_notify(s: AsyncSession, policy: Policy, appt: Appointment,
                          status: AppointmentStatus, now: datetime) -> None:
    """Staff ended ``appt`` (no-show, centre cancellation): close it and offer its slot."""
    _end(appt, status, now)
    s.add(appt)
    await _void_proposals(s, appt, now)
    await _after_free(s, policy, appt, now)


async def history(s: AsyncSession, student_id: int, limit: int = 5) -> list[Appointment]:
    """A student's latest appointments, newest first."""
    rows = await s.exec(select(Appointment).where(Appointment.student_id == student_id)
                        .order_by(col(Appointment.start_at).desc()).limit(limit))
    return list(rows)


async def student_appointment(s: AsyncSession, appt_id: int, student_id: int | None
                              ) -> AppointmentView | None:
    """The appointment, if it is this student's."""
    appt = await s.get(Appointment, appt_id)
    return appointment_view(appt) if appt is not None and appt.student_id == student_id \
        else None
