"""SQLite's one writer: who waits for the write lock, and for how long.

The service keeps one SQLite connection and queues for it in asyncio (see
:class:`~xinqiao.storage.db.Database`). Background work (the sweeper, the notifier, the inbox
recovery) waits patiently: for the connection, then up to 30 s for the file's write lock. A
write someone is waiting on — storing a platform's callback, which WeChat abandons after 5 s —
must not: while another process holds the write lock (a maintenance script, a backup tool, a
second ``serve`` on the same file), it fails within a second and the callback answers 503, so
the platform retries instead of timing out. Queueing behind this process's own work, which is
moving, is allowed for longer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import ConnectionPoolEntry

from xinqiao.storage.wal import WAL_LIMIT_BYTES

PATIENT_BUSY_MS = 30_000  # background work waits this long for the write lock
URGENT_BUSY_MS = 500  # an urgent transaction's own wait for the write lock
URGENT_QUEUE_SECONDS = 3.0  # at most this long behind this process's own (moving) work
STUCK_SECONDS = 0.25  # a BEGIN waiting this long means another process holds the lock
_POLL = 0.05
BUSY_OPTION = "xinqiao_busy_ms"  # execution option and connection info key


def on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """Per-connection settings of every SQLite connection."""
    cur = dbapi_conn.cursor()
    # WAL lets readers run beside the one writer; busy_timeout makes writers queue instead of
    # failing; foreign keys are off by default in SQLite.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA busy_timeout={PATIENT_BUSY_MS}")
    cur.execute("PRAGMA foreign_keys=ON")
    # A writer that starts the WAL over cuts the file back to this (storage/wal.py).
    cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
    cur.close()


class LockWatch:
    """Begins every transaction with ``BEGIN IMMEDIATE`` and knows how long one has waited."""

    def __init__(self, ours_until: Callable[[], float] = lambda: 0.0) -> None:
        self.waiting_since: float | None = None
        # Until when our own WAL checkpoint held writers off (infinity while it does): moving
        # work of this process, not another's lock (storage/wal.py).
        self.ours_until = ours_until

    def begin(self, conn: Any) -> None:
        """The engine's ``begin`` listener."""
        # A deferred transaction that later writes can fail at once with SQLITE_BUSY when
        # another writer got there first; taking the write lock at BEGIN makes writers wait
        # their turn. How long is per transaction (short for an urgent one); the pooled
        # connection remembers its setting, so the PRAGMA runs only when it changes.
        busy = int(conn.get_execution_options().get(BUSY_OPTION, PATIENT_BUSY_MS))
        info = conn.connection.info
        if info.get(BUSY_OPTION, PATIENT_BUSY_MS) != busy:
            conn.exec_driver_sql(f"PRAGMA busy_timeout={busy}")
            info[BUSY_OPTION] = busy
        self.waiting_since = time.monotonic()
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            self.waiting_since = None

    def elsewhere_for(self, since: float) -> float:
        """Seconds of a wait for the write lock begun at ``since`` (``time.monotonic()``) spent
        on someone else's: counted from when our own checkpoint let go, if later."""
        return time.monotonic() - max(since, self.ours_until())

    def locked_elsewhere(self) -> bool:
        """Whether the transaction holding our connection is stuck on another's write lock."""
        since = self.waiting_since
        return since is not None and self.elsewhere_for(since) >= STUCK_SECONDS

    async def checkout_urgent(self, conn: AsyncConnection) -> None:
        """Get ``conn`` its pooled connection, short for an urgent transaction.

        Raises TimeoutError when whoever holds the connection is stuck on the write lock, or
        after :data:`URGENT_QUEUE_SECONDS`. Only the queueing is ever cancelled, never a
        statement.
        """
        give_up = time.monotonic() + URGENT_QUEUE_SECONDS
        waiting = asyncio.ensure_future(conn.start())
        try:
            while True:
                done, _ = await asyncio.wait({waiting}, timeout=_POLL)
                if done:
                    waiting.result()
                    break
                if self.locked_elsewhere():
                    raise TimeoutError("the database is locked by another process")
                if time.monotonic() >= give_up:
                    raise TimeoutError("the database connection stayed busy")
        except BaseException:
            waiting.cancel()
            with suppress(BaseException):
                await waiting
            if waiting.done() and not waiting.cancelled() and waiting.exception() is None:
                await conn.close()  # it arrived as we gave up: hand it back
            raise
        await conn.execution_options(**{BUSY_OPTION: URGENT_BUSY_MS})
