"""The notifier: drains the outbox through per-channel senders, with leases, backoff, fallback.

Claiming: due rows are leased (``claimed_until``) and committed before anything is sent, so two
processes never send one row twice, and a row whose sender crashed is picked up after the lease.

Order: rows for one recipient (channel + address) are sent one after another, by priority then
age; once one of them is not sent, the rest of that recipient's batch waits for the next round.
A conversation reply is never claimed while an earlier reply to the same chat is still pending
(backing off, held by a rate limit, or leased elsewhere), so replies arrive in order.

Fallback to another channel follows the rule in :mod:`xinqiao.bot.fallback`. Rate limits live
in the senders (:mod:`xinqiao.bot.ratelimit`): a held row stays pending and uses no attempt.
A platform that is down (busy, 5xx, no answer) stops its channel: one probe at a time, then the
backlog by priority (:mod:`xinqiao.bot.breaker`); rows of one priority go out before the next
priority starts. Retries back off from 15 s to at most 5 min, and a push becomes a dead letter
only after ``outbox_max_attempts`` attempts and ``outbox_retry_hours`` (24 h by default).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from contextlib import suppress
from datetime import datetime, timedelta
from itertools import groupby

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.breaker import ChannelBreaker
from xinqiao.bot.claiming import claimable, release
from xinqiao.bot.fallback import (
    delivered_elsewhere,
    enqueue_fallback,
    fallback_while_down,
    reconcile_template_delivery,
    should_fallback,
    supersede_relatives,
)
from xinqiao.bot.send_outcome import OutcomeRecorder
from xinqiao.bot.sending import (
    ALERT_KINDS,
    DEFAULT_PAUSE,
    NO_FALLBACK_KINDS,
    ConsoleSender,
    Sender,
    SendOutcome,
    SendStatus,
    payload_text,
)
from xinqiao.clock import Clock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)

__all__ = [
    "ALERT_KINDS", "DEFAULT_PAUSE", "NO_FALLBACK_KINDS",
    "ConsoleSender", "Notifier", "SendOutcome", "SendStatus", "Sender", "enqueue_fallback",
    "payload_text", "reconcile_template_delivery", "should_fallback",
]


class Notifier:
    """Claims due outbox rows, hands each to its channel's sender and records the outcome."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        senders: Mapping[str, Sender],
        *,
        lease_seconds: float = 120.0,
        concurrency: int = 8,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.senders = dict(senders)
        self.lease = timedelta(seconds=lease_seconds)
        self.concurrency = concurrency
        self._rng = rng or random.Random()  # noqa: S311 — backoff jitter, not security
        self._kicked = asyncio.Event()
        self._outage = OutageLog(log, "outbox")
        self._breaker = ChannelBreaker(self._rng)
        self._outcomes = OutcomeRecorder(db, clock, settings, self._rng, self._breaker)

    def kick(self) -> None:
        """Drain now rather than at the next poll (a conversation reply is waiting)."""
        self._kicked.set()

    async def drain_once(self, limit: int | None = None) -> int:
        """Send what is due now, at most ``limit`` rows; return how many were attempted.

        Priorities go one after another (crisis, alerts, replies, reminders, bulk); within one
        priority, recipients are served concurrently and each recipient's rows in order.
        """
        now = self.clock.now()
        await self._fallback_while_down(now)
        rows = await self._claim(limit or self.settings.outbox_batch, now)
        gate = asyncio.Semaphore(self.concurrency)
        unsent: list[int] = []  # claimed but not attempted: given back in one statement
        stopped: set[tuple[str, str]] = set()  # a recipient's row was not sent: the rest waits
        attempted = 0
        try:
            ordered = sorted(rows, key=lambda r: (r.priority, r.id or 0))
            for _, level in groupby(ordered, key=lambda r: r.priority):
                groups: dict[tuple[str, str], list[OutboxMessage]] = {}
                for row in level:
                    if (row.channel, row.address) in stopped:
                        unsent.append(row.id or 0)
                    else:
                        groups.setdefault((row.channel, row.address), []).append(row)
                results = await asyncio.gather(
                    *(self._one_recipient(g, gate, unsent) for g in groups.values()))
                for key, (count, finished) in zip(groups, results, strict=True):
                    attempted += count
                    if not finished:
                        stopped.add(key)
        finally:
            await release(self.db, unsent)
        return attempted

    async def _one_recipient(
        self, group: list[OutboxMessage], gate: asyncio.Semaphore, unsent: list[int]
    ) -> tuple[int, bool]:
        """Send one recipient's rows in order; (how many attempted, whether all were sent)."""
        attempted = 0
        for i, row in enumerate(group):
            async with gate:
                try:
                    outcome = await self._deliver(row)
                except Exception as exc:
                    log.warning("outbox %s: recording the outcome failed (%s); the lease "
                                "will expire and it is retried", row.id, type(exc).__name__)
                    unsent.extend(r.id for r in group[i + 1:] if r.id is not None)
                    return attempted, False
            if outcome is None:
                unsent.extend(r.id for r in group[i:] if r.id is not None)
                return attempted, False
            if outcome.status is not SendStatus.held:
                attempted += 1
            if outcome.status is not SendStatus.sent:
                unsent.extend(r.id for r in group[i + 1:] if r.id is not None)
                return attempted, False
        return attempted, True

    async def _fallback_while_down(self, now: datetime) -> None:
        """Alerts on a channel down for a while also go out on another channel."""
        for channel in self._breaker.down_channels():
            if (self._breaker.closed(channel, now) and self._breaker.down_for(channel, now)
                    >= self.settings.outbox_alert_fallback_seconds):
                async with self.db.session() as s:
                    await fallback_while_down(s, channel, now)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until ``stop`` is set: again at once while rows go out (a conversation's next
        reply waits for the one before), when kicked, else every poll interval."""
        while not stop.is_set():
            self._kicked.clear()
            try:
                handled = await self.drain_once()
                self._outage.success()
            except Exception as exc:  # the database may be away for a while: keep the loop
                if not self._outage.failure(exc):
                    log.exception("outbox drain failed")
                handled = 0
            if handled:  # every attempted row is done or due later: this cannot spin
                continue
            waiters = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(
                self._kicked.wait())}
            try:
                await asyncio.wait(waiters, timeout=self.settings.outbox_poll_seconds,
                                   return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
                    with suppress(asyncio.CancelledError):
                        await waiter

    async def reconcile_template_delivery(
        self, session: AsyncSession, msgid: str, status: str, now: datetime
    ) -> OutboxMessage | None:
        """See :func:`xinqiao.bot.fallback.reconcile_template_delivery`."""
        return await reconcile_template_delivery(session, msgid, status, now)

    def paused_channels(self, now: datetime) -> dict[str, str]:
        """Channels on which nothing goes out now, with why (for /healthz)."""
        found: dict[str, str] = {}
        for channel in self._breaker.down_channels():
            found[channel] = (f"platform down for {self._breaker.down_for(channel, now):.0f} s "
                              "(probing)")
        for channel, until in self._outcomes.paused.items():
            if until > now:
                found.setdefault(channel, f"paused until {until.isoformat(timespec='seconds')} "
                                          "(quota or configuration)")
        return found

    async def _claim(self, limit: int, now: datetime) -> list[OutboxMessage]:
        channels = [c for c in self.senders if not self._outcomes.stopped(c, now)]
        probing = [c for c in channels if self._breaker.probing(c, now)]
        normal = [c for c in channels if c not in probing]
        async with self.db.session() as s:
            rows = await claimable(s, normal, limit, now) if normal else []
            for channel in probing:  # a channel that is down: one probe, the most urgent row
                rows += await claimable(s, [channel], 1, now, probe=True)
            for row in rows:
                row.claimed_until = now + self.lease
                s.add(row)
        return rows

    async def _deliver(self, row: OutboxMessage) -> SendOutcome | None:
        """Send one claimed row and record the outcome; None if it is to be given back."""
        now = self.clock.now()
        assert row.claimed_until is not None and row.id is not None
        # Only start a send with half the lease left, so it ends before anyone may re-claim.
        if self._outcomes.stopped(row.channel, now) or row.claimed_until - now < self.lease / 2:
            return None
        if row.kind in ALERT_KINDS or row.fallback_of is not None:
            async with self.db.session() as s:  # its copy on another channel went out first
                other = await delivered_elsewhere(s, row)
                if other is not None:
                    await supersede_relatives(s, await s.get(OutboxMessage, other) or row)
                    return SendOutcome(SendStatus.sent, error=f"delivered as outbox {other}")
        try:
            outcome = await self.senders[row.channel].send(row)
        except Exception as exc:  # a sender bug must not wedge the row: retry with backoff
            log.exception("sender for %s raised on outbox %s", row.channel, row.id)
            outcome = SendOutcome(SendStatus.retry, error=f"sender raised {type(exc).__name__}")
        await self._outcomes.record(row.id, outcome)
        return outcome
