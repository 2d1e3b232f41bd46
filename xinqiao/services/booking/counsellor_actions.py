"""What counsellors do with appointments: mark the outcome, keep a private note, move one.

A counsellor never moves an appointment: they propose new times and the student picks one
or keeps the original. Until then the original stands; an unanswered proposal expires. When the
counsellor is on leave at the original time, the proposal says so and keeping it is no choice:
the student picks a new time or cancels.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.policy import Policy
from xinqiao.services import audit
from xinqiao.services.access import Action, Actor, Kind, appointment_target, authorize
from xinqiao.services.booking.appointments import BOOKED, Outcome, book, free_and_notify
from xinqiao.services.booking.noshow_alert import alert_high_risk_noshow
from xinqiao.services.booking.views import (
    AppointmentView,
    ProposalView,
    appointment_view,
    proposal_view,
)
from xinqiao.services.booking.wording import words
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.timers import schedule
from xinqiao.storage.booking import (
    Appointment,
    AppointmentStatus,
    DutyException,
    ExceptionKind,
    MoveProposal,
    ProposalStatus,
)
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Timer
from xinqiao.vocabulary import Member

MOVE = "booking.move"
OUTCOMES = (AppointmentStatus.attended, AppointmentStatus.no_show,
            AppointmentStatus.centre_cancelled)


async def noshows(s: AsyncSession, policy: Policy, student_id: int, now: datetime) -> int:
    """The student's no-shows within the policy's window."""
    since = now - timedelta(days=policy.booking.noshow_window_days)
    return int((await s.exec(select(func.count()).select_from(Appointment).where(
        Appointment.student_id == student_id, Appointment.status == AppointmentStatus.no_show,
        Appointment.start_at >= since))).one())


@dataclass(frozen=True)
class Marked:
    """What marking did: ``code`` is the outcome recorded, or already / not_started."""

    code: str
    noshows: int = 0  # the student's recent no-shows, counted after a no-show
    flagged: bool = False  # enough of them that the centre lead was told
    follow_up: int | None = None  # the escalation opened for a key/crisis-tier student


async def mark(s: AsyncSession, policy: Policy, appt: Appointment, outcome: AppointmentStatus,
               by: Member, now: datetime, note: str | None = None) -> Marked:
    """Record attended / no-show / centre-cancelled with an optional private note.

    Attended and no-show need the start to have passed.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"not an outcome: {outcome}")
    if appt.status not in (BOOKED, AppointmentStatus.started):
        return Marked("already")
    if outcome is not AppointmentStatus.centre_cancelled and now < appt.start_at:
        return Marked("not_started")
    await free_and_notify(s, policy, appt, outcome, now)
    appt.marked_by = by.id
    if note:
        appt.note = note[:2000]
    await audit.record(s, at=now, action="booking.mark", actor_person_id=by.id,
                       subject_person_id=appt.student_id, appointment=appt.id,
                       outcome=outcome.value)
    if outcome is AppointmentStatus.no_show:
        await push_to_people(s, [appt.student_id], key=f"booking:noshow:{appt.id}", now=now,
                             reply=words().noshow_push(appt.start_at))
        alerted = await alert_high_risk_noshow(s, policy, appt, now)
        count = await noshows(s, policy, appt.student_id, now)
        flagged = count >= policy.booking.noshow_threshold
        if flagged:
            student = await s.get(Person, appt.student_id)
            leads = await level_recipients(s, ["centre_lead"], None, None)
            await push_to_people(s, leads, key=f"booking:noshows:{appt.student_id}:{count}",
                                 now=now, reply=words().repeated_noshows_push(
                                     student.name if student else None,
                                     policy.booking.noshow_window_days, count))
        return Marked(outcome.value, count, flagged, alerted.id if alerted else None)
    if outcome is AppointmentStatus.centre_cancelled:
        await push_to_people(s, [appt.student_id], key=f"booking:centre:{appt.id}", now=now,
                             reply=words().centre_cancelled_push(appt.start_at))
    return Marked(outcome.value)


async def read_note(s: AsyncSession, appt: Appointment, reader: Actor, now: datetime
                    ) -> str | None:
    """The private note, for its counsellor and the centre lead; every attempt is audited."""
    allowed = await authorize(s, reader, Kind.appointment_note, Action.read,
                              await appointment_target(s, appt), now=now,
                              audit_as="booking.note.read", appointment=appt.id)
    return appt.note if allowed else None


async def open_proposal(s: AsyncSession, student_id: int, now: datetime
                        ) -> tuple[ProposalView, AppointmentView] | None:
    """The open move proposal waiting for this student's answer, with its appointment."""
    found = await _open_proposal(s, student_id, now)
    if found is None:
        return None
    proposal, appt = found
    return proposal_view(proposal, await on_leave(s, appt)), appointment_view(appt)


async def _open_proposal(s: AsyncSession, student_id: int, now: datetime
                         ) -> tuple[MoveProposal, Appointment] | None:
    rows = await s.exec(select(MoveProposal, Appointment)
                        .join(Appointment, col(Appointment.id) == MoveProposal.appointment_id)
                        .where(Appointment.student_id == student_id, Appointment.status == BOOKED,
                               MoveProposal.status == ProposalStatus.open,
                               MoveProposal.expires_at > now)
                        .order_by(col(MoveProposal.id).desc()))
    found = rows.first()
    return (found[0], found[1]) if found else None


async def on_leave(s: AsyncSession, appt: Appointment | AppointmentView) -> bool:
    """Whether the counsellor is on leave over the appointment's time (whole day or hours)."""
    day = local(appt.start_at).date()
    rows = await s.exec(select(DutyException).where(
        DutyException.counsellor_id == appt.counsellor_id, DutyException.day == day,
        DutyException.kind == ExceptionKind.leave))
    for leave in rows:
        if leave.start is None or leave.end is None:
            return True
        a = datetime.combine(day, leave.start, SHANGHAI)
        b = datetime.combine(day, leave.end, SHANGHAI)
        if a < appt.end_at and appt.start_at < b:
            return True
    return False


async def propose_move(s: AsyncSession, policy: Policy, appt_id: int, by: Member,
                       starts: list[datetime], now: datetime) -> int | None:
    """Offer the student new times (the counsellor's own free slots): the proposal's id, or
    None when none were given or the appointment can no longer move."""
    appt = await s.get(Appointment, appt_id)
    if appt is None or appt.status != BOOKED or appt.start_at <= now or not starts:
        return None
    for old in await s.exec(select(MoveProposal).where(
            MoveProposal.appointment_id == appt.id, MoveProposal.status == ProposalStatus.open)):
        old.status, old.answered_at = ProposalStatus.void, now
        s.add(old)
    ordered = sorted(set(starts))
    expires = min(now + policy.booking.move_reply_within, appt.start_at, ordered[0])
    proposal = MoveProposal(appointment_id=appt.id or 0, proposed_by=by.id or 0,
                            options=[t.isoformat() for t in ordered], created_at=now,
                            expires_at=expires)
    s.add(proposal)
    await s.flush()
    await schedule(s, kind=MOVE, ref=str(proposal.id), due_at=expires, now=now)
    # The centre lead may propose for a colleague: the student hears their own counsellor.
    counsellor = await s.get(Person, appt.counsellor_id)
    who = counsellor.name if counsellor else by.name
    await push_to_people(s, [appt.student_id], key=f"booking:move:{proposal.id}", now=now,
                         reply=words().move_proposed_push(who, appt.start_at, ordered,
                                                          await on_leave(s, appt)))
    return proposal.id


async def _proposal(s: AsyncSession, proposal_id: int
                    ) -> tuple[MoveProposal, Appointment] | None:
    proposal = await s.get(MoveProposal, proposal_id)
    appt = await s.get(Appointment, proposal.appointment_id) if proposal is not None else None
    return (proposal, appt) if proposal is not None and appt is not None else None


async def accept_move(s: AsyncSession, policy: Policy, proposal_id: int, start: datetime,
                      now: datetime) -> Outcome:
    """The student takes one of the proposed times; the original is replaced only then."""
    found = await _proposal(s, proposal_id)
    if found is None:
        return Outcome(False, "gone")
    proposal, appt = found
    if (proposal.status != ProposalStatus.open or proposal.expires_at <= now
            or appt.status != BOOKED or start not in options(proposal)):
        return Outcome(False, "gone", appointment_view(appt))
    student = await s.get(Person, appt.student_id)
    assert student is not None
    outcome = await book(s, policy, student, appt.counsellor_id, start, now, reason=appt.reason,
                         mode=appt.mode, requested_at=appt.requested_at, replaces=appt)
    if outcome.ok and outcome.appointment is not None:
        proposal.status, proposal.answered_at = ProposalStatus.accepted, now
        proposal.new_appointment_id = outcome.appointment.id
        s.add(proposal)
    return outcome


def options(proposal: MoveProposal) -> list[datetime]:
    """The proposed start times, in order."""
    return [datetime.fromisoformat(t) for t in proposal.options]


async def decline_move(s: AsyncSession, proposal_id: int, now: datetime) -> None:
    """The student keeps the original time; the counsellor is told."""
    found = await _proposal(s, proposal_id)
    if found is None:
        return
    proposal, appt = found
    proposal.status, proposal.answered_at = ProposalStatus.declined, now
    s.add(proposal)
    await push_to_people(s, [proposal.proposed_by], key=f"booking:move:{proposal.id}:no",
                         now=now, reply=words().move_declined_push(appt.start_at))


async def cancel_for_leave(s: AsyncSession, policy: Policy, proposal_id: int,
                           now: datetime) -> None:
    """The student cancels an appointment that falls in the counsellor's leave (no cut-off:
    the time could not be kept anyway); the counsellor is told."""
    found = await _proposal(s, proposal_id)
    if found is None:
        return
    proposal, appt = found
    proposal.status, proposal.answered_at = ProposalStatus.declined, now
    s.add(proposal)
    await free_and_notify(s, policy, appt, AppointmentStatus.cancelled, now)
    await push_to_people(s, [proposal.proposed_by], key=f"booking:move:{proposal.id}:drop",
                         now=now, reply=words().cancelled_for_leave_push(appt.start_at))


async def on_move_expired(s: AsyncSession, timer: Timer) -> None:
    """Timer handler: an unanswered proposal lapses; the original stands, both are told."""
    proposal = await s.get(MoveProposal, int(timer.ref))
    if proposal is None or proposal.status != ProposalStatus.open:
        return
    proposal.status, proposal.answered_at = ProposalStatus.expired, timer.due_at
    s.add(proposal)
    appt = await s.get(Appointment, proposal.appointment_id)
    if appt is None or appt.status != BOOKED:
        return
    await push_to_people(s, [proposal.proposed_by], key=f"booking:move:{proposal.id}:expired",
                         now=timer.due_at,
                         reply=words().move_expired_push(appt.start_at, await on_leave(s, appt)))
