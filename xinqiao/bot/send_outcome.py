"""What a send's outcome does to its outbox row and its channel.

Sent: done, its copies elsewhere superseded, and a channel that was down is up again. Held by
the channel's own rate limit: due again shortly, no attempt used. Paused (quota,
configuration): the channel stops until then, logged as an error. Retry: backoff from 15 s to
at most 5 min, a dead letter only after ``outbox_max_attempts`` attempts and
``outbox_retry_hours``; a wait the platform named holds the recipient's other rows as long.
Anything else: failed, and the rule in :mod:`xinqiao.bot.fallback` may send it on another
channel.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.breaker import ChannelBreaker, due_again
from xinqiao.bot.fallback import enqueue_fallback, mark_unreachable, supersede_relatives
from xinqiao.bot.sending import DEFAULT_PAUSE, SendOutcome, SendStatus
from xinqiao.clock import Clock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, OutboxStatus

log = logging.getLogger("xinqiao.bot.notify")  # the notifier's log, as operators know it

BACKOFF_BASE = 15.0  # seconds before the first retry
BACKOFF_CAP = 300.0  # at most 5 min between attempts: a backlog starts soon after an outage


class OutcomeRecorder:
    """Records each send's outcome, and which channels are paused or held until when."""

    def __init__(self, db: Database, clock: Clock, settings: Settings, rng: random.Random,
                 breaker: ChannelBreaker) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self._rng = rng
        self._breaker = breaker
        self.paused: dict[str, datetime] = {}  # quota or configuration: logged as an error
        self.held: dict[str, datetime] = {}  # the channel's own rate limit: routine

    def stopped(self, channel: str, now: datetime) -> bool:
        """Whether nothing may go out on ``channel`` now (paused, held or down)."""
        until = max(self.paused.get(channel, now), self.held.get(channel, now))
        return until > now or self._breaker.closed(channel, now)

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:  # the platform said when (e.g. Telegram's 429): obey it
            return retry_after
        delay: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempts - 1))
        return delay * self._rng.uniform(0.5, 1.0)  # jitter spreads a burst of failures apart

    async def record(self, row_id: int, outcome: SendOutcome) -> None:
        """Write ``outcome`` to the row (still pending, else dropped with a warning)."""
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
                    self.held[row.channel] = now + wait
                s.add(row)
                return
            if outcome.status is SendStatus.paused:
                pause = timedelta(seconds=outcome.retry_after or DEFAULT_PAUSE)
                row.next_attempt_at = now + pause
                if not self.stopped(row.channel, now):
                    log.error("channel %s paused until %s: %s (operations: check quota and "
                              "configuration)", row.channel, now + pause, outcome.error)
                self.paused[row.channel] = now + pause
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
        if outcome.retry_after is not None:
            await hold_recipient(s, row)
        if outcome.channel_down:  # logged once for the whole outage, not once per push
            self._breaker.failed(row.channel, now, outcome.error)
            return
        log.warning("outbox %s attempt %s on %s failed (%s); retry in %.0f s",
                    row.id, row.attempts, row.channel, outcome.error, delay)


async def hold_recipient(s: AsyncSession, row: OutboxMessage) -> None:
    """The platform told ``row``'s recipient to wait (Telegram's 429): their other pending rows
    wait as long, in the outbox where every worker sees it (a sender's own limiter is one
    process's memory). Due together, they go in the usual order, so none overtakes ``row``."""
    await s.exec(
        update(OutboxMessage)
        .where(col(OutboxMessage.channel) == row.channel,
               col(OutboxMessage.address) == row.address,
               col(OutboxMessage.status) == OutboxStatus.pending,
               col(OutboxMessage.id) != row.id,
               col(OutboxMessage.next_attempt_at) < row.next_attempt_at)
        .values(next_attempt_at=row.next_attempt_at)
    )
