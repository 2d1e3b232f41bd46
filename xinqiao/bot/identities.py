"""The sender's channel identity row, found or created and locked for the transaction."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.db import dialect_name
from xinqiao.storage.models import ChannelIdentity


async def lock_identity(
    session: AsyncSession, channel: str, address: str, now: Any
) -> ChannelIdentity:
    """Get or create the identity row, locked for this transaction on PostgreSQL.

    The row lock serialises one person's messages across processes; on SQLite every write
    transaction is already serialised by BEGIN IMMEDIATE.
    """
    query = select(ChannelIdentity).where(
        ChannelIdentity.channel == channel, ChannelIdentity.address == address
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    identity = (await session.exec(query)).first()
    if identity is None:
        identity = ChannelIdentity(channel=channel, address=address, created_at=now)
        session.add(identity)
        await session.flush()
    return identity
