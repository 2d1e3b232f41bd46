"""Plain driver calls for the webhook's hot path, without SQLAlchemy's async layer.

SQLAlchemy's async execution costs ~400 µs per one-row statement here, against ~7 µs for
sqlite3 called on the event loop and ~60 µs for an asyncpg prepared statement (issue 18). The
few statements of an ordinary message go straight to the driver; values are converted by the
columns' own SQLAlchemy type processors, so timestamps, JSON and encrypted columns are stored
exactly as the ORM stores them.

SQLite: a second connection in the loop's thread with ``busy_timeout=0`` never waits inside
SQLite (which would freeze the loop); a busy write lock is retried with ``asyncio.sleep`` up
to a deadline, then the callback answers 503; a thread checkpoints the WAL now and then.
PostgreSQL: a small asyncpg pool of its own (prepared statements, SQLAlchemy's JSON codec).
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Table
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from xinqiao.storage.db import Database
from xinqiao.storage.sqlite_wait import URGENT_BUSY_MS, URGENT_QUEUE_SECONDS
from xinqiao.storage.wal import WAL_LIMIT_BYTES

_CHECKPOINT_EVERY = 500  # commits between restarting WAL checkpoints (storage/wal.py)
_PG_CONNECTIONS = 8  # beside the engine's pool; one hot-path transaction is ~1 ms


class Tx(Protocol):
    """One open transaction: statements written with ``?`` placeholders."""

    async def one(self, sql: str, *params: Any) -> Sequence[Any] | None:
        """The first row, or None."""
        ...

    async def all(self, sql: str, *params: Any) -> list[Sequence[Any]]:
        """Every row."""
        ...

    async def run(self, sql: str, *params: Any) -> None:
        """A statement without rows."""
        ...


class Columns:
    """Bind and result conversion for some columns of a table, as the ORM does it."""

    def __init__(self, table: Table, dialect: Dialect, names: Sequence[str]) -> None:
        self.names = tuple(names)
        cols = [table.c[n] for n in names]
        self._bind = [c.type._cached_bind_processor(dialect) for c in cols]
        self._result = [c.type._cached_result_processor(dialect, None) for c in cols]

    def bind(self, values: Sequence[Any]) -> list[Any]:
        """Python values → driver values, in ``names`` order."""
        return [v if p is None or v is None else p(v)
                for p, v in zip(self._bind, values, strict=True)]

    def read(self, row: Sequence[Any]) -> dict[str, Any]:
        """Driver values → Python values, keyed by column name."""
        return {n: (v if p is None else p(v))
                for n, p, v in zip(self.names, self._result, row, strict=True)}


class LeanStore:
    """Opens hot-path transactions on the service's database; counts the statements."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.dialect = db.engine.dialect
        self.is_sqlite = db.is_sqlite
        self.statements = 0
        self._sqlite: sqlite3.Connection | None = None
        self._path = make_url(db.url).database or ""
        self._commits = 0
        self._pg_pool: Any = None
        self._opening = asyncio.Lock()
        self._gate: asyncio.Future[None] | None = None  # one queues for the pool; the rest wait

    @property
    def available(self) -> bool:
        """False for an in-memory SQLite database (a second connection would see another)."""
        return not self.is_sqlite or self._path not in ("", ":memory:")

    @asynccontextmanager
    async def transaction(self, *, deadline: float = URGENT_BUSY_MS / 1000
                          ) -> AsyncIterator[Tx]:
        """A write transaction; TimeoutError when SQLite's write lock stays taken past
        ``deadline`` seconds. Committed when the block ends, rolled back on error."""
        if self.is_sqlite:
            async with self._sqlite_tx(deadline) as tx:
                yield tx
        else:
            async with self._pg_tx() as tx:
                yield tx

    # --- SQLite -------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._sqlite is None:
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=0",
                           "foreign_keys=ON", "wal_autocheckpoint=0",
                           f"journal_size_limit={WAL_LIMIT_BYTES}"):
                conn.execute(f"PRAGMA {pragma}")
            self._sqlite = conn
            self.db.closers.append(self.close)
        return self._sqlite

    @asynccontextmanager
    async def _sqlite_tx(self, deadline: float) -> AsyncIterator[Tx]:
        # Take the write lock at once if nobody holds it or is waiting for it: from then on
        # this transaction never yields the loop, and is done before anyone else could ask.
        # Whether the pool's connection is checked out says nothing here (its holder may not
        # have begun, or be a transaction like this one handing it back; treating that as
        # busy fed itself under load). This process's own ORM transactions begin IMMEDIATE
        # on the pool's one connection: while one waits for the lock or holds it, one of
        # these queues for that connection like any urgent write, so the ORM is never
        # starved by a stream of them and the only wait left is on another process; the
        # rest wait for that one's turn rather than each take the connection in turn (a
        # hand-over through the driver's thread apiece: seconds for a queue of 32).
        conn = self._connection()
        watch = self.db.lock_watch
        while True:
            if watch.waiting_since is None and _begin(conn):
                async with self._sqlite_body(conn) as tx:
                    yield tx
                return
            gate = self._gate
            if gate is None:
                break
            await asyncio.wait({gate})  # never cancels the shared future
            if gate.exception() is not None:
                raise TimeoutError("the database is locked by another process")
        gate = self._gate = asyncio.get_running_loop().create_future()
        try:
            held = await self._held(deadline)
        except Exception as exc:
            self._gate = None
            gate.set_exception(exc)  # those waiting fail alike (another process has the lock)
            gate.exception()  # retrieved: nobody may be waiting
            raise
        except BaseException:
            self._gate = None
            gate.set_result(None)  # cancelled: those waiting try again themselves
            raise
        self._gate = None
        gate.set_result(None)  # the lock is ours: those waiting go next, once it is free
        try:
            async with self._sqlite_body(conn) as tx:
                yield tx
        finally:
            await held.close()

    async def _held(self, deadline: float) -> AsyncConnection:
        """The pool's connection, queued for like any urgent write, and the write lock taken
        on ours; TimeoutError when another process keeps the lock."""
        held = self.db.engine.connect()
        await self.db.lock_watch.checkout_urgent(held)
        try:
            start, pause = time.monotonic(), 0.001
            while not _begin(self._connection()):
                # Our own checkpoint holds writers off while it copies: moving work of this
                # process, waited for as long as a queue behind our own transactions.
                if (self.db.lock_watch.elsewhere_for(start) >= deadline
                        or time.monotonic() - start >= URGENT_QUEUE_SECONDS):
                    raise TimeoutError("the database is locked by another process")
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)
        except BaseException:
            await held.close()
            raise
        return held

    @asynccontextmanager
    async def _sqlite_body(self, conn: sqlite3.Connection) -> AsyncIterator[Tx]:
        try:
            yield _SqliteTx(conn, self)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        self._commits += 1
        if self._commits % _CHECKPOINT_EVERY == 0 and self.db.wal is not None:
            # In a thread with its own connection: the loop's connection never waits on disk.
            self.db.wal.checkpoint()

    # --- PostgreSQL ---------------------------------------------------------------------

    @asynccontextmanager
    async def _pg_tx(self) -> AsyncIterator[Tx]:
        pool = self._pg_pool or await self._open_pool()
        async with pool.acquire() as conn, conn.transaction():
            # A connection the server closed raises here; asyncpg's pool replaces it, and the
            # caller takes the ordinary path, whose retry renews the engine's pool too.
            yield _PgTx(conn, self)

    async def _open_pool(self) -> Any:
        import asyncpg  # only on PostgreSQL

        async with self._opening:
            if self._pg_pool is None:
                url = make_url(self.db.url)
                self._pg_pool = await asyncpg.create_pool(
                    host=url.host, port=url.port, user=url.username, password=url.password,
                    database=url.database, min_size=1, max_size=_PG_CONNECTIONS, timeout=3,
                    init=_json_codec, reset=_no_reset)
                self.db.closers.append(self.close)
        return self._pg_pool

    async def close(self) -> None:
        """Close what this store opened."""
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
        if self._pg_pool is not None:
            pool, self._pg_pool = self._pg_pool, None
            await pool.close()


async def _json_codec(conn: Any) -> None:
    """JSON as SQLAlchemy's asyncpg dialect has it, so the columns' processors fit."""
    await conn.set_type_codec("json", encoder=str.encode, schema="pg_catalog", format="binary",
                              decoder=lambda raw: json.loads(raw.decode()))


async def _no_reset(conn: Any) -> None:
    """No reset query on release (a round trip): the hot path sets no session state; the pool
    still rolls back a transaction left open (asyncpg's release does so before this)."""


def _begin(conn: sqlite3.Connection) -> bool:
    """Take the write lock now, or False when another connection holds it (never waits)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    return True


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection, store: LeanStore) -> None:
        self.conn, self.store = conn, store

    async def one(self, sql: str, *params: Any) -> Sequence[Any] | None:
        self.store.statements += 1
        row: Sequence[Any] | None = self.conn.execute(sql, params).fetchone()
        return row

    async def all(self, sql: str, *params: Any) -> list[Sequence[Any]]:
        self.store.statements += 1
        return list(self.conn.execute(sql, params).fetchall())

    async def run(self, sql: str, *params: Any) -> None:
        self.store.statements += 1
        self.conn.execute(sql, params)


_PG_SQL: dict[str, str] = {}


def _pg(sql: str) -> str:
    """``?`` placeholders as asyncpg's ``$1, $2 …``."""
    found = _PG_SQL.get(sql)
    if found is None:
        parts = sql.split("?")
        found = parts[0] + "".join(f"${i}{p}" for i, p in enumerate(parts[1:], 1))
        _PG_SQL[sql] = found
    return found


class _PgTx:
    def __init__(self, conn: Any, store: LeanStore) -> None:
        self.conn, self.store = conn, store

    async def one(self, sql: str, *params: Any) -> Sequence[Any] | None:
        self.store.statements += 1
        row: Sequence[Any] | None = await self.conn.fetchrow(_pg(sql), *params)
        return row

    async def all(self, sql: str, *params: Any) -> list[Sequence[Any]]:
        self.store.statements += 1
        return list(await self.conn.fetch(_pg(sql), *params))

    async def run(self, sql: str, *params: Any) -> None:
        self.store.statements += 1
        await self.conn.execute(_pg(sql), *params)
