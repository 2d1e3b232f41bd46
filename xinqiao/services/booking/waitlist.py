"""The waitlist: when nothing is free, a student waits; the first slot freed is offered to them.

Offers go to crisis-tier students first, then key-tier, then everyone else; within a tier
first come, first served (by joining time) among entries whose filters the slot fits. An
offered slot is held for that student for ``waitlist_hold`` (other students do not see it);
if they do not take it, the entry goes back to waiting in its place and the slot is offered
to the next one.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.policy.policy import Policy
from xinqiao.services.booking.slots import SlotFilter, free_slots
from xinqiao.services.booking.views import WaitView, wait_view
from xinqiao.services.booking.wording import words
from xinqiao.services.recipients import push_to_people
from xinqiao.services.timers import schedule
from xinqiao.storage.booking import CounsellorProfile, WaitlistEntry, WaitOrigin, WaitStatus
from xinqiao.storage.models import Person, Tier
from xinqiao.storage.reports import Timer

OFFER = "booking.offer"
LIVE = (WaitStatus.waiting, WaitStatus.offered)


async def entry_of(s: AsyncSession, student_id: int, now: datetime) -> WaitlistEntry | None:
    """The student's live entry; one past its end lapses here."""
    entry = (await s.exec(select(WaitlistEntry).where(
        WaitlistEntry.student_id == student_id,
        col(WaitlistEntry.status).in_([w.value for w in LIVE])))).first()
    if entry is not None and entry.expires_at <= now:
        entry.status = WaitStatus.expired
        s.add(entry)
        await s.flush()
        return None
    return entry


async def place_of(s: AsyncSession, student_id: int, now: datetime) -> WaitView | None:
    """The student's live place on the waitlist, as their flow shows it."""
    entry = await entry_of(s, student_id, now)
    return wait_view(entry) if entry is not None else None


async def join_line(s: AsyncSession, policy: Policy, student_id: int, flt: SlotFilter,
                    now: datetime) -> WaitView:
    """Put the student on the waitlist (see :func:`join`); their place as the flow shows it."""
    return wait_view(await join(s, policy, student_id, flt, now))


async def join(s: AsyncSession, policy: Policy, student_id: int, flt: SlotFilter,
               now: datetime, *, origin: WaitOrigin = WaitOrigin.student) -> WaitlistEntry:
    """Put the student on the waitlist (or return the entry they already have, as it came)."""
    existing = await entry_of(s, student_id, now)
    if existing is not None:
        return existing
    entry = WaitlistEntry(student_id=student_id, gender=flt.gender, mode=flt.mode,
                          created_at=now, origin=origin,
                          expires_at=now + timedelta(days=policy.booking.waitlist_days))
    s.add(entry)
    await s.flush()
    return entry


async def leave(s: AsyncSession, student_id: int, now: datetime) -> bool:
    """Take the student off the waitlist; True if they were on it."""
    entry = await entry_of(s, student_id, now)
    if entry is None:
        return False
    entry.status, entry.token = WaitStatus.left, entry.token + 1
    s.add(entry)
    return True


async def mark_booked(s: AsyncSession, student_id: int, now: datetime) -> None:
    """The student has an appointment now: their entry is done."""
    entry = await entry_of(s, student_id, now)
    if entry is not None:
        entry.status, entry.token = WaitStatus.booked, entry.token + 1
        s.add(entry)


async def offer_freed(s: AsyncSession, policy: Policy, counsellor_id: int, start: datetime,
                      now: datetime, *, after_id: int = 0) -> WaitlistEntry | None:
    """Offer a just-freed slot to the first waiting student it suits; None if nobody."""
    slots = await free_slots(s, policy, now, SlotFilter(counsellor_id=counsellor_id))
    slot = next((x for x in slots if x.start == start), None)
    if slot is None:
        return None
    profile = await s.get(CounsellorProfile, counsellor_id)
    for entry in await _in_line(s, now, after_id):
        if entry.gender and (profile is None or profile.gender != entry.gender):
            continue
        if entry.mode and slot.mode not in (entry.mode, "both"):
            continue
        hold_until = min(now + policy.booking.waitlist_hold, start - policy.booking.min_notice)
        if hold_until <= now:
            return None
        entry.status, entry.token = WaitStatus.offered, entry.token + 1
        entry.offered_counsellor_id, entry.offered_start = counsellor_id, start
        entry.offer_expires_at = hold_until
        s.add(entry)
        await schedule(s, kind=OFFER, ref=str(entry.id), due_at=hold_until, now=now,
                       token=entry.token)
        await push_to_people(
            s, [entry.student_id], key=f"booking:offer:{entry.id}:{entry.token}", now=now,
            reply=words().offer_push(start, hold_until))
        return entry
    return None


_RANK = {Tier.crisis.value: 0, Tier.key.value: 1}


async def _in_line(s: AsyncSession, now: datetime, after_id: int) -> list[WaitlistEntry]:
    """Waiting entries in offer order; with ``after_id``, only those behind that entry."""
    rows = (await s.exec(select(WaitlistEntry, Person.tier)
                         .join(Person, col(Person.id) == WaitlistEntry.student_id)
                         .where(WaitlistEntry.status == WaitStatus.waiting,
                                WaitlistEntry.expires_at > now))).all()
    line = sorted(rows, key=lambda r: (_RANK.get(str(r[1]), 2), r[0].created_at, r[0].id or 0))
    order = [entry for entry, _ in line]
    behind = next((i for i, e in enumerate(order) if e.id == after_id), None)
    return order if behind is None else order[behind + 1:]


async def decline_offer(s: AsyncSession, policy: Policy, student_id: int,
                        now: datetime) -> None:
    """The student passes on the offer: back to waiting; the slot goes to the next in line."""
    entry = await entry_of(s, student_id, now)
    if entry is not None and entry.status == WaitStatus.offered:
        await _release(s, policy, entry, now)


async def on_offer_expired(s: AsyncSession, policy: Policy, timer: Timer) -> None:
    """Timer handler: an offer nobody took goes to the next student in line."""
    entry = await s.get(WaitlistEntry, int(timer.ref))
    if entry is None or entry.status != WaitStatus.offered or entry.token != timer.token:
        return
    start = entry.offered_start
    await _release(s, policy, entry, timer.due_at)
    if entry.origin == WaitOrigin.screen and start is not None:
        # They never asked to queue: say once that the centre keeps looking for them.
        await push_to_people(s, [entry.student_id], key=f"booking:placed:{entry.id}",
                             now=timer.due_at, reply=words().placed_push(start))


async def _release(s: AsyncSession, policy: Policy, entry: WaitlistEntry, now: datetime) -> None:
    counsellor_id, start = entry.offered_counsellor_id, entry.offered_start
    entry.status, entry.token = WaitStatus.waiting, entry.token + 1
    entry.offered_counsellor_id = entry.offered_start = entry.offer_expires_at = None
    s.add(entry)
    await s.flush()
    if counsellor_id is not None and start is not None and entry.id is not None:
        await offer_freed(s, policy, counsellor_id, start, now, after_id=entry.id)
