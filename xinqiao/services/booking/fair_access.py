"""Fair access (issue 20): crisis-kept sessions and a prompt session after a positive screen.

Crisis-kept sessions (``crisis_slots_per_day``, see :func:`slots.crisis_held`) are booked only
here: by a crisis referral to a colleague or by centre staff booking for a student. A positive
screen gets the earliest ordinary session within ``positive_offer_working_days`` working days,
held for the student as a waitlist offer; when there is none the student is placed on the
waitlist and the centre staff on duty are told, once per screening result, through the outbox.
Either way the entry is marked as the centre's doing (``WaitOrigin.screen``), so the student is
told what was arranged rather than shown a queue they never joined. Kept sessions nobody took
are offered to the waitlist when they open (:func:`offer_released`, a daily job).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.policy import Policy
from xinqiao.services import audit
from xinqiao.services.booking import appointments as booking
from xinqiao.services.booking import waitlist
from xinqiao.services.booking.slots import Slot, SlotFilter, free_slots
from xinqiao.services.booking.wording import words
from xinqiao.services.recipients import push_to_people
from xinqiao.services.rota import on_duty
from xinqiao.services.timers import schedule
from xinqiao.storage.booking import WaitOrigin, WaitStatus
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.vocabulary import Rostered


async def student_by_number(s: AsyncSession, number: str) -> Person | None:
    """The active student with this student number."""
    return (await s.exec(select(Person).join(
        RoleAssignment, col(RoleAssignment.person_id) == Person.id).where(
        Person.external_id == number.strip(), col(Person.active).is_(True),
        RoleAssignment.role == Role.student.value))).first()


async def staff_slots(s: AsyncSession, policy: Policy, student_id: int, now: datetime
                      ) -> list[tuple[Slot, bool]]:
    """Sessions staff may book for the student, each with whether it is crisis-kept."""
    ordinary = {x.key for x in await free_slots(s, policy, now, for_student=student_id)}
    return [(x, x.key not in ordinary)
            for x in await free_slots(s, policy, now, for_student=student_id, crisis=True)]


async def book_for_student(s: AsyncSession, policy: Policy, by: Rostered, student: Rostered,
                           now: datetime, *, counsellor_id: int | None = None,
                           start: datetime | None = None, why: str = "staff"
                           ) -> booking.Outcome:
    """Book the picked session (else the earliest), crisis-kept ones included; tell the student."""
    assert by.id is not None and student.id is not None
    found = [x for x in await free_slots(s, policy, now, SlotFilter(counsellor_id=counsellor_id),
                                         for_student=student.id, crisis=True)
             if start is None or x.start == start]
    if not found:
        return booking.Outcome(False, "gone")
    slot = found[0]
    outcome = await booking.book(s, policy, student, slot.counsellor_id, slot.start, now,
                                 crisis=True)
    if outcome.ok and outcome.appointment is not None:
        appt = outcome.appointment
        await push_to_people(s, [student.id], key=f"booking:for_you:{appt.id}", now=now,
                             reply=words().booked_for_student_push(by.name, appt.start_at,
                                                                   appt.place))
        await audit.record(s, at=now, action="booking.for_student", actor_person_id=by.id,
                           subject_person_id=student.id, appointment=appt.id, why=why)
    return outcome


async def offer_released(s: AsyncSession, policy: Policy, day: date, now: datetime) -> int:
    """The next day's kept sessions nobody took open at ``day``'s release time: the waitlist
    is offered them (the daily job); returns how many were offered."""
    rules = policy.booking
    if rules.crisis_slots_per_day == 0:
        return 0
    release = datetime.combine(day, rules.crisis_release_day_before_at, SHANGHAI)
    flt = SlotFilter(day=day + timedelta(days=1))
    kept_before = {x.key for x in await free_slots(s, policy, release - timedelta(minutes=1),
                                                    flt)}
    offered = 0
    for slot in await free_slots(s, policy, max(now, release), flt):
        if slot.key not in kept_before and await waitlist.offer_freed(
                s, policy, slot.counsellor_id, slot.start, now) is not None:
            offered += 1
    return offered


def window_end(policy: Policy, now: datetime) -> datetime:
    """The end of the ``positive_offer_working_days``-th working day after today."""
    calendar, day, counted = policy.calendar(), local(now).date(), 0
    while counted < policy.booking.positive_offer_working_days:
        day += timedelta(days=1)
        counted += calendar.is_workday(day)
    return datetime.combine(day + timedelta(days=1), time(0), SHANGHAI)


@dataclass(frozen=True)
class PositiveOffer:
    """What a positive screen arranged: the session held for the student (or the one they
    already have), else whether the centre has just placed them on the waitlist."""

    held: datetime | None
    placed: bool = False


async def offer_after_positive(s: AsyncSession, policy: Policy, student: Rostered,
                               result_id: int, now: datetime, *, tell_centre: bool = True
                               ) -> PositiveOffer:
    """Hold the earliest session within the window for the student, else place them on the
    waitlist (the centre's doing, so they are told so).

    A student who already has an appointment or an offer is left as they are (their time);
    one already waiting on their own is left waiting (not ``placed``). With nothing in the
    window the centre staff on duty are pushed, once per result, unless ``tell_centre`` is
    off (the screen already reached them, e.g. item 9's outreach).
    """
    assert student.id is not None
    mine = await booking.upcoming(s, student.id, now)
    if mine is not None:
        return PositiveOffer(mine.start_at)
    entry = await waitlist.entry_of(s, student.id, now)
    if entry is not None and entry.status == WaitStatus.offered and entry.offered_start:
        return PositiveOffer(entry.offered_start)
    end = window_end(policy, now)
    slot = next((x for x in await free_slots(s, policy, now, for_student=student.id)
                 if x.start < end), None)
    if entry is None:
        entry = await waitlist.join(s, policy, student.id, SlotFilter(), now,
                                    origin=WaitOrigin.screen)
    if slot is None:
        if tell_centre:
            await _tell_centre(s, student, result_id, end, now)
        return PositiveOffer(None, placed=entry.origin == WaitOrigin.screen)
    # A day to answer (a screen is often done late at night), never past the booking notice.
    hold_until = min(now + timedelta(days=1), slot.start - policy.booking.min_notice)
    entry.status, entry.token = WaitStatus.offered, entry.token + 1
    entry.offered_counsellor_id, entry.offered_start = slot.counsellor_id, slot.start
    entry.offer_expires_at = hold_until
    s.add(entry)
    await s.flush()
    await schedule(s, kind=waitlist.OFFER, ref=str(entry.id), due_at=hold_until, now=now,
                   token=entry.token)
    return PositiveOffer(slot.start)  # the screening's own reply tells the student; no push


async def _tell_centre(s: AsyncSession, student: Rostered, result_id: int, end: datetime,
                       now: datetime) -> None:
    last = (end - timedelta(days=1)).date()
    await push_to_people(s, await on_duty(s, now), key=f"booking:positive_unplaced:{result_id}",
                         now=now, reply=words().positive_unplaced_push(student.external_id, last))
    await audit.record(s, at=now, action="booking.positive_unplaced", actor_person_id=None,
                       subject_person_id=student.id, result=result_id)

