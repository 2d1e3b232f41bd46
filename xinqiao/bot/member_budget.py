"""Per-member send limits as sliding counts in the database, shared by every process.

WeCom takes at most 30 app messages a minute and 1,000 an hour for one member and drops the
rest without an error, so a push beyond the limit would be lost while the outbox thinks it
went out. Each send is stamped in ``member_send`` before the call; a send that would make a
window hold more than its count is not made, and the caller is told when the oldest stamp in
that window ages out. The stamps of one member are counted and written under a lock (an
advisory lock on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises every transaction), so
two workers cannot both take the last place.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from sqlalchemy import delete, text
from sqlmodel import col, select

from xinqiao.clock import Clock
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import MemberSend
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)
OUTAGE_WAIT = 1.0  # seconds a send is held while the database cannot be asked


def _lock_key(channel: str, address: str) -> int:
    digest = hashlib.sha256(f"member_send:{channel}:{address}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class MemberBudget:
    """At most ``count`` sends in any ``seconds`` to one address, for each (count, seconds)."""

    def __init__(self, db: Database, clock: Clock, channel: str,
                 limits: tuple[tuple[int, float], ...]) -> None:
        if not limits or any(c < 1 or s <= 0 for c, s in limits):
            raise ValueError("member limits must be positive")
        self.db, self.clock, self.channel = db, clock, channel
        self.limits = limits
        self.keep = timedelta(seconds=max(s for _, s in limits))
        self._outage = OutageLog(log, f"{channel} member budget")

    async def take(self, address: str) -> float:
        """Stamp one send to ``address`` (0.0: go) or say how many seconds until a place
        frees (nothing stamped). While the database is away sends are held."""
        try:
            wait = await self._take(address)
        except Exception as exc:
            if not self._outage.failure(exc):
                raise
            return OUTAGE_WAIT
        self._outage.success()
        return wait

    async def _take(self, address: str) -> float:
        now = self.clock.now()
        mine = (col(MemberSend.channel) == self.channel, col(MemberSend.address) == address)
        async with self.db.session() as s:
            if dialect_name(s) == "postgresql":
                await s.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(  # type: ignore[call-overload]
                    k=_lock_key(self.channel, address)))
            wait = 0.0
            for count, seconds in self.limits:
                window = timedelta(seconds=seconds)
                # The count-th newest stamp inside the window: if there is one, the window is
                # full until it ages out.
                oldest = (await s.exec(
                    select(MemberSend.at).where(*mine, col(MemberSend.at) > now - window)
                    .order_by(col(MemberSend.at).desc()).offset(count - 1).limit(1))).first()
                if oldest is not None:
                    wait = max(wait, (oldest + window - now).total_seconds())
            if wait > 0:
                return wait
            await s.exec(delete(MemberSend).where(*mine, col(MemberSend.at) <= now - self.keep))
            s.add(MemberSend(channel=self.channel, address=address, at=now))
        return 0.0
