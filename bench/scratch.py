"""Shared by the benchmarks: statements that must run outside a transaction."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine


async def admin(url: str, statement: str) -> None:
    """Run one statement (CREATE/DROP DATABASE) on ``url`` in autocommit mode."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()

# A fixed data key for scratch PostgreSQL databases (a deployment supplies its own).
BENCH_DATA_KEY = "qlsYpEp1ZgA0sX2q6Z7pUj4o4rZ5Jm4p3oXJ7vX3yQ8="
