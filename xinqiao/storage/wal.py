"""Keeping SQLite's write-ahead log bounded while the service writes without pause.

SQLite starts its WAL file over only when a checkpoint has copied every frame back into the
database and no reader still needs one. The automatic (passive) checkpoints never get there
while commits keep arriving, so under steady traffic the file grows without end (0.5 GB after
12,000 menus) and every page read searches a longer index. Now and then a thread here runs a
``RESTART`` checkpoint: it holds new writers off for as long as it copies (the hot path retries
off the loop and, as behind any of this process's own work, waits longer than for another
process; the ORM's writers wait in their thread), waits a bounded time for readers, and
the next writer then starts the file over and cuts it back to :data:`WAL_LIMIT_BYTES`. When it
cannot get the lock or the readers in time it does what a passive checkpoint does and tries
again later.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sqlite3
import time
from contextlib import closing

log = logging.getLogger(__name__)

WAL_LIMIT_BYTES = 16 * 2**20  # journal_size_limit: the file is cut back to this on a restart
CHECK_SECONDS = 30.0  # how often the service looks at the file's size beside the hot path
_BUSY_MS = 250  # the checkpoint's wait for the write lock and for readers, then it gives up


class WalKeeper:
    """Runs a restarting checkpoint in a thread when asked, never two at once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.checkpoints = 0  # restarting checkpoints that completed (tests read it)
        self._running: asyncio.Future[None] | None = None
        self._ended = 0.0

    def size(self) -> int:
        """The WAL file's size in bytes now (0 when there is none)."""
        try:
            return os.stat(self.path + "-wal").st_size
        except FileNotFoundError:
            return 0

    def held_until(self) -> float:
        """Until when (``time.monotonic()``) a checkpoint of ours held writers off: infinity
        while one runs, 0 before the first. A writer's wait counts from then: one that was
        asleep in SQLite's busy handler needs a moment to notice the lock is free."""
        if self._running is not None and not self._running.done():
            return math.inf
        return self._ended

    def checkpoint(self) -> asyncio.Future[None]:
        """Start a restarting checkpoint in a thread unless one runs; the running one."""
        if self._running is None or self._running.done():
            self._running = asyncio.get_running_loop().run_in_executor(None, self._restart)
        return self._running

    async def keep(self) -> None:
        """Checkpoint when the file has outgrown its limit (the interval job's work)."""
        if self.size() > WAL_LIMIT_BYTES:
            await self.checkpoint()

    def _restart(self) -> None:
        try:
            self._copy()
        finally:
            self._ended = time.monotonic()

    def _copy(self) -> None:
        try:
            with closing(sqlite3.connect(self.path, timeout=_BUSY_MS / 1000,
                                         isolation_level=None)) as conn:
                # Most frames are copied first without holding writers off; the restart then
                # has only those committed meanwhile to copy while it holds them off.
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        except sqlite3.Error as exc:  # the next trigger tries again
            log.warning("WAL checkpoint failed: %s", exc)
            return
        if not busy:
            self.checkpoints += 1
