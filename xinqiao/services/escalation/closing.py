"""Telling whoever acknowledged an item that someone else closed it, so they stop following up.

The acknowledger was sent the item and may read it, closing note included (the console's item
page shows its whole trail), so the push may carry the start of that note. Whether they still
may is checked as they are told, and the note shown is audited as a read of the item, as the
item page's read would be. Nobody else reached hears of the close (a missing check-in has its
own announcement, to everyone: ``checkin_items.announce_closed``).
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Kind, actor_for, authorize, escalation_target, may
from xinqiao.services.directory import role_set
from xinqiao.services.escalation.record import item_title, tell
from xinqiao.services.escalation.wording import words
from xinqiao.services.refs import item_ref
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Escalation

NOTE_EXCERPT = 60  # characters of the closing note a push shows; the rest stays on the item


def excerpt(note: str | None, limit: int = NOTE_EXCERPT) -> str | None:
    """The start of a closing note on one line, cut with … (None: no note)."""
    text = " ".join((note or "").split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def tell_acknowledger(s: AsyncSession, esc: Escalation, acker_id: int, closer: str,
                            note: str | None, now: datetime) -> None:
    """Tell the item's acknowledger that ``closer`` closed it, if they may still read it."""
    assert esc.id is not None
    acker = await s.get(Person, acker_id)
    if acker is None or not acker.active:
        return
    actor = await actor_for(s, acker, await role_set(s, acker_id))
    target = await escalation_target(s, esc)
    if not may(actor, Kind.report, Action.read, target):  # no longer in the item's chain
        return
    # The note is part of the item: showing it is a read of the item, audited as one.
    await authorize(s, actor, Kind.report, Action.read, target, now=now, escalation=esc.id,
                    via="push")
    told = words().closed_by_other(item_ref(esc.id), await item_title(s, esc), closer,
                                   excerpt(note))
    await tell(s, esc, [acker_id], now, f"resolved:{esc.token}", told)
