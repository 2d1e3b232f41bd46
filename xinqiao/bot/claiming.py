"""The outbox queries of the notifier: which rows may be claimed, and giving claims back."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import OutboxMessage, OutboxStatus


async def claimable(
    s: AsyncSession, channels: list[str], limit: int, now: datetime, probe: bool = False,
    address: str | None = None,
) -> list[OutboxMessage]:
    """Rows on ``channels`` (to ``address`` only, if given) that may be claimed now, most urgent
    first (locked on PostgreSQL, skipping rows another process holds); a probe also takes rows
    still backing off."""
    earlier = aliased(OutboxMessage)
    # A reply waits until every earlier reply to the same chat is sent (or given up):
    # retries, rate limits and batch limits can then never reorder a conversation.
    blocked = exists().where(
        col(earlier.channel) == col(OutboxMessage.channel),
        col(earlier.address) == col(OutboxMessage.address),
        col(earlier.kind) == "reply",
        col(earlier.status) == OutboxStatus.pending,
        col(earlier.id) < col(OutboxMessage.id),
    )
    due = col(OutboxMessage.next_attempt_at) <= now
    if probe:
        due = or_(due, col(OutboxMessage.attempts) > 0)
    stmt = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.pending,
            due,
            or_(
                col(OutboxMessage.claimed_until).is_(None),
                col(OutboxMessage.claimed_until) < now,
            ),
            col(OutboxMessage.channel).in_(channels),
            *(() if address is None else (col(OutboxMessage.address) == address,)),
            or_(col(OutboxMessage.kind) != "reply", ~blocked),
        )
        .order_by(
            col(OutboxMessage.priority),
            *(() if probe else (col(OutboxMessage.next_attempt_at),)),
            col(OutboxMessage.id),
        )
        .limit(limit)
    )
    if dialect_name(s) == "postgresql":
        stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
    return list(await s.exec(stmt))


async def release(db: Database, ids: list[int]) -> None:
    """Give claimed rows back untouched: they are claimable again at once."""
    if not ids:
        return
    async with db.session() as s:
        await s.exec(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(ids),
                   col(OutboxMessage.status) == OutboxStatus.pending)
            .values(claimed_until=None)
        )
