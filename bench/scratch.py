"""Shared by the benchmarks: a scratch database for one run, on PostgreSQL or SQLite."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

# A fixed data key for scratch PostgreSQL databases (a deployment supplies its own).
BENCH_DATA_KEY = "qlsYpEp1ZgA0sX2q6Z7pUj4o4rZ5Jm4p3oXJ7vX3yQ8="


async def admin(url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on ``url`` in autocommit mode."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@contextmanager
def scratch_database(postgres: str | None, name: str, workdir: Path | None = None
                     ) -> Iterator[str]:
    """The URL of an empty database for one run, called ``name``.

    With ``postgres`` (a server URL where databases may be created): a new database there,
    dropped afterwards, with the bench data key set unless the environment has one. Without:
    a SQLite file in ``workdir`` (a new temporary folder by default), left for inspection.
    Not for use inside a running event loop.
    """
    if not postgres:
        folder = workdir or Path(tempfile.mkdtemp(prefix=f"{name}-"))
        yield f"sqlite+aiosqlite:///{folder / (name + '.db')}"
        return
    os.environ.setdefault("XINQIAO_DATA_KEYS", BENCH_DATA_KEY)
    scratch = f"{name}_{os.getpid()}"
    asyncio.run(admin(postgres, f'CREATE DATABASE "{scratch}"'))
    try:
        yield postgres.rsplit("/", 1)[0] + "/" + scratch
    finally:
        asyncio.run(admin(postgres, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
