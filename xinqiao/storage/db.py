"""The database: one async engine per process, sessions, and backend-specific set-up."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.crypto import KeyRing, install, key_ring_for
from xinqiao.storage.sqlite_wait import LockWatch, on_connect
from xinqiao.storage.wal import WalKeeper

log = logging.getLogger(__name__)
_T = TypeVar("_T")


def private_sqlite_file(url: str) -> None:
    """Create a SQLite database file 0600 (and tighten an existing one, its -wal and -shm).

    It holds names, chat-account links and tiers. SQLite creates -wal and -shm with the mode
    of the database file, so a private database file keeps them private too.
    """
    parsed = make_url(url)
    if not parsed.database or parsed.database == ":memory:" or os.name != "posix":
        return
    path = Path(parsed.database)
    if not path.parent.is_dir():
        return  # SQLite will report the missing directory itself
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if file.stat().st_mode & 0o077:
                file.chmod(0o600)
                log.warning("%s could be read by other users; it is 0600 now", file)
        except FileNotFoundError:
            continue
        except PermissionError:  # not ours to change: say so, keep running
            log.warning("%s can be read by other users; chmod 600 it", file)


class Database:
    """Owns the engine and hands out sessions and transactions.

    ``keys`` encrypt the sensitive columns; by default they come from ``XINQIAO_DATA_KEYS``
    (or a key file beside a SQLite database), and a PostgreSQL URL without keys raises
    :class:`~xinqiao.storage.crypto.DataKeyError` here, before anything starts.
    """

    def __init__(self, url: str, *, echo: bool = False, keys: KeyRing | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        path = (make_url(url).database or "") if self.is_sqlite else ""
        # A file's write-ahead log is kept bounded (an in-memory database has none).
        self.wal = WalKeeper(path) if path not in ("", ":memory:") else None
        if self.is_sqlite:
            private_sqlite_file(url)
        self.keys = keys if keys is not None else key_ring_for(url)
        # Parameters may hold tokens and sensitive text: keep them out of error messages.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"isolation_level": None, "timeout": 30}
            # SQLite has one writer at a time. Queue for a single connection in asyncio rather
            # than let many connections spin in SQLite's busy handler, whose sleeps grow to
            # 100 ms each and wreck latency under load.
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=30)
        else:
            # No pre-ping: a round trip on every checkout costs more than the rare restart it
            # guards against. A connection the server closed (restart, failover) fails its
            # first statement instead; SQLAlchemy then invalidates the whole pool, and the
            # callers that matter try once more (``retry_dropped``). Recycle retires
            # connections before firewalls and poolers cut idle ones; a 3 s connect timeout
            # keeps a callback's answer (503) inside WeChat's 5 s window even when the
            # database host does not answer at all.
            kwargs.update(pool_size=10, max_overflow=10, pool_timeout=5,
                          pool_recycle=1800, connect_args={"timeout": 3})
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self.lock_watch = LockWatch() if self.wal is None else LockWatch(self.wal.held_until)
        install(self.engine, self.keys)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", on_connect)
            event.listen(self.engine.sync_engine, "begin", self.lock_watch.begin)
        # Connections opened beside the engine (the webhook's hot path) close with it.
        self.closers: list[Callable[[], Awaitable[None]]] = []
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on success and rolled back on error."""
        async with self._sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def urgent_session(self) -> AsyncIterator[AsyncSession]:
        """A session for a write someone is waiting on, e.g. storing a platform's callback.

        On SQLite, while another process holds the write lock, it fails within a second
        (``TimeoutError`` or "database is locked", see :mod:`xinqiao.storage.sqlite_wait`)
        instead of waiting out the patient busy timeout, so the callback is answered 503 and
        the platform retries. PostgreSQL's pool and connect timeouts bound it there.
        """
        if not self.is_sqlite:
            async with self.session() as session:
                yield session
            return
        conn = self.engine.connect()
        await self.lock_watch.checkout_urgent(conn)
        try:
            async with self._sessions(bind=conn) as session:
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
        finally:
            await conn.close()

    async def ping(self) -> None:
        """Raise if the database cannot answer a trivial query (on SQLite: take the write
        lock, as storing a callback must, within the urgent time)."""
        if self.is_sqlite:
            async with self.urgent_session() as session:
                await (await session.connection()).execute(text("SELECT 1"))
            return

        async def select_one() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await retry_dropped(select_one)

    async def dispose(self) -> None:
        """Close every pooled connection (and those opened beside the engine)."""
        for close in self.closers:
            await close()
        self.closers.clear()
        await self.engine.dispose()


def dropped(exc: BaseException) -> bool:
    """Whether ``exc`` says the server had closed the connection (SQLAlchemy has invalidated
    the pool, so the next checkout connects afresh)."""
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


async def retry_dropped(work: Callable[[], Awaitable[_T]]) -> _T:
    """Run ``work`` (a whole transaction); once more if the server had dropped the connection.

    Instead of a ping per checkout: after a database restart the first statement on each old
    connection fails, nothing of that transaction was committed, and the pool is fresh.
    """
    try:
        return await work()
    except DBAPIError as exc:
        if not dropped(exc):
            raise
        log.info("database connection was closed by the server; trying once more")
        return await work()


def dialect_name(session: AsyncSession) -> str:
    """``sqlite`` or ``postgresql``: the backend a session talks to."""
    bind = session.bind
    if bind is None:
        raise RuntimeError("session is not bound to an engine")
    return bind.dialect.name


def open_database(settings: Any) -> Database:
    """The database of these settings, encrypting with their data keys when given."""
    secret = getattr(settings, "data_keys", None)
    keys = secret.get_secret_value() if secret is not None else None
    return Database(settings.database_url, keys=key_ring_for(settings.database_url, keys))
