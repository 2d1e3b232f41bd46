"""``xinqiao serve --workers N``: several processes on one port, kept alive, stopped cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.test_deploy import _free_port
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade

XQ = [sys.executable, "-m", "xinqiao"]


def _workers(parent: int) -> set[int]:
    """The worker processes under ``parent`` (not multiprocessing's resource tracker)."""
    found = set()
    children = Path(f"/proc/{parent}/task/{parent}/children")
    for pid in children.read_text().split() if children.exists() else []:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if b"multiprocessing" in cmdline and b"resource_tracker" not in cmdline:
            found.add(int(pid))
    return found


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            return bool(r.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _until(check: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_workers_need_postgresql(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
    env["XINQIAO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    result = subprocess.run([*XQ, "serve", "--workers", "2"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "--workers needs PostgreSQL" in result.stderr


@pytest.mark.postgres_only
async def test_workers_share_the_port_come_back_after_a_crash_and_stop_cleanly(
    db_url: str, tmp_path: Path
) -> None:
    db = Database(db_url)
    await upgrade(db)
    await db.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
    env.update(XINQIAO_DATABASE_URL=db_url, XINQIAO_DATA_KEYS=os.environ["XINQIAO_DATA_KEYS"],
               XINQIAO_PORT=str(port), XINQIAO_WECHAT_TOKEN="workers")
    proc = await asyncio.to_thread(
        subprocess.Popen, [*XQ, "serve", "--workers", "2"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await asyncio.to_thread(_until, lambda: len(_workers(proc.pid)) == 2 and
                                _healthy(port))
        first = _workers(proc.pid)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)  # a worker crashes: the supervisor starts another
        await asyncio.to_thread(_until, lambda: len(_workers(proc.pid)) == 2 and
                                victim not in _workers(proc.pid) and _healthy(port))
        survivors = _workers(proc.pid)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 0
    assert _gone(survivors | first)


def _gone(pids: set[int]) -> bool:
    return all(not Path(f"/proc/{pid}").exists() for pid in pids)
