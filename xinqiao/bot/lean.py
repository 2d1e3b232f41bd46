"""The lean hot path: store an ordinary message and answer it in one transaction.

A bound person asking for the menu or for help is most of what a chat service hears, and
the answer needs only who they are, their roles and where their conversation stands. For such
a message the callback's replay memory, the inbox row, that read, the state write and the
row's completion are one transaction of plain driver calls (:mod:`xinqiao.storage.lean_sql`),
answered only when this person's lock in this process is free. Everything else — and anything
here that turns out to need the ORM (a flow that reads the database, crisis words, an older
message of theirs still pending) — stores the row and goes the ordinary two-step way. The
platform gets its 200 only after the commit either way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.engine import HELP_WORDS, MENU_WORDS, Engine
from xinqiao.bot.inbox import valid_json
from xinqiao.bot.inbox_processor import InboxProcessor
from xinqiao.bot.lean_state import LeanState, StateColumns
from xinqiao.bot.lean_statements import (
    INBOX,
    NONCE,
    PERSON,
    STATE,
    close,
    state_save,
    statements,
)
from xinqiao.bot.lean_turn import NeedsORM, NoSession, run_now
from xinqiao.bot.metrics import Metrics
from xinqiao.handlers.flow import Context
from xinqiao.messages import Inbound, Reply
from xinqiao.services.directory import held_roles
from xinqiao.services.work import Work
from xinqiao.storage.callbacks import CallbackNonce, Nonce
from xinqiao.storage.lean_sql import Columns, LeanStore, Tx
from xinqiao.storage.models import (
    ChannelIdentity,
    ConversationState,
    InboxMessage,
    InboxStatus,
    Person,
    Role,
)
from xinqiao.vocabulary import PersonView, Tier

log = logging.getLogger(__name__)

_PEOPLE_KEPT = 10_000  # the first built goes when more are kept


@dataclass
class _Identity:
    """The writer's channel_identity for one lean turn (bound, reachable: they just wrote)."""

    id: int
    channel: str
    address: str
    person_id: int
    last_inbound_at: datetime
    reachable: bool = True


# The ``who`` row read with the nonce (PostgreSQL), in a 1-tuple: (None,) for a stranger;
# None when it is still to be read.
_Found = tuple[Sequence[Any] | None] | None


@dataclass(frozen=True)
class LeanOutcome:
    """What the lean transaction did: ``replay`` (nothing stored), a ``duplicate``, or a new
    row — answered (``replies``) or left for the ordinary processor (``replies`` None)."""

    row_id: int | None = None
    duplicate: bool = False
    replay: bool = False
    replies: list[Reply] | None = None


def lean_candidate(inbound: Inbound) -> bool:
    """Menu and help, typed or tapped: answered from who the person is and their state."""
    if inbound.event is not None or inbound.extra:
        return False
    if inbound.choice is not None:
        return inbound.choice in ("menu", "help")
    word = inbound.text.strip().lower()
    return word in MENU_WORDS or word in HELP_WORDS


class LeanPath:
    """Stores and answers lean candidates in one driver-level transaction."""

    def __init__(self, store: LeanStore, engine: Engine, processor: InboxProcessor,
                 metrics: Metrics | None = None) -> None:
        self.store = store
        self.engine = engine
        self.processor = processor
        dialect = store.dialect
        self.pg = not store.is_sqlite
        self._nonce = Columns(CallbackNonce.__table__, dialect,  # type: ignore[attr-defined]
                              NONCE)
        self._inbox = Columns(InboxMessage.__table__, dialect,  # type: ignore[attr-defined]
                              INBOX)
        self._person = Columns(Person.__table__, dialect, PERSON)  # type: ignore[attr-defined]
        self._state = StateColumns(ConversationState.__table__,  # type: ignore[attr-defined]
                                   dialect)
        self._seen = Columns(ChannelIdentity.__table__, dialect,  # type: ignore[attr-defined]
                             ("last_inbound_at", "reachable"))
        self._sql = statements(self.pg)
        self._people: dict[int, tuple[PersonView, frozenset[Role]]] = {}
        self._roster_version: int | None = None
        lean = (metrics or Metrics()).lean
        # The labelled children once: a lookup per message costs more than the increment.
        self.counted = {o: lean.labels(o) for o in ("answered", "stored", "failed")}

    def ready(self) -> bool:
        """Whether start-up has loaded what a turn needs (until then a lean transaction only
        stores, and the ordinary path waits for it outside any transaction)."""
        return self.processor.readiness.warm

    async def store_and_answer(
        self, nonce: Nonce, *, dedupe_key: str, inbound: Inbound, payload: dict[str, Any],
        now: datetime,
    ) -> LeanOutcome:
        """One transaction: remember the nonce, store the row, and answer it if it is lean.

        The person's lock is taken inside the transaction and only if it is free, never
        waited for: while this process handles an earlier message of theirs the row is only
        stored, and the ordinary processor answers it after that one. (Waiting for the lock
        first would hold every later message of theirs behind any wait for the database.)
        Raises what the database raises (nothing is stored then); TimeoutError when SQLite
        stays locked by someone else.
        """
        async with self.store.transaction() as tx:
            lock = self.processor.lock_for(inbound.channel, inbound.address)
            found: _Found = None
            if self.pg and not lock.locked() and self.ready():
                # One round trip: the nonce remembered and the writer read (and locked).
                opened = await tx.one(self._sql["open"], *self._nonce_values(nonce),
                                      inbound.channel, inbound.address)
                assert opened is not None  # the lateral join always gives one row
                fresh, found = bool(opened[0]), (tuple(opened[1:]),)
            else:
                fresh = await tx.one(self._sql["nonce"], *self._nonce_values(nonce)) is not None
            if not fresh and not await self._same_message(tx, nonce):
                return LeanOutcome(replay=True)
            if lock.locked() or not self.ready():
                row_id = await self._store(tx, dedupe_key, inbound, payload, now, None)
                replies = None
            else:
                async with lock:  # free: taken without yielding
                    row_id, replies = await self._store_answered(tx, dedupe_key, inbound,
                                                                 payload, now, found)
            if row_id is None:
                return LeanOutcome(duplicate=True)
        self.counted["answered" if replies is not None else "stored"].inc()  # committed
        return LeanOutcome(row_id=row_id, replies=replies)

    async def _store_answered(self, tx: Tx, dedupe_key: str, inbound: Inbound,
                              payload: dict[str, Any], now: datetime, found: _Found
                              ) -> tuple[int | None, list[Reply] | None]:
        """The turn first, then the row stored already answered (one write of it, never in
        the pending index), and the state saved; a row left pending when the message needs
        the ordinary processor. None for a duplicate (nothing of the turn is written)."""
        if found is None:
            read = await tx.one(self._sql["who"], inbound.channel, inbound.address)
            found = (None if read is None else tuple(read),)
        turn = await self._turn(tx, inbound, now, found[0])
        if turn is None:
            return await self._store(tx, dedupe_key, inbound, payload, now, None), None
        identity_id, state, fresh, replies = turn
        if self.pg and not fresh:
            # One round trip: the row, the state and the identity (none of it for a duplicate).
            written = self._state.changed(state)
            stored = await tx.one(close(written),
                                  *self._inbox_values(dedupe_key, inbound, payload, now,
                                                      replies),
                                  *self._state.bind(state, written), identity_id,
                                  *self._seen.bind([now, True]), identity_id)
            return (None if stored is None else int(stored[0])), replies
        row_id = await self._store(tx, dedupe_key, inbound, payload, now, replies)
        if row_id is not None:
            await self._write(tx, identity_id, state, fresh, now)
        return row_id, replies

    def _inbox_values(self, dedupe_key: str, inbound: Inbound, payload: dict[str, Any],
                      now: datetime, replies: list[Reply] | None) -> list[Any]:
        done = replies is not None
        return self._inbox.bind([
            inbound.channel, valid_json(dedupe_key)[:255], valid_json(inbound.address),
            "message", valid_json(payload),
            (InboxStatus.done if done else InboxStatus.pending).value, 1 if done else 0, now,
            done, now if done else None,
            [r.to_json() for r in replies] if replies is not None else None])

    async def _store(self, tx: Tx, dedupe_key: str, inbound: Inbound, payload: dict[str, Any],
                     now: datetime, replies: list[Reply] | None) -> int | None:
        """Insert the inbox row (done with ``replies``, else pending); None if its key is
        stored already."""
        stored = await tx.one(self._sql["inbox"],
                              *self._inbox_values(dedupe_key, inbound, payload, now, replies))
        return None if stored is None else int(stored[0])

    def _nonce_values(self, nonce: Nonce) -> list[Any]:
        return self._nonce.bind([nonce.channel, nonce.timestamp, nonce.nonce, nonce.digest,
                                 nonce.expires_at])

    async def _same_message(self, tx: Tx, nonce: Nonce) -> bool:
        """A used pair: the identical message again is the platform's retry (else a replay)."""
        seen = await tx.one(self._sql["nonce_seen"], nonce.channel, nonce.timestamp,
                            nonce.nonce)
        return seen is None or seen[0] == nonce.digest

    async def _turn(
        self, tx: Tx, inbound: Inbound, now: datetime, found: Sequence[Any] | None
    ) -> tuple[int, LeanState, bool, list[Reply]] | None:
        """Answer from who is writing (``found``, the ``who`` row) and where they stand,
        without the ORM; None when the message needs the ordinary path."""
        if found is None or found[0] is None or found[1] is None or found[2]:
            return None  # unknown, unbound, or an older message of theirs is still pending
        identity_id, person_id = int(found[0]), int(found[1])
        known = await self._who_is(tx, person_id, found[-1])
        if known is None or not known[0].active:
            return None
        person, roles = known
        fresh = found[-2] is None  # no conversation_state row yet
        state = (LeanState(identity_id, updated_at=now) if fresh
                 else self._state.read(identity_id, found[3:-2]))
        identity = _Identity(identity_id, inbound.channel, inbound.address, person_id, now)
        # The identity's other columns stay as stored: only these two are written back.
        # Plain objects stand in for the identity and state rows: building ORM objects costs
        # more than the reads (a lean turn only reads and sets their attributes).
        ctx = Context(work=Work(cast(AsyncSession, NoSession())), clock=self.engine.clock,
                      settings=self.engine.settings, identity=cast(ChannelIdentity, identity),
                      person=person, roles=roles, state=cast(ConversationState, state),
                      inbound=inbound, flows=self.engine.flows)
        try:
            replies = run_now(self.engine.respond(ctx))
        except NeedsORM:
            return None
        except Exception:  # a bug here must not lose the message: the ordinary path records it
            log.exception("lean turn failed; the message goes the ordinary way")
            return None
        if not identity.reachable:
            return None
        return identity_id, state, fresh, replies

    async def _who_is(self, tx: Tx, person_id: int, version: int | None
                      ) -> tuple[PersonView, frozenset[Role]] | None:
        """The person and their roles: kept per process while the roster version (read in
        this transaction, before them) stays the same; every change to people or roles bumps
        it (database triggers), so a change is seen on the next message. Only read here."""
        if version != self._roster_version:
            self._people.clear()
            self._roster_version = version
        known = self._people.get(person_id)
        if known is not None:
            return known
        row = await tx.one(self._sql["person"], person_id)
        if row is None:
            return None
        values = self._person.read(row)
        person = PersonView(**{**values, "tier": Tier(values["tier"])})
        roles = held_roles(Role(r[0]) for r in await tx.all(self._sql["roles"], person_id))
        known = person, roles
        if version is not None:  # no version row: nothing can say when it changes
            if len(self._people) >= _PEOPLE_KEPT:
                self._people.pop(next(iter(self._people)))
            self._people[person_id] = known
        return known

    async def _write(self, tx: Tx, identity_id: int, state: LeanState, fresh: bool,
                     now: datetime) -> None:
        if fresh:
            await tx.run(self._sql["state_new"], *self._state.bind(state, STATE), identity_id)
        else:
            written = self._state.changed(state)
            await tx.run(state_save(written), *self._state.bind(state, written), identity_id)
        await tx.run(self._sql["seen"], *self._seen.bind([now, True]), identity_id)

