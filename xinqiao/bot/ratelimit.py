"""Send-rate limits as token buckets on the injected clock: one per chat and one for the channel.

A sender asks :meth:`RateLimiter.acquire` before each platform call. The answer is 0 (go: the
tokens are taken) or how many seconds to wait (nothing is taken); the sender then reports the
row as *held*, and the notifier leaves it pending, due again after that wait, without spending
one of its attempts. A platform's own "slow down" (Telegram's 429 ``retry_after``) blocks the
chat's bucket, or the whole channel's, until the time it named.

The channel's bucket can live in the database (:class:`~xinqiao.bot.send_budget.SharedBudget`),
shared by every process sending on the account, so ``serve --workers N`` keeps to one rate;
the per-chat buckets stay per process.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from xinqiao.clock import Clock


@dataclass
class TokenBucket:
    """``rate`` tokens per second, holding at most ``burst``; starts full."""

    rate: float
    burst: float
    tokens: float
    updated: datetime
    blocked_until: datetime | None = None

    def _refill(self, now: datetime) -> None:
        elapsed = max(0.0, (now - self.updated).total_seconds())
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)

    def wait(self, now: datetime, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are available (0 if they are now)."""
        if self.blocked_until is not None and self.blocked_until > now:
            return (self.blocked_until - now).total_seconds()
        self._refill(now)
        missing = min(cost, self.burst) - self.tokens
        return 0.0 if missing <= 1e-9 else missing / self.rate

    def take(self, now: datetime, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens (call only after :meth:`wait` returned 0)."""
        self._refill(now)
        self.tokens -= cost


class ChannelBudget(Protocol):
    """A channel's bucket kept outside this process."""

    async def take(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens (0.0) or say how many seconds to wait (nothing taken)."""
        ...


class RateLimiter:
    """A global bucket plus one bucket per key (chat); the least recently used keys expire."""

    def __init__(
        self,
        clock: Clock,
        *,
        per_key_rate: float,
        per_key_burst: float,
        global_rate: float,
        global_burst: float,
        max_keys: int = 10_000,
        shared: ChannelBudget | None = None,
    ) -> None:
        if min(per_key_rate, per_key_burst, global_rate, global_burst) <= 0:
            raise ValueError("rate limits must be positive")
        self.clock = clock
        self.per_key = (per_key_rate, per_key_burst)
        self.max_keys = max_keys
        self.shared = shared  # the channel's bucket, when processes share it (else ``all``)
        self.all = TokenBucket(global_rate, global_burst, global_burst, clock.now())
        self._keys: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, key: str) -> TokenBucket:
        bucket = self._keys.get(key)
        if bucket is None:
            rate, burst = self.per_key
            bucket = TokenBucket(rate, burst, burst, self.clock.now())
            self._keys[key] = bucket
            while len(self._keys) > self.max_keys:  # a forgotten key starts full: safe
                self._keys.popitem(last=False)
        self._keys.move_to_end(key)
        return bucket

    async def acquire(self, key: str, cost: float = 1.0) -> tuple[float, bool]:
        """Take ``cost`` tokens for ``key`` and the channel, or say how long to wait.

        Returns (seconds to wait, whether the channel as a whole is what is at its limit);
        (0.0, False) means go.
        """
        now = self.clock.now()
        bucket = self._bucket(key)
        everyone = self.all.wait(now, cost)  # with a shared budget: only a platform's block
        if everyone > 0:
            return everyone, True
        mine = bucket.wait(now, cost)
        if mine > 0:  # asked first, so a chat that must wait spends none of the channel's
            return mine, False
        if self.shared is not None:
            everyone = await self.shared.take(cost)
            if everyone > 0:
                return everyone, True
        else:
            self.all.take(now, cost)
        bucket.take(now, cost)
        return 0.0, False

    def block(self, key: str | None, seconds: float) -> None:
        """The platform asked us to wait: nothing for ``key`` (None: anyone) before then."""
        now = self.clock.now()
        bucket = self.all if key is None else self._bucket(key)
        until = now + timedelta(seconds=seconds)
        if bucket.blocked_until is None or bucket.blocked_until < until:
            bucket.blocked_until = until
