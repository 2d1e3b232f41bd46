"""SQLite's write-ahead log stays bounded while messages keep arriving (issue 18).

A passive checkpoint never lets SQLite start its log over while commits keep coming, so under
steady traffic the file grew without end (0.5 GB after 12,000 menus in `bench/webhook.py`):
disk a school's server does not have, and slower reads as the log's index grows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from xinqiao.storage import wal
from xinqiao.storage.db import Database
from xinqiao.storage.lean_sql import LeanStore

ROW = "x" * 1500  # about an inbox row's size: a page or so of log per commit


async def _writes(store: LeanStore, count: int) -> None:
    """``count`` hot-path commits, back to back as under load (the loop is yielded to only
    when the write lock is taken, as a callback's would be)."""
    for _ in range(count):
        async with store.transaction() as tx:
            await tx.run("INSERT INTO note (body) VALUES (?)", ROW)


async def test_the_log_is_started_over_while_commits_keep_coming(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'steady.db'}")
    store = LeanStore(db)
    try:
        async with store.transaction() as tx:
            await tx.run("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
        assert db.wal is not None
        await _writes(store, 6000)
        await db.wal.checkpoint()  # the one the last 500 commits asked for, if still running
        await _writes(store, 1)  # starts the log over
        # Without a restarting checkpoint every one of the 6,000 commits stays in the log
        # (about 50 MB); with it the log starts over every 500 commits or so, and a file that
        # grew past the limit meanwhile (a checkpoint late on a busy machine) is cut back.
        assert db.wal.size() <= wal.WAL_LIMIT_BYTES, db.wal.size()
        assert db.wal.checkpoints >= 2
        # Nothing written was lost on the way.
        async with store.transaction() as tx:
            count = await tx.one("SELECT count(*) FROM note")
        assert count is not None and count[0] == 6001
    finally:
        await db.dispose()


async def test_a_log_over_its_limit_is_started_over_by_the_interval_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'grown.db'}")
    store = LeanStore(db)
    try:
        keeper = db.wal
        assert keeper is not None
        async with store.transaction() as tx:
            await tx.run("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)")
        await _writes(store, 400)  # under the hot path's own checkpoint interval
        grown = keeper.size()
        assert grown > 2**20
        await keeper.keep()  # under the limit: nothing to do
        assert keeper.checkpoints == 0
        monkeypatch.setattr(wal, "WAL_LIMIT_BYTES", 2**20)  # over it now
        await keeper.keep()
        assert keeper.checkpoints == 1
        # The next writer starts the log over: the file stops growing from where it was.
        await _writes(store, 100)
        assert keeper.size() <= grown
    finally:
        await db.dispose()
