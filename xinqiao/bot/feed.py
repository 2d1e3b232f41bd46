"""The one entry point of every channel: ``feed(arrival)`` stores, processes in order, answers.

WeChat's callback, Telegram's webhook and poller, ``xinqiao chat`` and the tests' Dialog hand
their messages in here, channel-neutral, and get back the replies to give now. The inbox's
promises are kept in this one place:

- Persist, then answer: the row is stored under its dedupe key before anything else, so the
  channel acknowledges only what is kept; a redelivery finds the key and does nothing.
- One person at a time: processing takes the person's lock (bot/inbox_processor.py), so their
  messages run in order, each exactly once.
- A reply window: the caller says how long it can wait. Replies ready in time come back to be
  given at once (WeChat's passive reply, a terminal, a test); the rest go out as pushes through
  the outbox, and the notifier is woken for them.
- The lean hot path: a 菜单/帮助 that carries a callback nonce is stored in one plain driver
  transaction (bot/lean.py), and answered in it too when nobody in this process is busy with
  that person.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from xinqiao.bot.inbox import Receipt, inbound_payload, store_in
from xinqiao.bot.inbox_processor import InboxProcessor, ReplySlot
from xinqiao.bot.lean import LeanPath, lean_candidate
from xinqiao.clock import Clock
from xinqiao.messages import Inbound, Reply
from xinqiao.storage.callbacks import Nonce, remember
from xinqiao.storage.db import Database, retry_dropped
from xinqiao.storage.models import InboxStatus

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]
WAIT: float | None = None  # the caller waits for the replies however long (a terminal, a test)
PUSH = 0.0  # no reply window (Telegram): process in the background; the replies are pushes
# A webhook that stopped waiting while the replies were being committed waits this much more
# rather than have them pushed as well.
COMMIT_GRACE_SECONDS = 0.5
_background: set[asyncio.Task[Any]] = set()


def _spawn(coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """Run ``coro`` in the background, keeping a reference until it ends."""
    task = asyncio.create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


class Replayed(Exception):
    """The callback's (timestamp, nonce) carried another message before: nothing was stored."""


@dataclass(frozen=True)
class Arrival:
    """A message as a channel hands it in: who sent it, under which dedupe key, what it says.

    ``inbound`` is None for what is kept but is no conversation (a delivery report, an event
    not acted on): ``kind`` says which, and only kinds the processor handles are processed.
    """

    channel: str
    address: str
    dedupe_key: str
    inbound: Inbound | None
    kind: str = "message"
    raw: Mapping[str, Any] | None = None
    received_at: datetime | None = None  # None: now, by the feed's clock

    @classmethod
    def message(cls, inbound: Inbound, dedupe_key: str,
                raw: Mapping[str, Any] | None = None) -> Arrival:
        """A conversation message under ``dedupe_key``."""
        return cls(inbound.channel, inbound.address, dedupe_key, inbound, raw=raw,
                   received_at=inbound.received_at)


@dataclass(frozen=True)
class Fed:
    """What became of an arrival: its inbox row, and the replies to give now (None: none —
    a duplicate, not a conversation, or replies that go out as pushes)."""

    row_id: int | None
    duplicate: bool = False
    replies: list[Reply] | None = None
    late: bool = False  # the window closed before the replies were ready: they are pushed


class Feed:
    """Stores, processes and answers every channel's messages (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        processor: InboxProcessor,
        clock: Clock,
        *,
        lean: LeanPath | None = None,
        kick: Callable[[], None] | None = None,
        spawn: Spawn | None = None,
    ) -> None:
        self.db = db
        self.processor = processor
        self.clock = clock
        self.lean = lean
        self.kick = kick or (lambda: None)  # wakes the notifier for replies that are pushes
        self.spawn = spawn or _spawn

    async def feed(
        self,
        arrival: Arrival,
        *,
        window: float | None = WAIT,
        urgent: bool = True,
        nonce: Nonce | None = None,
        first: Callable[[], Awaitable[None]] | None = None,
        stored: Callable[[], None] | None = None,
    ) -> Fed:
        """Store ``arrival``, then process it and return what to give now.

        Raises what the database raises when it cannot store (nothing is acknowledged then),
        and :class:`Replayed` for a replayed ``nonce``. ``window``: seconds the caller can wait
        for the replies (WAIT: as long as it takes; PUSH: not at all). ``urgent``: a platform
        waits on the answer, so fail fast rather than queue. ``nonce``: the callback's pair,
        remembered in the storing transaction. ``first`` runs before processing (Telegram
        stops a tapped button spinning). ``stored`` is called once the row is committed (the
        database answered: a channel closes its outage log then, not after the processing).
        """
        now = arrival.received_at or self.clock.now()
        # The lean path answers in the storing transaction: only for a caller that gives replies
        # now (without a window the replies would have nobody to carry them).
        lean = window is None or window > 0
        receipt = await self._store(arrival, now, urgent=urgent, nonce=nonce, lean=lean)
        if stored is not None:
            stored()
        if receipt.duplicate or receipt.row_id is None:
            return Fed(None, duplicate=True)
        row_id, origin = receipt.row_id, (arrival.channel, arrival.address, arrival.kind)
        if arrival.inbound is None:
            if arrival.kind in self.processor.special:  # e.g. a delivery report: off the path
                self.spawn(self.processor.process(row_id, origin=origin))
            return Fed(row_id)
        if receipt.replies is not None:  # answered in the storing transaction
            return Fed(row_id, replies=receipt.replies)
        if window is not None and window <= 0:
            self.spawn(self._push(row_id, origin, first))
            return Fed(row_id)
        if first is not None:
            await first()
        slot = ReplySlot()
        if window is None:
            return Fed(row_id, replies=await self.processor.process(row_id, slot, origin=origin))
        return await self._within(row_id, origin, slot, window)

    async def _within(self, row_id: int, origin: tuple[str, str, str], slot: ReplySlot,
                      window: float) -> Fed:
        """Process in the background and wait ``window`` seconds for the replies."""
        task = self.spawn(self.processor.process(row_id, slot, origin=origin))
        done, _ = await asyncio.wait({task}, timeout=window)
        if not done:
            if not slot.give_up():
                # Replies are being committed right now; wait a moment rather than lose them.
                done, _ = await asyncio.wait({task}, timeout=COMMIT_GRACE_SECONDS)
                if not done:
                    slot.abandon()  # the processor pushes them after all
            if not done:
                task.add_done_callback(lambda _: self.kick())
                return Fed(row_id, late=True)
        if task.cancelled() or task.exception() is not None:
            return Fed(row_id)
        return Fed(row_id, replies=task.result())

    async def _push(self, row_id: int, origin: tuple[str, str, str],
                    first: Callable[[], Awaitable[None]] | None) -> None:
        if first is not None:
            await first()
        await self.processor.process(row_id, origin=origin)
        self.kick()

    async def _store(self, arrival: Arrival, now: datetime, *, urgent: bool,
                     nonce: Nonce | None, lean: bool) -> Receipt:
        inbound = arrival.inbound
        payload = (inbound_payload(inbound, arrival.raw) if inbound is not None
                   else {"raw": dict(arrival.raw or {})})
        if lean and nonce is not None and inbound is not None:
            answered = await self._lean(arrival, inbound, nonce, payload, now)
            if answered is not None:
                return answered
        # What is no conversation and no kind the processor handles is kept, not processed.
        status = (InboxStatus.pending
                  if inbound is not None or arrival.kind in self.processor.special
                  else InboxStatus.ignored)

        async def store() -> Receipt:
            # One transaction for the replay memory and the inbox row: one commit, and the
            # channel's acknowledgement only after it.
            async with (self.db.urgent_session() if urgent else self.db.session()) as s:
                if nonce is not None and not await remember(
                        s, channel=nonce.channel, timestamp=nonce.timestamp, nonce=nonce.nonce,
                        digest=nonce.digest, expires_at=nonce.expires_at):
                    raise Replayed
                return await store_in(s, channel=arrival.channel, dedupe_key=arrival.dedupe_key,
                                      address=arrival.address, kind=arrival.kind,
                                      payload=payload, now=now, status=status)

        return await retry_dropped(store)

    async def _lean(self, arrival: Arrival, inbound: Inbound, nonce: Nonce,
                    payload: dict[str, Any], now: datetime) -> Receipt | None:
        """Store and answer a menu or help message in one transaction: its receipt, or None
        for the ordinary way. TimeoutError (SQLite locked by another process) goes up."""
        if self.lean is None or not lean_candidate(inbound):
            return None
        try:
            done = await self.lean.store_and_answer(nonce, dedupe_key=arrival.dedupe_key,
                                                    inbound=inbound, payload=payload, now=now)
        except TimeoutError:
            raise
        except Exception:  # e.g. a connection the server closed: the ordinary way retries
            self.lean.counted["failed"].inc()
            log.warning("%s: the lean path failed; storing the ordinary way", arrival.channel,
                        exc_info=True)
            return None
        if done.replay:
            raise Replayed
        return Receipt(done.row_id, done.duplicate, done.replies)
