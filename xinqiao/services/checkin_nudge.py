"""A missing check-in chased by hand: the committee member gets the scheduler's reminder again.

Only a class whose check-in for a week is missing has something to chase: the open
晴雨表未提交 item the scheduler opened at the due moment. The reminder is that item's own
committee reminder (the form's door, one tap 本周无异常), pushed again and marked on the item's
trail as ``nudged``; a class is chased this way once per week it is missing, so a second click
(or a colleague's) sends nothing.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.escalation.checkin_items import MISSING, committee_reminder, period_of
from xinqiao.services.escalation.record import step, tell
from xinqiao.services.network import Network
from xinqiao.services.recipients import level_recipients
from xinqiao.storage.reports import Escalation, EscalationStatus, EscalationStep

NUDGED = "nudged"


class Nudge(StrEnum):
    """What a click on 提醒 did."""

    sent = "sent"
    already = "already"  # this class was already chased for this week
    nothing = "nothing"  # no open missing check-in that week (sent meanwhile, or explained)
    nobody = "nobody"  # the class has no reachable committee member


async def open_missing(s: AsyncSession, klass_id: int, monday: date) -> list[Escalation]:
    """The class's open 晴雨表未提交 items for due dates in the week starting ``monday``."""
    rows = await s.exec(select(Escalation).where(
        Escalation.kind == MISSING, Escalation.klass_id == klass_id,
        col(Escalation.subject).like(f"checkin:{klass_id}:%"),
        Escalation.status != EscalationStatus.resolved))
    sunday = monday + timedelta(days=6)
    return sorted((e for e in rows if (p := period_of(e)) is not None and monday <= p <= sunday),
                  key=lambda e: (period_of(e), e.id))


async def nudge(s: AsyncSession, network: Network, klass_id: int, monday: date, *,
                person_id: int, now: datetime) -> Nudge:
    """Send the week's missing check-in reminder to the class's committee, once per week."""
    items = await open_missing(s, klass_id, monday)
    if not items:
        return Nudge.nothing
    chased = (await s.exec(select(EscalationStep.id).where(
        col(EscalationStep.escalation_id).in_([e.id for e in items]),
        EscalationStep.action == NUDGED))).first()
    if chased is not None:
        return Nudge.already
    esc = items[-1]  # the latest due date stands for the week
    period = period_of(esc)
    assert esc.id is not None and period is not None
    committee = await level_recipients(s, ["committee"], esc.college_id, esc.klass_id, at=now)
    reply = committee_reminder(esc, network.missing_title(period), again=True)
    # Keyed by week as well: two clicks racing past the check above still push once.
    reached = await tell(s, esc, committee, now, f"nudge:{monday.isoformat()}", reply,
                         alert=True)
    if not reached:
        return Nudge.nobody
    await step(s, esc, NUDGED, now, recipients=reached, actor=person_id)
    await audit.record(s, at=now, action="checkin.nudged", actor_person_id=person_id,
                       escalation=esc.id, klass=klass_id, week=monday.isoformat())
    return Nudge.sent
