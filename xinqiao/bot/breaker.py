"""A channel whose platform is down: one probe at a time, then everything in order of urgency.

When a platform answers "system busy" (WeChat ``-1``), a 5xx or nothing at all, every push on
that channel would fail the same way. Instead of letting each row back off on its own (which,
after a long outage, sends the backlog in the order the jitter chose), the notifier marks the
channel down: nothing is claimed on it until the next probe, and a probe is one push, the most
urgent one waiting. The probe interval doubles from ``PROBE_BASE`` to ``PROBE_CAP``. When a
probe goes through, every push that failed during the outage is due again at once, so the
backlog drains by priority (crisis, alerts, replies, reminders, bulk) within the rate limits.
Alerts waiting on a channel that has been down for a while are copied to another bound channel
of the same person (:func:`xinqiao.bot.fallback.fallback_while_down`).

Known limit: a push that by itself made the platform answer ``-1`` every time would keep the
channel down; ``-1`` and transport errors are the platform's, not one message's.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

PROBE_BASE = 5.0  # seconds to the first probe after a channel went down
PROBE_CAP = 60.0  # at most this long between probes: the backlog starts within a minute


@dataclass
class Outage:
    """One channel's outage: since when, the next probe, how many probes failed."""

    since: datetime
    probe_at: datetime
    failures: int = 0


class ChannelBreaker:
    """Which channels are down, in this process; probes are spaced with jitter."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._down: dict[str, Outage] = {}

    def failed(self, channel: str, now: datetime, error: str | None) -> datetime:
        """A push failed because the platform is down; return the time of the next probe."""
        outage = self._down.get(channel)
        if outage is None:
            outage = self._down[channel] = Outage(since=now, probe_at=now)
            log.warning("channel %s is down (%s): pushes wait, one probe at a time", channel,
                        error)
        outage.failures += 1
        delay = min(PROBE_CAP, PROBE_BASE * 2.0 ** (outage.failures - 1))
        outage.probe_at = max(outage.probe_at, now + timedelta(
            seconds=delay * self._rng.uniform(0.75, 1.0)))
        return outage.probe_at

    def succeeded(self, channel: str, now: datetime) -> bool:
        """A push went through; True if that ended an outage."""
        outage = self._down.pop(channel, None)
        if outage is None:
            return False
        log.warning("channel %s is back after %.0f s (%d failed probes); sending the backlog",
                    channel, (now - outage.since).total_seconds(), outage.failures)
        return True

    def closed(self, channel: str, now: datetime) -> bool:
        """True while nothing may be sent on ``channel`` (down, next probe not yet due)."""
        outage = self._down.get(channel)
        return outage is not None and outage.probe_at > now

    def probing(self, channel: str, now: datetime) -> bool:
        """True when ``channel`` is down and a probe is due: send one push, the most urgent."""
        outage = self._down.get(channel)
        return outage is not None and outage.probe_at <= now

    def down_for(self, channel: str, now: datetime) -> float:
        """Seconds ``channel`` has been down (0 when it is up)."""
        outage = self._down.get(channel)
        return 0.0 if outage is None else (now - outage.since).total_seconds()

    def down_channels(self) -> list[str]:
        """The channels currently down."""
        return list(self._down)


async def due_again(session: AsyncSession, channel: str, now: datetime) -> int:
    """After an outage: every pending push on ``channel`` that failed is due now."""
    result = await session.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.channel) == channel,
               col(OutboxMessage.status) == OutboxStatus.pending,
               col(OutboxMessage.attempts) > 0,
               col(OutboxMessage.next_attempt_at) > now)
        .values(next_attempt_at=now)
    )
    return int(result.rowcount or 0)
