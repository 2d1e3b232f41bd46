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

from xinqiao.bot.breaker import ChannelBreaker, due_again
from xinqiao.bot.claiming import claimable, release
from xinqiao.bot.fallback import (
    delivered_elsewhere,
    enqueue_fallback,
    fallback_while_down,
    mark_unreachable,
    reconcile_template_delivery,
    should_fallback,
    supersede_relatives,
)
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
from xinqiao.storage.models import OutboxMessage, OutboxStatus
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)

BACKOFF_BASE = 15.0  # seconds before the first retry
BACKOFF_CAP = 300.0  # at most 5 min between attempts: a backlog starts soon after an outage

__all__ = [
    "ALERT_KINDS", "BACKOFF_BASE", "BACKOFF_CAP", "DEFAULT_PAUSE", "NO_FALLBACK_KINDS",
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
        self._paused: dict[str, datetime] = {}  # quota or configuration: logged as an error
        self._held: dict[str, datetime] = {}  # the channel's own rate limit: routine
        self._kicked = asyncio.Event()
        self._outage = OutageLog(log, "outbox")
        self._breaker = ChannelBreaker(self._rng)

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
        for channel, until in self._paused.items():
            if until > now:
                found.setdefault(channel, f"paused until {until.isoformat(timespec='seconds')} "
                                          "(quota or configuration)")
        return found

    def _paused_now(self, channel: str, now: datetime) -> bool:
        until = max(self._paused.get(channel, now), self._held.get(channel, now))
        return until > now or self._breaker.closed(channel, now)

    async def _claim(self, limit: int, now: datetime) -> list[OutboxMessage]:
        channels = [c for c in self.senders if not self._paused_now(c, now)]
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
        if self._paused_now(row.channel, now) or row.claimed_until - now < self.lease / 2:
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
        await self._record(row.id, outcome)
        return outcome

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the platform said when (e.g. Telegram's 429): obey it
            return retry_after
        delay: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempts - 1))
        return delay * self._rng.uniform(0.5, 1.0)  # jitter spreads a burst of failures apart

    async def _record(self, row_id: int, outcome: SendOutcome) -> None:
        now = self.clock.now()
        async with self.db.session() as s:
            row = await s.get(OutboxMessage, row_id, with_for_update=True)
            if row is None or row.status != OutboxStatus.pending:
                log.warning("outbox %s changed while it was being sent; outcome %s dropped",
                            row_id, outcome.status)
                return
            row.claimed_until = None
            row.last_error = outcome.error
            if outcome.progress:
                row.payload = {**row.payload, **outcome.progress}
            if outcome.unreachable:
                await mark_unreachable(s, row.channel, row.address)
            if outcome.status is SendStatus.held:
                wait = timedelta(seconds=outcome.retry_after or 1.0)
                row.next_attempt_at = now + wait
                if outcome.hold_channel:  # nobody else on this channel goes before then
                    self._held[row.channel] = now + wait
                s.add(row)
                return
            if outcome.status is SendStatus.paused:
                pause = timedelta(seconds=outcome.retry_after or DEFAULT_PAUSE)
                row.next_attempt_at = now + pause
                if not self._paused_now(row.channel, now):
                    log.error("channel %s paused until %s: %s (operations: check quota and "
                              "configuration)", row.channel, now + pause, outcome.error)
                self._paused[row.channel] = now + pause
                s.add(row)
                return
            row.attempts += 1
            if outcome.status is SendStatus.sent:
                row.status = OutboxStatus.sent
                row.sent_at = now
                row.provider_msg_id = outcome.provider_msg_id
                await supersede_relatives(s, row)
                if self._breaker.succeeded(row.channel, now):  # what failed meanwhile: now
                    await due_again(s, row.channel, now)
            elif outcome.status is SendStatus.retry:
                await self._retry_or_dead(s, row, outcome, now)
            else:
                row.status = OutboxStatus.failed
                s.add(row)
                await enqueue_fallback(s, row, now, outcome.status)
            s.add(row)

    async def _retry_or_dead(
        self, s: AsyncSession, row: OutboxMessage, outcome: SendOutcome, now: datetime
    ) -> None:
        retried_for = now - row.created_at
        if row.attempts >= self.settings.outbox_max_attempts and retried_for >= timedelta(
                hours=self.settings.outbox_retry_hours):
            row.status = OutboxStatus.dead
            log.error("outbox %s (%s) dead after %s attempts on %s: %s",
                      row.id, row.kind, row.attempts, row.channel, outcome.error)
            s.add(row)
            await enqueue_fallback(s, row, now, "dead")
            return
        delay = self._backoff(row.attempts, outcome.retry_after)
        row.next_attempt_at = now + timedelta(seconds=delay)
        if outcome.channel_down:  # logged once for the whole outage, not once per push
            self._breaker.failed(row.channel, now, outcome.error)
            return
        log.warning("outbox %s attempt %s on %s failed (%s); retry in %.0f s",
                    row.id, row.attempts, row.channel, outcome.error, delay)
