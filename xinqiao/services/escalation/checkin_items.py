"""A missing check-in as an item: only a check-in closes it (or staff above, with a reason).

The committee member being chased cannot acknowledge or resolve the 晴雨表未提交 item: their
reminder offers the form itself (one tap 本周无异常). The class advisor or the college may close
it with a reason, audited. Whoever was alerted hears when the item closes.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.escalation.outcome import Handled, ItemOutcome
from xinqiao.services.escalation.record import all_recipients, item_title, tell

# MISSING and period_of live with the push facts (text.py); callers keep naming them here.
from xinqiao.services.escalation.text import MISSING as MISSING
from xinqiao.services.escalation.text import alerting
from xinqiao.services.escalation.text import period_of as period_of
from xinqiao.services.escalation.wording import words
from xinqiao.services.pushed import Pushed
from xinqiao.services.refs import item_ref
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Escalation, EscalationRecipient
from xinqiao.vocabulary import Rostered


def _committee_level(esc: Escalation, level: int) -> bool:
    return level < len(esc.chain) and list(esc.chain[level]["notify"]) == ["committee"]


async def committee_only(s: AsyncSession, esc: Escalation, person_id: int) -> bool:
    """True when this person received the item only as the class's committee member."""
    levels = (await s.exec(select(EscalationRecipient.level).where(
        EscalationRecipient.escalation_id == esc.id,
        EscalationRecipient.person_id == person_id))).all()
    return bool(levels) and all(_committee_level(esc, lv) for lv in levels)


async def refuse(s: AsyncSession, esc: Escalation, person: Rostered, note: str | None,
                 now: datetime, action: str) -> ItemOutcome | None:
    """Why this person may not acknowledge or close a missing check-in now, or None."""
    if esc.kind != MISSING:
        return None
    assert esc.id is not None and person.id is not None
    if await committee_only(s, esc, person.id):
        await audit.record(s, at=now, action=action, actor_person_id=person.id, allowed=False,
                           escalation=esc.id, reason="a missing check-in closes by a check-in")
        return ItemOutcome(Handled.checkin_closes_itself, item_ref(esc.id))
    if action == "escalation.resolve" and not (note or "").strip():
        return ItemOutcome(Handled.reason_required, item_ref(esc.id))
    return None


def committee_reminder(esc: Escalation, title: str, again: bool) -> Pushed:
    """The committee member's reminder: the form itself, with one tap for 本周无异常."""
    return words().committee_reminder(alerting(esc, title), period_of(esc), again)


async def announce_closed(s: AsyncSession, esc: Escalation, now: datetime,
                          actor: int | None, reason: str | None) -> None:
    """Tell everyone the item reached (but the closer) that it is closed, and how."""
    assert esc.id is not None
    title = await item_title(s, esc)
    if reason is None:
        told = words().checkin_late(item_ref(esc.id), title, period_of(esc), now)
    else:
        person = await s.get(Person, actor) if actor is not None else None
        told = words().checkin_excused(item_ref(esc.id), title, period_of(esc),
                                       person.name if person is not None else None)
    others = [p for p in await all_recipients(s, esc) if p != actor]
    await tell(s, esc, others, now, f"closed:{esc.token}", told)
