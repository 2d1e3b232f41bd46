"""The channel's send rate shared by every process: one token bucket per channel in the database.

WeChat limits the Official Account and Telegram the bot, whatever number of processes send for
them. Each process used to keep the whole rate for itself, so ``serve --workers 4`` could send
four times the configured rate. Now a send takes its token from the channel's ``send_budget``
row under a row lock (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE``
serialises the whole transaction), so all processes together keep to the rate and burst.
"""

from __future__ import annotations

import logging

from sqlalchemy.dialects import postgresql, sqlite

from xinqiao.bot.ratelimit import TokenBucket
from xinqiao.clock import Clock
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import SendBudget
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)
OUTAGE_WAIT = 1.0  # seconds a send is held while the database cannot be asked


class SharedBudget:
    """``rate`` sends per second on ``channel`` with bursts of ``burst``, across processes."""

    def __init__(self, db: Database, clock: Clock, channel: str, rate: float,
                 burst: float) -> None:
        if min(rate, burst) <= 0:
            raise ValueError("rate limits must be positive")
        self.db, self.clock, self.channel = db, clock, channel
        self.rate, self.burst = rate, burst
        self._outage = OutageLog(log, f"{channel} send budget")

    async def take(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens (0.0: go) or say how many seconds until there are enough
        (nothing taken). While the database is away sends are held, not made unmetered."""
        try:
            wait = await self._take(cost)
        except Exception as exc:
            if not self._outage.failure(exc):
                raise
            return OUTAGE_WAIT
        self._outage.success()
        return wait

    async def _take(self, cost: float) -> float:
        now = self.clock.now()
        async with self.db.session() as s:
            row = await s.get(SendBudget, self.channel, with_for_update=True)
            if row is None:  # first use: a full bucket, created once whoever races for it
                insert = postgresql.insert if dialect_name(s) == "postgresql" else sqlite.insert
                await s.exec(insert(SendBudget).values(
                    channel=self.channel, tokens=self.burst, updated_at=now,
                ).on_conflict_do_nothing(index_elements=["channel"]))
                row = await s.get(SendBudget, self.channel, with_for_update=True,
                                  populate_existing=True)
                assert row is not None
            bucket = TokenBucket(self.rate, self.burst, row.tokens, row.updated_at)
            wait = bucket.wait(now, cost)
            if wait > 0:  # the stored row still says the same: nothing to write
                return wait
            bucket.take(now, cost)
            row.tokens, row.updated_at = bucket.tokens, bucket.updated
            s.add(row)
        return 0.0
