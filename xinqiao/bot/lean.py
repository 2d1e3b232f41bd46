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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.engine import HELP_WORDS, MENU_WORDS, Engine
from xinqiao.bot.inbox import valid_json
from xinqiao.bot.inbox_processor import InboxProcessor
from xinqiao.bot.lean_turn import NeedsORM, NoSession, run_now
from xinqiao.bot.metrics import Metrics
from xinqiao.handlers.flow import Context
from xinqiao.messages import Inbound, Reply
from xinqiao.services.directory import STUDENT_ROLES, person_view
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
from xinqiao.vocabulary import PersonView

log = logging.getLogger(__name__)

_PERSON = tuple(c.name for c in Person.__table__.columns)  # type: ignore[attr-defined]
_PEOPLE_KEPT = 10_000  # the first built goes when more are kept
_STATE = ("flow", "step", "data", "suspended", "choices", "version", "updated_at")
_INBOX = ("channel", "dedupe_key", "address", "kind", "payload", "status", "attempts",
          "received_at", "replied_passively", "processed_at", "reply")


@dataclass
class _State:
    """A conversation_state row's values for one lean turn."""

    identity_id: int
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    suspended: dict[str, Any] = field(default_factory=dict)
    choices: list[list[str]] = field(default_factory=list)
    version: int = 0
    updated_at: datetime | None = None


@dataclass
class _Identity:
    """The writer's channel_identity for one lean turn (bound, reachable: they just wrote)."""

    id: int
    channel: str
    address: str
    person_id: int
    last_inbound_at: datetime
    reachable: bool = True


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
                              ("channel", "timestamp", "nonce", "digest", "expires_at"))
        self._inbox = Columns(InboxMessage.__table__, dialect,  # type: ignore[attr-defined]
                              _INBOX)
        self._person = Columns(Person.__table__, dialect, _PERSON)  # type: ignore[attr-defined]
        self._state = Columns(ConversationState.__table__, dialect,  # type: ignore[attr-defined]
                              _STATE)
        self._seen = Columns(ChannelIdentity.__table__, dialect,  # type: ignore[attr-defined]
                             ("last_inbound_at", "reachable"))
        self._sql = _statements(self.pg)
        self._people: dict[int, tuple[tuple[Any, ...], PersonView]] = {}
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
            if not await self._remember(tx, nonce):
                return LeanOutcome(replay=True)
            lock = self.processor.lock_for(inbound.channel, inbound.address)
            if lock.locked() or not self.ready():
                row_id = await self._store(tx, dedupe_key, inbound, payload, now, None)
                replies = None
            else:
                async with lock:  # free: taken without yielding
                    row_id, replies = await self._store_answered(tx, dedupe_key, inbound,
                                                                 payload, now)
            if row_id is None:
                return LeanOutcome(duplicate=True)
        self.counted["answered" if replies is not None else "stored"].inc()  # committed
        return LeanOutcome(row_id=row_id, replies=replies)

    async def _store_answered(self, tx: Tx, dedupe_key: str, inbound: Inbound,
                              payload: dict[str, Any], now: datetime
                              ) -> tuple[int | None, list[Reply] | None]:
        """The turn first, then the row stored already answered (one write of it, never in
        the pending index), and the state saved; a row left pending when the message needs
        the ordinary processor. None for a duplicate (nothing of the turn is written)."""
        turn = await self._turn(tx, inbound, now)
        if turn is None:
            return await self._store(tx, dedupe_key, inbound, payload, now, None), None
        identity_id, state, fresh, replies = turn
        row_id = await self._store(tx, dedupe_key, inbound, payload, now, replies)
        if row_id is not None:
            await self._write(tx, identity_id, state, fresh, now)
        return row_id, replies

    async def _store(self, tx: Tx, dedupe_key: str, inbound: Inbound, payload: dict[str, Any],
                     now: datetime, replies: list[Reply] | None) -> int | None:
        """Insert the inbox row (done with ``replies``, else pending); None if its key is
        stored already."""
        done = replies is not None
        values = self._inbox.bind([
            inbound.channel, valid_json(dedupe_key)[:255], valid_json(inbound.address),
            "message", valid_json(payload),
            (InboxStatus.done if done else InboxStatus.pending).value, 1 if done else 0, now,
            done, now if done else None,
            [r.to_json() for r in replies] if replies is not None else None])
        stored = await tx.one(self._sql["inbox"], *values)
        return None if stored is None else int(stored[0])

    async def _remember(self, tx: Tx, nonce: Nonce) -> bool:
        values = self._nonce.bind([nonce.channel, nonce.timestamp, nonce.nonce, nonce.digest,
                                   nonce.expires_at])
        if await tx.one(self._sql["nonce"], *values) is not None:
            return True
        seen = await tx.one(self._sql["nonce_seen"], nonce.channel, nonce.timestamp,
                            nonce.nonce)
        # The identical message again under the same pair is the platform's retry.
        return seen is None or seen[0] == nonce.digest

    async def _turn(
        self, tx: Tx, inbound: Inbound, now: datetime
    ) -> tuple[int, _State, bool, list[Reply]] | None:
        """Read who is writing and where they stand, and answer without the ORM; None when
        the message needs the ordinary path."""
        found = await tx.one(self._sql["who"], inbound.channel, inbound.address)
        if found is None or found[1] is None or found[2]:
            return None  # unknown, unbound, or an older message of theirs is still pending
        identity_id, person_id = int(found[0]), int(found[1])
        person_row = await tx.one(self._sql["person"], person_id)
        if person_row is None:
            return None
        person = self._person_of(person_id, tuple(person_row))
        if not person.active:
            return None
        roles = frozenset(Role(r[0]) for r in await tx.all(self._sql["roles"], person_id))
        roles = roles | {Role.student} if roles & STUDENT_ROLES else roles
        fresh = found[-1] is None  # no conversation_state row yet
        state = (_State(identity_id, updated_at=now) if fresh
                 else _State(identity_id, **self._state.read(found[3:-1])))
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

    def _person_of(self, person_id: int, row: tuple[Any, ...]) -> PersonView:
        """The person of this row, built once while the row reads the same (building an ORM
        object costs more than the read). A lean turn only reads it."""
        cached = self._people.get(person_id)
        if cached is not None and cached[0] == row:
            return cached[1]
        person = person_view(Person(**self._person.read(row)))
        if len(self._people) >= _PEOPLE_KEPT:
            self._people.pop(next(iter(self._people)))
        self._people[person_id] = (row, person)
        return person

    async def _write(self, tx: Tx, identity_id: int, state: _State, fresh: bool,
                     now: datetime) -> None:
        values = self._state.bind([state.flow, state.step, state.data, state.suspended,
                                   state.choices, state.version, state.updated_at])
        await tx.run(self._sql["state_new" if fresh else "state_save"], *values, identity_id)
        await tx.run(self._sql["seen"], *self._seen.bind([now, True]), identity_id)


def _statements(pg: bool) -> dict[str, str]:
    """The hot path's SQL, ``?`` placeholders (asyncpg's are derived from them).

    Only the module's own column-name constants are formatted in; every value is a parameter.
    """
    person = ", ".join(_PERSON)
    inbox, marks = ", ".join(_INBOX), ", ".join("?" for _ in _INBOX)
    state_cols = ", ".join(f"s.{c}" for c in _STATE)
    # The identity row is locked (PostgreSQL) as the ordinary path locks it: one person's
    # messages are handled one at a time across processes.
    who = " ".join((
        "SELECT i.id, i.person_id, EXISTS (SELECT 1 FROM inbox_message m WHERE",
        "m.channel = i.channel AND m.address = i.address AND m.status = 'pending'),",
        f"{state_cols}, s.identity_id FROM channel_identity i",
        "LEFT JOIN conversation_state s ON s.identity_id = i.id",
        "WHERE i.channel = ? AND i.address = ?", "FOR UPDATE OF i" if pg else ""))
    return {
        "nonce": "INSERT INTO callback_nonce (channel, timestamp, nonce, digest, expires_at) "
                 "VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, timestamp, nonce) DO NOTHING "
                 "RETURNING nonce",
        "nonce_seen": "SELECT digest FROM callback_nonce WHERE channel = ? AND timestamp = ? "
                      "AND nonce = ?",
        "inbox": f"INSERT INTO inbox_message ({inbox}) VALUES ({marks}) "  # noqa: S608
                 "ON CONFLICT (channel, dedupe_key) DO NOTHING RETURNING id",
        "who": who,
        "person": f"SELECT {person} FROM person WHERE id = ?",  # noqa: S608
        "roles": "SELECT DISTINCT role FROM role_assignment WHERE person_id = ?",
        "state_save": "UPDATE conversation_state SET flow = ?, step = ?, data = ?, "
                      "suspended = ?, choices = ?, version = ?, updated_at = ? "
                      "WHERE identity_id = ?",
        "state_new": "INSERT INTO conversation_state (flow, step, data, suspended, choices, "
                     "version, updated_at, identity_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "seen": "UPDATE channel_identity SET last_inbound_at = ?, reachable = ? WHERE id = ?",
    }
