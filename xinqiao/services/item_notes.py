"""Notes on an item (待办): a recipient writes what they did or know, kept in its trail."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Kind, actor_for, authorize, escalation_target
from xinqiao.services.directory import role_set
from xinqiao.services.escalation.record import step
from xinqiao.services.refs import item_ref
from xinqiao.storage.reports import Escalation
from xinqiao.vocabulary import Rostered

NOTE_LIMIT = 2000


async def add_note(s: AsyncSession, esc_id: int, person: Rostered, note: str,
                   now: datetime) -> tuple[bool, str]:
    """Add a note to an item its recipients may change (audited like 收到 and 已处理)."""
    text = note.strip()[:NOTE_LIMIT]
    esc = await s.get(Escalation, esc_id)
    target = await escalation_target(s, esc) if esc is not None else None
    actor = await actor_for(s, person, await role_set(s, person.id or 0))
    if not await authorize(s, actor, Kind.report, Action.change, target, now=now,
                           audit_as="escalation.note", escalation=esc_id) or esc is None:
        return False, f"没有找到你可以处理的 {item_ref(esc_id)}。"
    if not text:
        return False, "备注不能为空。"
    await step(s, esc, "note", now, actor=person.id, note=text)
    return True, f"已为 {item_ref(esc_id)} 添加备注。"
