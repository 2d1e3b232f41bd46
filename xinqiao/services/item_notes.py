"""Notes on an item (待办): a recipient writes what they did or know, kept in its trail."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Kind, actor_for, authorize, escalation_target
from xinqiao.services.directory import role_set
from xinqiao.services.escalation.record import step
from xinqiao.storage.reports import Escalation
from xinqiao.vocabulary import Rostered

NOTE_LIMIT = 2000


class Noted(StrEnum):
    """What became of a note: kept, or why not (each channel words it)."""

    noted = "noted"
    not_found = "not_found"  # no such item, or not one this person may change
    empty = "empty"


async def add_note(s: AsyncSession, esc_id: int, person: Rostered, note: str,
                   now: datetime) -> Noted:
    """Add a note to an item its recipients may change (audited like 收到 and 已处理)."""
    text = note.strip()[:NOTE_LIMIT]
    esc = await s.get(Escalation, esc_id)
    target = await escalation_target(s, esc) if esc is not None else None
    actor = await actor_for(s, person, await role_set(s, person.id or 0))
    if not await authorize(s, actor, Kind.report, Action.change, target, now=now,
                           audit_as="escalation.note", escalation=esc_id) or esc is None:
        return Noted.not_found
    if not text:
        return Noted.empty
    await step(s, esc, "note", now, actor=person.id, note=text)
    return Noted.noted
