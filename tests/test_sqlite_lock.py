"""SQLite's write lock held by another process: callbacks' inbox writes fail within a second
(answered 503, the platform retries), background writes wait the lock out as before."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from xinqiao.bot.inbox import Receipt, store
from xinqiao.clock import FakeClock
from xinqiao.storage import wal
from xinqiao.storage.db import Database
from xinqiao.storage.models import InboxMessage, School
from xinqiao.storage.outage import database_unavailable

FAST = 1.0  # a callback's write gives up within this; WeChat waits 5 s in all


@pytest.fixture
async def sqlite_db(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database of this test's own (the lock is a SQLite matter)."""
    path = tmp_path / "xinqiao.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    yield db
    await db.dispose()


@pytest.fixture
def locker(sqlite_db: Database) -> Iterator[sqlite3.Connection]:
    """Another connection, as a maintenance script would hold it: ``BEGIN EXCLUSIVE`` at will."""
    path = sqlite_db.url.split("///", 1)[1]
    conn = sqlite3.connect(path, isolation_level=None, timeout=30, check_same_thread=False)
    yield conn
    if conn.in_transaction:
        conn.rollback()
    conn.close()


async def _callback(db: Database, clock: FakeClock, n: int) -> Receipt:
    return await store(db, channel="wechat", dedupe_key=f"msg:{n}", address="o-student",
                       kind="message", payload={"inbound": {"text": f"第{n}条"}},
                       now=clock.now())


async def _school(db: Database, code: str) -> None:
    async with db.session() as s:
        s.add(School(code=code, name=code))


async def _failure(coro: object) -> tuple[BaseException, float]:
    started = time.monotonic()
    with pytest.raises(Exception) as caught:
        await coro  # type: ignore[misc]
    return caught.value, time.monotonic() - started


async def test_callbacks_fail_fast_while_locked_and_background_writes_wait(
    sqlite_db: Database, locker: sqlite3.Connection, clock: FakeClock
) -> None:
    db = sqlite_db
    assert (await _callback(db, clock, 1)).row_id is not None
    locker.execute("BEGIN EXCLUSIVE")

    # The connection is free: the callback's own wait for the lock is short.
    exc, took = await _failure(_callback(db, clock, 2))
    assert took < FAST and database_unavailable(exc), (took, exc)
    # A background write (the sweeper, the notifier) queues for the lock, patiently...
    background = asyncio.create_task(_school(db, "patient"))
    await asyncio.sleep(0.2)
    # ...holding the one connection; a callback does not queue behind it for long either.
    exc, took = await _failure(_callback(db, clock, 2))
    assert took < FAST and database_unavailable(exc), (took, exc)
    assert not background.done()
    await asyncio.sleep(1.0)
    locker.rollback()  # the script is done
    await asyncio.wait_for(background, 5)  # waited out more than a callback would

    # WeChat's retry is stored, once; the background write went through.
    assert (await _callback(db, clock, 2)).row_id is not None
    assert (await _callback(db, clock, 2)).duplicate
    async with db.session() as s:
        keys = (await s.exec(select(InboxMessage.dedupe_key))).all()
        schools = (await s.exec(select(School.code))).all()
    assert sorted(keys) == ["msg:1", "msg:2"]
    assert schools == ["patient"]

    # The short wait was this write's only: background writes are patient again afterwards.
    locker.execute("BEGIN EXCLUSIVE")
    background = asyncio.create_task(_school(db, "patient again"))
    await asyncio.sleep(1.5)
    assert not background.done()
    locker.rollback()
    await asyncio.wait_for(background, 5)


async def test_health_check_says_unavailable_fast_while_locked(
    sqlite_db: Database, locker: sqlite3.Connection
) -> None:
    await sqlite_db.ping()
    locker.execute("BEGIN EXCLUSIVE")
    exc, took = await _failure(sqlite_db.ping())
    assert took < FAST and database_unavailable(exc), (took, exc)
    locker.rollback()
    await sqlite_db.ping()


async def test_a_callback_waits_out_our_own_log_checkpoint_instead_of_being_refused(
    sqlite_db: Database, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our restarting WAL checkpoint holds writers off while a long read finishes: moving work
    of this process, waited for (within WeChat's window), not a lock held elsewhere."""
    db = sqlite_db
    assert db.wal is not None
    assert (await _callback(db, clock, 1)).row_id is not None  # frames in the log
    reader = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None,
                             check_same_thread=False)
    reader.execute("BEGIN")  # a console page in the middle of a read, on the log's frames
    reader.execute("SELECT count(*) FROM inbox_message").fetchone()
    monkeypatch.setattr(wal, "_BUSY_MS", 2000)  # the checkpoint waits for that page a while
    checkpoint = db.wal.checkpoint()
    await asyncio.sleep(0.2)
    # A background write queues for the lock, holding the one connection, for longer than a
    # lock held by another process would be waited for...
    background = asyncio.create_task(_school(db, "patient"))
    await asyncio.sleep(0.5)
    assert not background.done()
    asyncio.get_running_loop().call_later(0.5, reader.rollback)  # the page is done
    # ...and a callback behind it is stored once the checkpoint ends, not refused with a 503.
    started = time.monotonic()
    receipt = await _callback(db, clock, 2)
    assert receipt.row_id is not None and time.monotonic() - started < 3
    await asyncio.wait_for(checkpoint, 5)
    await asyncio.wait_for(background, 5)
    assert db.wal.checkpoints == 1
    reader.close()
