"""Process stored inbox rows through the engine: one person's in order, each exactly once."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.engine import Engine
from xinqiao.bot.identities import lock_identity
from xinqiao.bot.inbox import inbound_of
from xinqiao.clock import Clock
from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue_replies
from xinqiao.services.warm import Readiness
from xinqiao.storage.crypto import UndecryptableError
from xinqiao.storage.db import Database, dialect_name, dropped
from xinqiao.storage.models import (
    ChannelIdentity,
    ConversationState,
    InboxMessage,
    InboxStatus,
)
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
APOLOGY = Reply(
    "抱歉，系统刚才出了点问题，没能处理你的上一条消息，请稍后再发一次。"
    "如果情况紧急，请直接拨打心理援助热线 12356，或 110/120。"
)

# A handler for inbox kinds that are not conversation (e.g. template delivery reports).
SpecialHandler = Callable[[AsyncSession, InboxMessage], Awaitable[None]]


class ReplySlot:
    """The handshake between a webhook waiting to reply in its window and the processor.

    ``open`` → ``passive`` when the processor has replies ready in time (the webhook renders
    them), or ``open`` → ``push`` when the webhook stopped waiting (the processor queues them).
    ``passive`` → ``abandoned`` if the webhook could not wait for the commit after all.
    """

    def __init__(self) -> None:
        self.state = "open"

    def claim_passive(self) -> bool:
        """Processor: reply in the HTTP response, if the webhook is still waiting."""
        if self.state == "open":
            self.state = "passive"
            return True
        return False

    def give_up(self) -> bool:
        """Webhook: stop waiting; the processor must push. False if replies are committing."""
        if self.state == "open":
            self.state = "push"
            return True
        return False

    def abandon(self) -> None:
        """Webhook: waited for the commit too long; the processor must push after all."""
        self.state = "abandoned"


class InboxProcessor:
    """Runs inbox rows through the engine, one at a time per chat identity, exactly once."""

    def __init__(
        self,
        db: Database,
        engine: Engine,
        clock: Clock,
        special: Mapping[str, SpecialHandler] | None = None,
        readiness: Readiness | None = None,
    ) -> None:
        self.db = db
        self.engine = engine
        self.clock = clock
        self.special = dict(special or {})
        # What start-up is still loading (jieba, the crisis model): waited for before a
        # message's transaction, so neither the loop nor the database waits on it.
        self.readiness = readiness or Readiness()
        self._locks: weakref.WeakValueDictionary[tuple[str, str], asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._outage = OutageLog(log, "inbox processing")
        self.held_for_key: set[int] = set()  # rows waiting for a data key to come back

    def lock_for(self, channel: str, address: str) -> asyncio.Lock:
        """This person's lock in this process: their messages are handled one at a time."""
        key = (channel, address)
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def process(
        self,
        row_id: int,
        slot: ReplySlot | None = None,
        *,
        origin: tuple[str, str, str] | None = None,
    ) -> list[Reply] | None:
        """Handle one stored row; return its replies if they are to be given passively.

        ``origin`` is the row's (channel, address, kind) when the caller knows it already,
        which saves a read on the hot path.
        """
        if origin is None:
            async with self.db.session() as s:
                row = await s.get(InboxMessage, row_id)
                if row is None or row.status != InboxStatus.pending:
                    return None
                origin = (row.channel, row.address, row.kind)
        channel, address, kind = origin
        async with self.lock_for(channel, address):
            await self.readiness.wait()
            for attempt in range(5):
                try:
                    if kind in self.special:
                        await self._special(row_id, kind)
                        return None
                    replies = await self._process_locked(row_id, channel, address, slot)
                    self._outage.success()
                    return replies
                except UndecryptableError as exc:
                    # A stored value no configured key opens (a key file lost, a key dropped
                    # too soon): the message is not at fault. Keep it pending, without using
                    # up its attempts, for recovery once the key is back; /healthz says so.
                    if row_id not in self.held_for_key:
                        self.held_for_key.add(row_id)
                        log.error("inbox row %s is kept for a missing data key: %s", row_id, exc)
                    return None
                except (IntegrityError, OperationalError, DBAPIError) as exc:
                    # Concurrent first contact (unique identity), a lock timeout or a
                    # serialisation failure: the transaction rolled back, so try again.
                    if attempt == 4 or not _transient(exc):
                        await self._record_failure(row_id, exc)
                        return None
                    await asyncio.sleep(0.05 * (attempt + 1))
                except Exception as exc:
                    await self._record_failure(row_id, exc)
                    return None
        return None

    async def _special(self, row_id: int, kind: str) -> None:
        async with self.db.session() as s:
            row = await s.get(InboxMessage, row_id, with_for_update=dialect_name(s) != "sqlite")
            if row is None or row.status != InboxStatus.pending:
                return
            await self.special[kind](s, row)
            row.status, row.processed_at = InboxStatus.done, self.clock.now()
            s.add(row)

    async def _process_locked(
        self, row_id: int, channel: str, address: str, slot: ReplySlot | None
    ) -> list[Reply] | None:
        now = self.clock.now()
        async with self.db.session() as s:
            # Locking the identity first serialises this person's messages across processes;
            # then this row and any earlier one still pending are handled in order.
            identity = await lock_identity(s, channel, address, now)
            rows = list(
                await s.exec(
                    select(InboxMessage)
                    .where(
                        InboxMessage.channel == channel,
                        InboxMessage.address == address,
                        InboxMessage.status == InboxStatus.pending,
                        col(InboxMessage.id) <= row_id,
                    )
                    .order_by(col(InboxMessage.id))
                )
            )
            if not rows or rows[-1].id != row_id:
                return None  # handled already, by a retry's request or another process
            for older in rows[:-1]:
                if older.kind not in self.special:
                    await self._run(s, identity, older, None, now)
            replies, passive = await self._run(s, identity, rows[-1], slot, now)
        if passive and slot is not None and slot.state == "abandoned":
            await self._push_late(row_id, replies)
            return None
        return replies if passive else None

    async def _run(
        self,
        s: AsyncSession,
        identity: ChannelIdentity,
        row: InboxMessage,
        slot: ReplySlot | None,
        now: datetime,
    ) -> tuple[list[Reply], bool]:
        replies = await self.engine.handle(s, inbound_of(row), identity=identity)
        passive = slot is not None and slot.claim_passive()
        if not passive and replies:
            state = await s.get(ConversationState, identity.id)
            turn = state.version if state is not None else None
            await self._enqueue(s, row, replies, now, identity.person_id, turn)
        row.status, row.processed_at, row.attempts = InboxStatus.done, now, row.attempts + 1
        row.replied_passively = passive
        row.reply = [r.to_json() for r in replies]
        s.add(row)
        return replies, passive

    async def _enqueue(
        self,
        s: AsyncSession,
        row: InboxMessage,
        replies: list[Reply],
        now: datetime,
        person_id: int | None = None,
        turn: int | None = None,
    ) -> None:
        if person_id is None:
            person_id = (await lock_identity(s, row.channel, row.address, now)).person_id
        await enqueue_replies(
            s,
            key_prefix=f"reply:{row.channel}:{row.id}",
            channel=row.channel,
            address=row.address,
            replies=replies,
            now=now,
            person_id=person_id,
            priority=Priority.reply,
            turn=turn,
        )

    async def _push_late(self, row_id: int, replies: list[Reply]) -> None:
        async with self.db.session() as s:
            row = await s.get(InboxMessage, row_id)
            assert row is not None
            await self._enqueue(s, row, replies, self.clock.now())
            row.replied_passively = False
            s.add(row)

    async def _record_failure(self, row_id: int, exc: BaseException) -> None:
        if self._outage.failure(exc):
            return  # not the message's fault: it stays pending, recovery runs it once back
        log.error("inbox row %s failed", row_id, exc_info=exc)
        try:
            async with self.db.session() as s:
                row = await s.get(InboxMessage, row_id)
                if row is None or row.status != InboxStatus.pending:
                    return
                row.attempts += 1
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                if row.attempts >= MAX_ATTEMPTS:
                    row.status = InboxStatus.failed
                    log.error("inbox row %s gave up after %s attempts", row_id, row.attempts)
                    if row.kind == "message":
                        await self._enqueue(s, row, [APOLOGY], self.clock.now())
                s.add(row)
        except Exception:  # the database itself is down: recovery will retry the row later
            log.exception("could not record the failure of inbox row %s", row_id)

    async def recover(self, older_than: timedelta, limit: int = 200) -> int:
        """Process pending rows left behind by a crash or a failure; return how many."""
        cutoff = self.clock.now() - older_than
        async with self.db.session() as s:
            ids = (
                await s.exec(
                    select(InboxMessage.id)
                    .where(
                        InboxMessage.status == InboxStatus.pending,
                        col(InboxMessage.received_at) <= cutoff,
                    )
                    .order_by(col(InboxMessage.id))
                    .limit(limit)
                )
            ).all()
        for row_id in ids:
            if row_id is not None:
                await self.process(row_id)
        return len(ids)


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, IntegrityError) or dropped(exc):
        return True
    text = str(exc).lower()
    return any(
        marker in text
        for marker in ("database is locked", "deadlock", "could not serialize", "busy")
    )
