"""Persist, then answer: the inbox row every inbound gets before anything else happens.

Processing the stored rows is :mod:`xinqiao.bot.inbox_processor`; the entry point every
channel uses is :mod:`xinqiao.bot.feed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.messages import Inbound, Reply
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import InboxMessage, InboxStatus


@dataclass(frozen=True)
class Receipt:
    """The outcome of storing an inbound: its row id, or that it was a duplicate."""

    row_id: int | None
    duplicate: bool
    replies: list[Reply] | None = None  # answered already, in the storing transaction


async def store(
    db: Database,
    *,
    channel: str,
    dedupe_key: str,
    address: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    status: InboxStatus = InboxStatus.pending,
    urgent: bool = True,
) -> Receipt:
    """Insert the inbound under its unique dedupe key; a duplicate inserts nothing.

    ``urgent``: a platform waits on the answer, so fail fast (503) rather than queue.
    """
    async with (db.urgent_session() if urgent else db.session()) as s:
        return await store_in(s, channel=channel, dedupe_key=dedupe_key, address=address,
                              kind=kind, payload=payload, now=now, status=status)


async def store_in(
    s: AsyncSession,
    *,
    channel: str,
    dedupe_key: str,
    address: str,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
    status: InboxStatus = InboxStatus.pending,
) -> Receipt:
    """:func:`store` in the caller's transaction (with its replay check, say): stored once
    that transaction commits."""
    values = {
        "channel": channel,
        "dedupe_key": valid_json(dedupe_key)[:255],
        "address": valid_json(address),
        "kind": kind,
        # All of it, the raw original included: one unencodable string would fail every try.
        "payload": valid_json(payload),
        "status": status.value,
        "attempts": 0,
        "received_at": now,
        "replied_passively": False,
    }
    insert = postgresql.insert if dialect_name(s) == "postgresql" else sqlite.insert
    stmt = (
        insert(InboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["channel", "dedupe_key"])
        .returning(col(InboxMessage.id))
    )
    row_id = (await s.exec(stmt)).scalar_one_or_none()
    return Receipt(row_id=row_id, duplicate=row_id is None)


def _valid_unicode(text: str | None) -> str | None:
    """``text`` with lone surrogates (no character; UTF-8 cannot store them) and NUL (which
    PostgreSQL text cannot hold) replaced by U+FFFD, and split surrogate pairs joined.

    They reach us from a terminal with undecodable bytes or from JSON that escapes half a pair
    or a \\u0000; stored as they are, they would make every write of the message fail.
    """
    if text is None:
        return None
    text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def valid_json(value: Any) -> Any:
    """``value`` (JSON-like) with every string, keys included, made storable."""
    if isinstance(value, str):
        return _valid_unicode(value)
    if isinstance(value, Mapping):
        return {valid_json(k): valid_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [valid_json(v) for v in value]
    return value


def inbound_payload(inbound: Inbound, raw: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What the inbox keeps of a message: the channel-neutral part and the raw original."""
    return {
        "inbound": {
            "text": _valid_unicode(inbound.text),
            "choice": _valid_unicode(inbound.choice),
            "event": inbound.event,
            "extra": inbound.extra,
        },
        "raw": dict(raw or {}),
    }


def inbound_of(row: InboxMessage) -> Inbound:
    """The channel-neutral message a stored row holds."""
    data = row.payload.get("inbound", {})
    return Inbound(
        channel=row.channel,
        address=row.address,
        text=str(data.get("text") or ""),
        choice=data.get("choice"),
        event=data.get("event"),
        received_at=row.received_at,
        extra=dict(data.get("extra") or {}),
    )
