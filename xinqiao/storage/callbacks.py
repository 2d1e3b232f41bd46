"""Callback replay memory: every (timestamp, nonce) a webhook accepted, for its freshness window.

Kept in the database so that every worker of ``serve --workers N`` sees the same pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, String, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.types import utc_column


class CallbackNonce(SQLModel, table=True):
    """One accepted (timestamp, nonce) and a digest of the message it carried."""

    __tablename__ = "callback_nonce"
    __table_args__ = (Index("ix_callback_nonce_expires_at", "expires_at"),)
    channel: str = Field(sa_column=Column(String(16), primary_key=True))
    timestamp: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    nonce: str = Field(sa_column=Column(String(64), primary_key=True))
    digest: str = Field(sa_column=Column(String(64), nullable=False))
    expires_at: datetime = utc_column()


@dataclass(frozen=True)
class Nonce:
    """A callback's (timestamp, nonce) to remember, with the digest of its message."""

    channel: str
    timestamp: int
    nonce: str
    digest: str
    expires_at: datetime


async def remember(
    s: AsyncSession, *, channel: str, timestamp: int, nonce: str, digest: str,
    expires_at: datetime,
) -> bool:
    """Record the pair in the caller's transaction; False when it was used before for a
    different message (a replay).

    The caller stores the callback's inbox row in the same (urgent) transaction: one commit
    for both, and a replay refused leaves neither.
    """
    insert = postgresql.insert if dialect_name(s) == "postgresql" else sqlite.insert
    stmt = (
        insert(CallbackNonce)
        .values(channel=channel, timestamp=timestamp, nonce=nonce, digest=digest,
                expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=["channel", "timestamp", "nonce"])
        .returning(col(CallbackNonce.nonce))
    )
    if (await s.exec(stmt)).scalar_one_or_none() is not None:
        return True
    seen = (await s.exec(select(CallbackNonce.digest).where(
        CallbackNonce.channel == channel, CallbackNonce.timestamp == timestamp,
        CallbackNonce.nonce == nonce))).first()
    # The identical message again under the same pair is the platform's retry, not a replay.
    return seen is None or seen == digest


async def forget_expired(db: Database, now: datetime) -> int:
    """Delete pairs whose window has passed (their timestamps are refused as stale anyway).

    Housekeeping for a background loop, off the callbacks' path: nobody waits on it.
    """
    async with db.session() as s:
        result = await s.exec(delete(CallbackNonce).where(col(CallbackNonce.expires_at) < now))
        return int(getattr(result, "rowcount", 0) or 0)
