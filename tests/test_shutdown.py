"""`serve` stops when told: at any moment of its start, during a catch-up, and within its
deadline even when the database is held by another process — and loses nothing by it."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import delete
from sqlmodel import select

from xinqiao.bot.wiring import build_services
from xinqiao.clock import SystemClock
from xinqiao.services.calendar_notice import CLAIM as HORIZON_CLAIM
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.jobs import JobRun

XQ = [sys.executable, "-m", "xinqiao", "serve"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Serve:
    """One `xinqiao serve` process on ``url``, its output in a file."""

    def __init__(self, url: str, tmp_path: Path, **settings: str) -> None:
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
        env.update(XINQIAO_DATABASE_URL=url, XINQIAO_PORT=str(self.port), **settings)
        if "XINQIAO_DATA_KEYS" in os.environ:  # PostgreSQL's keys, set by the fixture
            env["XINQIAO_DATA_KEYS"] = os.environ["XINQIAO_DATA_KEYS"]
        self.log = tmp_path / f"serve-{self.port}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(XQ, env=env, cwd=tmp_path, stdout=out,
                                         stderr=subprocess.STDOUT)

    def healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz",
                                            timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("never healthy")

    def stop(self) -> tuple[int, float]:
        """SIGTERM; the exit code and the seconds it took (at most 30 s waited)."""
        self.proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return -1, time.monotonic() - sent
        return code, time.monotonic() - sent

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


async def _claims(url: str) -> set[str]:
    """The calendar jobs claimed (not the one-off claim of the calendar horizon's notice)."""
    db = Database(url)
    try:
        async with db.session() as s:
            return set((await s.exec(select(JobRun.job))).all()) - {HORIZON_CLAIM}
    finally:
        await db.dispose()


async def _forget_claims(url: str) -> None:
    db = Database(url)
    try:
        async with db.session() as s:
            await s.exec(delete(JobRun))
    finally:
        await db.dispose()


def _owed_now(url: str) -> set[str]:
    """The calendar jobs a start at this time of day catches up."""
    jobs = build_services(Settings(database_url=url, _env_file=None), SystemClock()).jobs
    now = jobs.clock.now()
    return {name for name, job in jobs.jobs.items() if job.latest(now) is not None}


async def test_serve_stops_at_once_at_any_moment_of_its_start_and_catch_up(
    db_url: str, tmp_path: Path
) -> None:
    # Each start catches up today's calendar jobs (their claims forgotten before it), so the
    # stop lands before, during and after that catch-up as well as in the loops' first turns.
    for delay in (0.0, 0.3, 0.8, 1.5):
        await _forget_claims(db_url)
        serve = Serve(db_url, tmp_path)
        try:
            serve.healthy()
            await asyncio.sleep(delay)
        finally:
            code, took = serve.stop()
        assert code == 0, serve.output()
        assert took < 4, f"stopped {delay} s after /healthz: took {took:.1f} s"
        assert "Traceback" not in serve.output()
        # a run stopped mid-way was not claimed: it is not lost, the next start owes it
    serve = Serve(db_url, tmp_path)
    owed = _owed_now(db_url)
    try:
        serve.healthy()
        for _ in range(100):  # the catch-up takes a second or so
            if await _claims(db_url) == owed:
                break
            await asyncio.sleep(0.2)
    finally:
        code, _ = serve.stop()
    assert code == 0 and await _claims(db_url) == owed


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_serve_stops_within_its_deadline_while_another_process_holds_the_database(
    db_url: str, tmp_path: Path
) -> None:
    # A backup tool or a second process holds SQLite's write lock: every background statement
    # waits out its 30 s busy timeout. The stop still ends within 10 s, and cleanly.
    serve = Serve(db_url, tmp_path, XINQIAO_INBOX_RECOVERY_SECONDS="1")
    holder = sqlite3.connect(db_url.split("///", 1)[1], isolation_level=None)
    try:
        serve.healthy()
        holder.execute("BEGIN EXCLUSIVE")
        await asyncio.sleep(2.5)  # the inbox recovery (every second) is now stuck on the lock
    finally:
        code, took = serve.stop()
        holder.close()
    assert code == 0, serve.output()
    assert took < 10, f"took {took:.1f} s to stop"
    assert "Traceback" not in serve.output()
