"""The notifier: drains the outbox through per-channel senders, with leases, backoff, fallback.

Claiming: due rows are leased (``claimed_until``) and committed before anything is sent, so two
processes never send one row twice, and a row whose sender crashed is picked up after the lease.

Order: rows for one recipient (channel + address) are sent one after another, by priority then
age; once one of them is not sent, the rest of that recipient's batch waits for the next round.
A conversation reply is never claimed while an earlier reply to the same chat is still pending
(backing off, held by a rate limit, or leased elsewhere), so replies arrive in order.

Fallback to another channel follows the rule in :mod:`xinqiao.bot.fallback`. Rate limits live
in the senders (:mod:`xinqiao.bot.ratelimit`): a held row stays pending and uses no attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.fallback import (
    enqueue_fallback,
    mark_unreachable,
    reconcile_template_delivery,
    should_fallback,
)
from xinqiao.bot.sending import (
    ALERT_KINDS,
    DEFAULT_PAUSE,
    NO_FALLBACK_KINDS,
    Sender,
    SendOutcome,
    SendStatus,
    payload_text,
)
from xinqiao.clock import Clock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

BACKOFF_BASE = 15.0  # seconds before the first retry
BACKOFF_CAP = 1800.0  # never wait more than 30 min between attempts

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

    def kick(self) -> None:
        """Drain now rather than at the next poll (a conversation reply is waiting)."""
        self._kicked.set()

    async def drain_once(self, limit: int | None = None) -> int:
        """Send what is due now, at most ``limit`` rows; return how many were attempted."""
        rows = await self._claim(limit or self.settings.outbox_batch)
        if not rows:
            return 0
        groups: dict[tuple[str, str], list[OutboxMessage]] = {}
        for row in sorted(rows, key=lambda r: (r.priority, r.id or 0)):
            groups.setdefault((row.channel, row.address), []).append(row)
        gate = asyncio.Semaphore(self.concurrency)
        unsent: list[int] = []  # claimed but not attempted: given back in one statement

        async def one_recipient(group: list[OutboxMessage]) -> int:
            attempted = 0
            for i, row in enumerate(group):
                async with gate:
                    try:
                        outcome = await self._deliver(row)
                    except Exception as exc:
                        log.error("outbox %s: recording the outcome failed (%s); the lease "
                                  "will expire and it is retried", row.id, type(exc).__name__)
                        unsent.extend(r.id for r in group[i + 1:] if r.id is not None)
                        return attempted
                if outcome is None:
                    unsent.extend(r.id for r in group[i:] if r.id is not None)
                    return attempted
                if outcome.status is not SendStatus.held:
                    attempted += 1
                if outcome.status is not SendStatus.sent:
                    unsent.extend(r.id for r in group[i + 1:] if r.id is not None)
                    return attempted
            return attempted

        try:
            results = await asyncio.gather(*(one_recipient(g) for g in groups.values()))
        finally:
            await self._release(unsent)
        return sum(results)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until ``stop`` is set: again at once while rows go out (a conversation's next
        reply waits for the one before), when kicked, else every poll interval."""
        while not stop.is_set():
            self._kicked.clear()
            try:
                handled = await self.drain_once()
            except Exception:  # the database may be away for a moment; keep the loop alive
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

    def _paused_now(self, channel: str, now: datetime) -> bool:
        until = max(self._paused.get(channel, now), self._held.get(channel, now))
        return until > now

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        now = self.clock.now()
        channels = [c for c in self.senders if not self._paused_now(c, now)]
        if not channels:
            return []
        earlier = aliased(OutboxMessage)
        # A reply waits until every earlier reply to the same chat is sent (or given up):
        # retries, rate limits and batch limits can then never reorder a conversation.
        blocked = exists().where(
            col(earlier.channel) == col(OutboxMessage.channel),
            col(earlier.address) == col(OutboxMessage.address),
            col(earlier.kind) == "reply",
            col(earlier.status) == OutboxStatus.pending,
            col(earlier.id) < col(OutboxMessage.id),
        )
        async with self.db.session() as s:
            stmt = (
                select(OutboxMessage)
                .where(
                    OutboxMessage.status == OutboxStatus.pending,
                    col(OutboxMessage.next_attempt_at) <= now,
                    or_(
                        col(OutboxMessage.claimed_until).is_(None),
                        col(OutboxMessage.claimed_until) < now,
                    ),
                    col(OutboxMessage.channel).in_(channels),
                    or_(col(OutboxMessage.kind) != "reply", ~blocked),
                )
                .order_by(
                    col(OutboxMessage.priority),
                    col(OutboxMessage.next_attempt_at),
                    col(OutboxMessage.id),
                )
                .limit(limit)
            )
            if dialect_name(s) == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True, of=OutboxMessage)
            rows = list(await s.exec(stmt))
            for row in rows:
                row.claimed_until = now + self.lease
                s.add(row)
        return rows

    async def _release(self, ids: list[int]) -> None:
        """Give claimed rows back untouched: they are claimable again at once."""
        if not ids:
            return
        async with self.db.session() as s:
            await s.exec(
                update(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids),
                       col(OutboxMessage.status) == OutboxStatus.pending)
                .values(claimed_until=None)
            )

    async def _deliver(self, row: OutboxMessage) -> SendOutcome | None:
        """Send one claimed row and record the outcome; None if it is to be given back."""
        now = self.clock.now()
        assert row.claimed_until is not None and row.id is not None
        # Only start a send with half the lease left, so it ends before anyone may re-claim.
        if self._paused_now(row.channel, now) or row.claimed_until - now < self.lease / 2:
            return None
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
        if row.attempts >= self.settings.outbox_max_attempts:
            row.status = OutboxStatus.dead
            log.error("outbox %s (%s) dead after %s attempts on %s: %s",
                      row.id, row.kind, row.attempts, row.channel, outcome.error)
            s.add(row)
            await enqueue_fallback(s, row, now, "dead")
            return
        delay = self._backoff(row.attempts, outcome.retry_after)
        row.next_attempt_at = now + timedelta(seconds=delay)
        log.warning("outbox %s attempt %s on %s failed (%s); retry in %.0f s",
                    row.id, row.attempts, row.channel, outcome.error, delay)


class ConsoleSender:
    """Prints pushes: the console simulator's channel (and a stand-in in tests)."""

    def __init__(
        self, write: Callable[[str], None] = print, channel: str = "console"
    ) -> None:
        self.write = write
        self.channel = channel

    async def send(self, row: OutboxMessage) -> SendOutcome:
        """Write the rendered text; always succeeds."""
        self.write(payload_text(row.payload) or "")
        return SendOutcome(SendStatus.sent)
