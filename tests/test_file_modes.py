"""The SQLite database, its -wal and -shm, and backups are readable by their owner only."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dialog import Dialog
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The common default umask, under which new files are world-readable."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_new_sqlite_database_and_its_wal_and_shm_are_0600(
    tmp_path: Path, clock: FakeClock, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    path = tmp_path / "school.db"
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    try:
        await upgrade(db)
        await Dialog(db, Settings(database_url=url, _env_file=None), clock, "o-1").say("你好")
        files = [path, tmp_path / "school.db-wal", tmp_path / "school.db-shm"]
        assert all(f.exists() for f in files)  # WAL mode, the connection still open
        assert {f.name: _mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await db.dispose()


async def test_an_existing_world_readable_database_is_tightened(
    tmp_path: Path, open_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    db = Database(f"sqlite+aiosqlite:///{path}")
    await db.dispose()
    assert _mode(path) == 0o600


def test_backup_dumps_are_0600(tmp_path: Path, open_umask: None) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    dump = fake / "pg_dump"  # a stand-in that writes where pg_dump would
    dump.write_text('#!/bin/sh\nfor a; do case $a in --file=*) echo x > "${a#--file=}";; '
                    'esac; done\n')
    dump.chmod(0o755)
    backups = tmp_path / "backups"
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "BACKUP_DIR": str(backups),
           "XINQIAO_DATABASE_URL": "postgresql+asyncpg://x@127.0.0.1/x"}
    out = subprocess.run([str(REPO / "deploy" / "backup.sh")], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert _mode(Path(out)) == 0o600 and _mode(backups) == 0o700
