"""Enqueue pushes: every alert, reminder and late reply is an outbox row before it is sent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.pushed import Pushed
from xinqiao.storage.db import dialect_name
from xinqiao.storage.models import OutboxMessage, OutboxStatus


class Priority(IntEnum):
    """Lower goes first when the outbox is backed up."""

    crisis = 0
    alert = 10
    reply = 20
    reminder = 50
    bulk = 90


@dataclass(frozen=True)
class Push:
    """One push for ``enqueue_many``."""

    key: str
    channel: str
    address: str
    kind: str
    payload: dict[str, Any]
    person_id: int | None = None
    priority: int = Priority.reply
    at: datetime | None = None  # queued at (``now`` of enqueue_many when not given)


async def enqueue_many(session: AsyncSession, pushes: list[Push], *, now: datetime) -> None:
    """Insert many pushes in one statement per batch; existing idempotency keys are skipped."""
    if not pushes:
        return
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    stmt = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["idempotency_key"])
    values = [_values(p.key, p.channel, p.address, p.kind, p.payload, p.at or now, p.person_id,
                      p.priority, None) for p in pushes]
    conn = await session.connection()  # executemany: SQLAlchemy batches it as multi-row VALUES
    await conn.execute(stmt, values)


def _values(key: str, channel: str, address: str, kind: str, payload: dict[str, Any],
            now: datetime, person_id: int | None, priority: int,
            fallback_of: int | None) -> dict[str, Any]:
    return {
        "idempotency_key": key,
        "person_id": person_id,
        "channel": channel,
        "address": address,
        "kind": kind,
        "priority": int(priority),
        "payload": payload,
        "status": OutboxStatus.pending.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "fallback_of": fallback_of,
    }


async def enqueue(
    session: AsyncSession,
    *,
    key: str,
    channel: str,
    address: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    person_id: int | None = None,
    priority: int = Priority.reply,
    fallback_of: int | None = None,
) -> OutboxMessage:
    """Insert a push unless one with the same idempotency ``key`` exists; return the row."""
    values = _values(key, channel, address, kind, payload, now, person_id, priority, fallback_of)
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    stmt = insert(OutboxMessage).values(**values).on_conflict_do_nothing(
        index_elements=["idempotency_key"]
    )
    await session.exec(stmt)
    row = (
        await session.exec(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
    ).one()
    return row


async def enqueue_replies(
    session: AsyncSession,
    *,
    key_prefix: str,
    channel: str,
    address: str,
    replies: Sequence[Pushed],
    now: datetime,
    person_id: int | None = None,
    priority: int = Priority.reply,
    turn: int | None = None,
) -> None:
    """Queue conversation replies that could not be given in the channel's reply window.

    ``turn`` is the conversation turn they answer; channels with buttons carry it back so that
    a tap on an old message can be told from a tap on the current one.
    """
    for i, reply in enumerate(replies):
        payload: dict[str, Any] = {"reply": reply.to_json()}
        if turn is not None:
            payload["turn"] = turn
        await enqueue(
            session,
            key=f"{key_prefix}:{i}",
            channel=channel,
            address=address,
            kind="reply",
            payload=payload,
            now=now,
            person_id=person_id,
            priority=priority,
        )
