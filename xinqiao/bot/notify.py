"""The notifier: drains the outbox through per-channel senders, with leases, backoff, fallback.

Claiming: due rows are leased (``claimed_until``) and committed before anything is sent, so two
processes never send one row twice, and a row whose sender crashed is picked up after the lease.

Fallback rule: when a push does not reach its recipient, a copy is queued on another bound,
reachable identity of the same person (never the console, never a channel already tried):
- alerts (kind ``alert`` or ``crisis``): on every non-delivery — a permanent refusal, a channel
  refusal (e.g. WeChat's 48 h window), a dead letter, or a failed template delivery report;
- conversation replies (kind ``reply``): never, they make no sense outside their chat;
- everything else (reminders, confirmations...): only when the channel refused this recipient
  for now (status ``fallback``), not on developer errors or dead letters.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import or_, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.channels.wechat_render import render_text, truncate_bytes
from xinqiao.clock import Clock
from xinqiao.messages import Reply
from xinqiao.services.outbox import enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)

ALERT_KINDS = frozenset({"alert", "crisis"})
NO_FALLBACK_KINDS = frozenset({"reply"})
BACKOFF_BASE = 15.0  # seconds before the first retry
BACKOFF_CAP = 1800.0  # never wait more than 30 min between attempts
DEFAULT_PAUSE = 3600.0  # a paused channel is probed again after this, unless told otherwise


class SendStatus(StrEnum):
    """What became of one attempt."""

    sent = "sent"  # accepted by the platform
    retry = "retry"  # transient: try again later
    failed = "failed"  # permanent for this message and recipient
    fallback = "fallback"  # this channel refused the recipient for now: try another channel
    paused = "paused"  # the channel itself is stopped (quota, configuration): keep the row


@dataclass(frozen=True)
class SendOutcome:
    """The result a sender reports; ``retry_after`` is in seconds."""

    status: SendStatus
    provider_msg_id: str | None = None
    error: str | None = None
    retry_after: float | None = None


class Sender(Protocol):
    """Delivers outbox rows on one channel."""

    channel: str

    async def send(self, row: OutboxMessage) -> SendOutcome:
        """Try once to deliver ``row``."""
        ...


def payload_text(payload: dict[str, Any]) -> str | None:
    """The payload as one plain text message, or None if it has no known shape."""
    if isinstance(payload.get("reply"), dict):
        return render_text(Reply.from_json(payload["reply"]))
    alert = payload.get("alert")
    if isinstance(alert, dict):
        lines = [str(alert.get("title", ""))]
        lines += [f"{k}：{v}" for k, v in dict(alert.get("fields") or {}).items()]
        if alert.get("url"):
            lines.append(str(alert["url"]))
        return truncate_bytes("\n".join(lines), 2000)
    return None


def should_fallback(kind: str, why: str) -> bool:
    """Whether an undelivered push of ``kind`` goes to another channel (module docstring)."""
    if kind in ALERT_KINDS:
        return True
    if kind in NO_FALLBACK_KINDS:
        return False
    return why == SendStatus.fallback


def _fallback_key(key: str, channel: str) -> str:
    wanted = f"{key}:fallback:{channel}"
    if len(wanted) <= 128:  # the column's width
        return wanted
    return f"fb:{hashlib.sha256(key.encode()).hexdigest()[:64]}:{channel}"


async def enqueue_fallback(
    session: AsyncSession, row: OutboxMessage, now: datetime, why: str
) -> OutboxMessage | None:
    """Queue a copy of ``row`` on another channel of the same person, if the rule says so."""
    if not should_fallback(row.kind, why):
        return None
    tried, parent = {row.channel, "console"}, row.fallback_of
    while parent is not None and len(tried) < 10:
        earlier = await session.get(OutboxMessage, parent)
        if earlier is None:
            break
        tried.add(earlier.channel)
        parent = earlier.fallback_of
    person_id = row.person_id
    if person_id is None:
        own = (
            await session.exec(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == row.channel, ChannelIdentity.address == row.address
                )
            )
        ).first()
        person_id = own.person_id if own else None
    target = None
    if person_id is not None:
        target = (
            await session.exec(
                select(ChannelIdentity)
                .where(
                    col(ChannelIdentity.person_id) == person_id,
                    col(ChannelIdentity.channel).not_in(tried),
                    col(ChannelIdentity.reachable).is_(True),
                )
                .order_by(
                    col(ChannelIdentity.preferred).desc(),
                    col(ChannelIdentity.last_inbound_at).desc().nulls_last(),
                    col(ChannelIdentity.id),
                )
                .limit(1)
            )
        ).first()
    if target is None:
        log.error("outbox %s (%s) for person %s not delivered on %s (%s) and no other "
                  "reachable channel", row.id, row.kind, person_id, row.channel, why)
        return None
    copy = await enqueue(
        session,
        key=_fallback_key(row.idempotency_key, target.channel),
        channel=target.channel,
        address=target.address,
        kind=row.kind,
        payload=row.payload,
        now=now,
        person_id=person_id,
        priority=row.priority,
        fallback_of=row.id,
    )
    log.warning("outbox %s (%s) not delivered on %s (%s); fallback %s queued on %s",
                row.id, row.kind, row.channel, why, copy.id, target.channel)
    return copy


async def reconcile_template_delivery(
    session: AsyncSession, msgid: str, status: str, now: datetime
) -> OutboxMessage | None:
    """Apply a TEMPLATESENDJOBFINISH report; None if no WeChat push has that ``msgid`` (yet)."""
    if not msgid:
        return None
    row = (
        await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.channel == "wechat", OutboxMessage.provider_msg_id == msgid)
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    if status == "success":
        if row.status == OutboxStatus.sent:
            row.status = OutboxStatus.delivered
    elif status.startswith("failed"):
        # Accepted is not delivered (protocol.md §6.7): the recipient blocked or WeChat failed.
        if row.status in (OutboxStatus.sent, OutboxStatus.delivered):
            row.status = OutboxStatus.failed
            row.last_error = f"template delivery report: {status}"
            session.add(row)
            await enqueue_fallback(session, row, now, SendStatus.fallback)
    else:
        log.warning("unknown template delivery status %r for outbox %s", status, row.id)
    session.add(row)
    return row


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
        self._paused: dict[str, datetime] = {}

    async def drain_once(self, limit: int | None = None) -> int:
        """Send what is due now, at most ``limit`` rows; return how many were attempted."""
        rows = await self._claim(limit or self.settings.outbox_batch)
        if not rows:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row: OutboxMessage) -> bool:
            async with gate:
                return await self._deliver(row)

        results = await asyncio.gather(*(one(r) for r in rows), return_exceptions=True)
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                log.error("outbox %s: recording the outcome failed (%s); the lease will "
                          "expire and it is retried", row.id, type(result).__name__)
        return sum(1 for r in results if r is True)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until ``stop`` is set: at once while backed up, else every poll interval."""
        while not stop.is_set():
            try:
                handled = await self.drain_once()
            except Exception:  # the database may be away for a moment; keep the loop alive
                log.exception("outbox drain failed")
                handled = 0
            if handled >= self.settings.outbox_batch:
                continue
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.outbox_poll_seconds)

    async def reconcile_template_delivery(
        self, session: AsyncSession, msgid: str, status: str, now: datetime
    ) -> OutboxMessage | None:
        """See the module-level :func:`reconcile_template_delivery`."""
        return await reconcile_template_delivery(session, msgid, status, now)

    def _paused_now(self, channel: str, now: datetime) -> bool:
        until = self._paused.get(channel)
        return until is not None and until > now

    async def _claim(self, limit: int) -> list[OutboxMessage]:
        now = self.clock.now()
        channels = [c for c in self.senders if not self._paused_now(c, now)]
        if not channels:
            return []
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
                )
                .order_by(
                    col(OutboxMessage.priority),
                    col(OutboxMessage.next_attempt_at),
                    col(OutboxMessage.id),
                )
                .limit(limit)
            )
            if dialect_name(s) == "postgresql":
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(await s.exec(stmt))
            for row in rows:
                row.claimed_until = now + self.lease
                s.add(row)
        return rows

    async def _deliver(self, row: OutboxMessage) -> bool:
        now = self.clock.now()
        assert row.claimed_until is not None and row.id is not None
        # Only start a send with half the lease left, so it ends before anyone may re-claim.
        if self._paused_now(row.channel, now) or row.claimed_until - now < self.lease / 2:
            async with self.db.session() as s:
                await s.exec(
                    update(OutboxMessage)
                    .where(col(OutboxMessage.id) == row.id,
                           col(OutboxMessage.status) == OutboxStatus.pending)
                    .values(claimed_until=None)
                )
            return False
        try:
            outcome = await self.senders[row.channel].send(row)
        except Exception as exc:  # a sender bug must not wedge the row: retry with backoff
            log.exception("sender for %s raised on outbox %s", row.channel, row.id)
            outcome = SendOutcome(SendStatus.retry, error=f"sender raised {type(exc).__name__}")
        await self._record(row.id, outcome)
        return True

    def _backoff(self, attempts: int, retry_after: float | None) -> float:
        delay: float = min(BACKOFF_CAP, BACKOFF_BASE * 2.0 ** (attempts - 1))
        delay *= self._rng.uniform(0.5, 1.0)  # jitter spreads a burst of failures apart
        return max(delay, retry_after or 0.0)

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
                if row.attempts >= self.settings.outbox_max_attempts:
                    row.status = OutboxStatus.dead
                    log.error("outbox %s (%s) dead after %s attempts on %s: %s",
                              row.id, row.kind, row.attempts, row.channel, outcome.error)
                    s.add(row)
                    await enqueue_fallback(s, row, now, "dead")
                else:
                    delay = self._backoff(row.attempts, outcome.retry_after)
                    row.next_attempt_at = now + timedelta(seconds=delay)
                    log.warning("outbox %s attempt %s on %s failed (%s); retry in %.0f s",
                                row.id, row.attempts, row.channel, outcome.error, delay)
            else:
                row.status = OutboxStatus.failed
                s.add(row)
                await enqueue_fallback(s, row, now, outcome.status)
            s.add(row)


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
