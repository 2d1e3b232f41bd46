"""The database goes away for a while under traffic, and comes back.

PostgreSQL: the server's cluster is stopped. SQLite: another process holds the database's
write lock (``BEGIN EXCLUSIVE``, as a careless maintenance script or backup tool would).

The real ``xinqiao serve`` process runs on a PostgreSQL cluster of this test's own, which is
stopped (``pg_ctl stop -m fast``) for ``OUTAGE`` seconds while students take a screening,
a committee member files a check-in, an informant a dorm report and a student writes a crisis
message; deadlines and pushes fall due during the outage. Every request is timed. The
platform is held (sends nothing) while the database is taken away and let go once it is gone,
so the conversations still under way knock throughout the outage however fast the service
answered before it.
Promises: during the outage every callback gets a fast 503 (never a 500, never a hang) and
``/healthz`` says 503; the process stays up and logs one warning per loop per outage, not a
traceback per request; afterwards, with no restart, WeChat's retries of the refused messages
are stored once and answered, every conversation finishes, every deadline fires once and every
push goes out once.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

from tests.conftest import PG_DATA_KEY
from tests.crash_harness import (
    GAD7,
    CrashReport,
    Platform,
    Server,
    _check,
    _due_soon,
    _world,
    settle,
)
from tests.pg_cluster import Cluster
from tests.wechat_stub import WeChatStub
from xinqiao.clock import SystemClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import OutboxMessage

OUTAGE = 16.0  # seconds the database is stopped
LOCKED = 10.0  # seconds another process holds the SQLite write lock
FAST = 1.0  # every answer during the outage comes within this


@dataclass(frozen=True)
class Attempt:
    """One HTTP request to the callback: who sent it, when it started and ended, its status."""

    openid: str
    started: float
    ended: float
    status: int  # 0: no answer (timeout, connection refused)


class TimedPlatform(Platform):
    """The crash harness's WeChat, timing every request and retrying every 0.5 s; it can be
    held (nothing sent) while the test takes the database away."""

    def __init__(self, server: Server, session: aiohttp.ClientSession) -> None:
        super().__init__(server, session)
        self.attempts: list[Attempt] = []
        self._open = asyncio.Event()
        self._open.set()
        self._in_flight = 0

    async def hold(self) -> None:
        """Send nothing more until :meth:`release`; return once no request is in flight."""
        self._open.clear()
        while self._in_flight:  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    def release(self) -> None:
        """Every held conversation sends again."""
        self._open.set()

    async def post(self, msg_id: int) -> bool:
        await self._open.wait()
        self._in_flight += 1  # no await since the gate opened: a held platform sends nothing
        try:
            started = time.monotonic()
            status = await self.status(msg_id)
            self.attempts.append(Attempt(self.sent[msg_id], started, time.monotonic(), status))
        finally:
            self._in_flight -= 1
        return status == 200


async def _knocking(platform: TimedPlatform, users: list[asyncio.Task[None]],
                    scripts: dict[str, list[str]]) -> set[str]:
    """Hold the platform; who still has something to say. The students take a ten-message
    questionnaire and the platform is held at 30% of all messages, so each is mid-way."""
    await platform.hold()
    waiting = {openid for openid, user in zip(scripts, users, strict=True) if not user.done()}
    students = {openid for openid, texts in scripts.items() if texts == GAD7}
    assert students <= waiting, (students - waiting, "a student finished before the outage")
    return waiting


def _knocked_throughout(during: list[Attempt], waiting: set[str], down: float,
                        up: float) -> None:
    """Each conversation under way knocked from the outage's start to its end: a refused
    message is sent again 0.5 s after a refusal that comes within ``FAST``."""
    again = FAST + 0.5
    for openid in waiting:
        mine = [a for a in during if a.openid == openid]
        assert mine and mine[0].started < down + again, (openid, mine[:1])
        assert mine[-1].ended > up - again, (openid, mine[-1:])


async def _health(session: aiohttp.ClientSession, port: int) -> int:
    try:
        async with session.get(f"http://127.0.0.1:{port}/healthz",
                               timeout=aiohttp.ClientTimeout(total=5)) as resp:
            return resp.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def _pushes_due_during(db: Database, openids: list[str], seconds: float) -> list[str]:
    """Pushes queued before the outage that fall due while the database is away."""
    now = SystemClock().now()
    keys = []
    async with db.session() as s:
        for i, openid in enumerate(openids):
            key = f"outage-reminder-{i}"
            await enqueue(s, key=key, channel="wechat", address=openid, kind="reminder",
                          payload={"reply": Reply(f"预约提醒 {i}").to_json()}, now=now,
                          priority=Priority.reminder)
            keys.append(key)
        await s.exec(update(OutboxMessage).where(col(OutboxMessage.idempotency_key).in_(keys))
                     .values(next_attempt_at=now + timedelta(seconds=seconds)))
    return keys


@pytest.mark.postgres_only
@pytest.mark.provisioned
async def test_the_service_rides_out_a_database_outage(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    del db_url  # the shared server only selects the backend; this test stops its own cluster
    monkeypatch.setenv("XINQIAO_DATA_KEYS", PG_DATA_KEY)
    cluster = Cluster()
    await asyncio.to_thread(cluster.init)
    await asyncio.to_thread(cluster.start)
    admin = create_async_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text("CREATE DATABASE xinqiao"))
    await admin.dispose()
    url = cluster.url("xinqiao")
    report = CrashReport()
    db = Database(url)
    await upgrade(db)
    scripts, seeded = await _world(db, 8)
    report.messages = sum(len(t) for t in scripts.values())
    health: list[tuple[float, int]] = []
    try:
        async with WeChatStub() as stub, aiohttp.ClientSession() as session:
            server = Server(url, stub.url, tmp_path)
            server.start()
            platform = TimedPlatform(server, session)
            try:
                users = platform.start(scripts)
                await platform.until_acknowledged(report.messages * 0.3)
                waiting = await _knocking(platform, users, scripts)
                await _due_soon(db, seeded, 2.0)
                reminders = await _pushes_due_during(db, list(scripts)[:5], 2.0)
                await db.dispose()
                await asyncio.to_thread(cluster.stop)
                down = time.monotonic()
                platform.release()  # the conversations under way meet the stopped database
                while time.monotonic() - down < OUTAGE:
                    health.append((time.monotonic(), await _health(session, server.port)))
                    assert server.proc is not None and server.proc.poll() is None
                    await asyncio.sleep(1.0)
                up_started = time.monotonic()
                await asyncio.to_thread(cluster.start)
                await asyncio.wait_for(asyncio.gather(*users), timeout=120)
                again = sorted(platform.acked)[::10]  # some acknowledged ones come again too
                for msg_id in again:  # as WeChat does: up to three tries, a second apart
                    assert await _redeliver(platform, msg_id)
                report.redelivered_duplicates = len(again)
                await settle(db, within=90)
                assert server.proc is not None and server.proc.poll() is None  # never restarted
                assert await _health(session, server.port) == 200
            finally:
                server.stop()
            report.acknowledged = len(platform.acked)
            report.resent_unacknowledged = len(platform.retried)
            await _check(db, platform, scripts, seeded, stub, report)
            sent = Counter(m.body["text"]["content"] for m in stub.sent
                           if m.endpoint.endswith("custom/send"))
    finally:
        await db.dispose()
        await asyncio.to_thread(cluster.remove)
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert report.problems == [], (report, log[-4000:])
    assert report.acknowledged == report.messages
    during = [a for a in platform.attempts if down < a.started and a.ended < up_started]
    assert len(during) >= 100  # the platform kept knocking throughout the outage
    _knocked_throughout(during, waiting, down, up_started)
    assert {a.status for a in during} == {503}, Counter(a.status for a in during)
    slowest = max(a.ended - a.started for a in during)
    assert slowest < FAST, slowest
    assert all(a.status != 500 for a in platform.attempts)
    assert {status for _, status in health} == {503}  # readiness follows the database
    assert all(sent[f"预约提醒 {i}"] == 1 for i in range(len(reminders)))  # each once
    # No storm: one warning per loop (callbacks, inbox, recovery, sweep, outbox) per outage.
    tracebacks = log.count("Traceback")
    assert tracebacks == 0, log[-4000:]
    # (callbacks, inbox, recovery, sweep, outbox, send budget): each loop that met the outage
    # said so once, however long it lasted.
    warned = re.findall(r"WARNING [\w.]+: (.+?): database unavailable", log)
    assert warned and len(warned) == len(set(warned)), (warned, log[-4000:])
    print(f"\noutage {OUTAGE:.0f} s: {len(during)} callbacks from {len(waiting)} conversations "
          f"under way answered 503, slowest "
          f"{slowest * 1000:.0f} ms; {report.acknowledged} messages handled once, "
          f"{len(reminders)} reminders and {len(seeded)} deadlines once; "
          f"{tracebacks} tracebacks in the log")


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.rollback()
"""


async def test_a_locked_sqlite_database_gets_fast_503s_and_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)  # the key file beside the database
    path = tmp_path / "xinqiao.db"
    url = f"sqlite+aiosqlite:///{path}"
    report = CrashReport()
    db = Database(url)
    await upgrade(db)
    scripts, seeded = await _world(db, 8)
    report.messages = sum(len(t) for t in scripts.values())
    health: list[tuple[float, int]] = []
    try:
        async with WeChatStub() as stub, aiohttp.ClientSession() as session:
            server = Server(url, stub.url, tmp_path)
            server.start()
            platform = TimedPlatform(server, session)
            try:
                users = platform.start(scripts)
                await platform.until_acknowledged(report.messages * 0.3)
                waiting = await _knocking(platform, users, scripts)
                await _due_soon(db, seeded, 2.0)
                reminders = await _pushes_due_during(db, list(scripts)[:5], 2.0)
                await db.dispose()
                locker = await asyncio.create_subprocess_exec(
                    sys.executable, "-c", LOCKER, str(path), stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE)
                assert locker.stdin is not None and locker.stdout is not None
                assert await locker.stdout.readline() == b"locked\n"
                down = time.monotonic()
                platform.release()  # the conversations under way meet the locked database
                while time.monotonic() - down < LOCKED:
                    health.append((time.monotonic(), await _health(session, server.port)))
                    assert server.proc is not None and server.proc.poll() is None
                    await asyncio.sleep(1.0)
                up_started = time.monotonic()
                locker.stdin.close()
                assert await locker.wait() == 0
                await asyncio.wait_for(asyncio.gather(*users), timeout=120)
                again = sorted(platform.acked)[::10]  # some acknowledged ones come again too
                for msg_id in again:  # as WeChat does: up to three tries, a second apart
                    assert await _redeliver(platform, msg_id)
                report.redelivered_duplicates = len(again)
                await settle(db, within=90)
                assert server.proc is not None and server.proc.poll() is None  # never restarted
                assert await _health(session, server.port) == 200
            finally:
                server.stop()
            report.acknowledged = len(platform.acked)
            report.resent_unacknowledged = len(platform.retried)
            await _check(db, platform, scripts, seeded, stub, report)
            sent = Counter(m.body["text"]["content"] for m in stub.sent
                           if m.endpoint.endswith("custom/send"))
    finally:
        await db.dispose()
    log = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace")
    assert report.problems == [], (report, log[-4000:])
    assert report.acknowledged == report.messages
    during = [a for a in platform.attempts if down < a.started and a.ended < up_started]
    assert len(during) >= 50  # the platform kept knocking while the lock was held
    _knocked_throughout(during, waiting, down, up_started)
    assert {a.status for a in during} == {503}, Counter(a.status for a in during)
    slowest = max(a.ended - a.started for a in during)
    assert slowest < FAST, slowest
    assert all(a.status != 500 for a in platform.attempts)
    assert {status for _, status in health} == {503}  # nothing can be stored: not ready
    assert all(sent[f"预约提醒 {i}"] == 1 for i in range(len(reminders)))  # each once
    tracebacks = log.count("Traceback")
    assert tracebacks == 0, log[-4000:]
    print(f"\nSQLite locked {LOCKED:.0f} s: {len(during)} callbacks from {len(waiting)} "
          f"conversations under way answered 503, slowest "
          f"{slowest * 1000:.0f} ms; {report.acknowledged} messages handled once, "
          f"{len(reminders)} reminders and {len(seeded)} deadlines once; "
          f"{tracebacks} tracebacks in the log")


async def _redeliver(platform: TimedPlatform, msg_id: int) -> bool:
    """Post an already acknowledged message again; right after an outage the service may still
    answer 503 while it catches up, and WeChat tries three times."""
    for _attempt in range(3):
        if await platform.post(msg_id):
            return True
        await asyncio.sleep(1.0)
    return False
