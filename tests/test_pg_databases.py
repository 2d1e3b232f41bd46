"""The reused PostgreSQL test database: between tests it holds only what the migrations left,
and a test that changed its schema leaves the next one a fresh copy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from tests.conftest import PG_URL
from tests.pg_databases import Reused, _dsn

pytestmark = pytest.mark.postgres_only

_NOW = datetime(2026, 9, 7, tzinfo=UTC)


@pytest.fixture
async def reused(db_url: str, pg_template: str | None) -> AsyncIterator[Reused]:
    """A reused database of this test's own, beside the process's one."""
    assert pg_template is not None
    made = await asyncio.to_thread(Reused, PG_URL, pg_template)
    yield made
    await asyncio.to_thread(made.drop)


async def _add_person(conn: asyncpg.Connection, external_id: str) -> int:
    school = await conn.fetchval(
        "INSERT INTO school (code, name) VALUES ($1, '测试学院') RETURNING id", external_id)
    return int(await conn.fetchval(
        "INSERT INTO person (school_id, external_id, name, activation_code, tier, active,"
        " created_at, updated_at) VALUES ($1, $2, '测试同学', $2, 'routine', true, $3, $3)"
        " RETURNING id",
        school, external_id, _NOW))


async def _rows(conn: asyncpg.Connection) -> dict[str, int]:
    tables = [r[0] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    counts = {t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}"')) for t in tables}  # noqa: S608
    return {t: n for t, n in counts.items() if n}


async def test_a_reset_leaves_only_what_the_migrations_wrote(reused: Reused) -> None:
    conn = await asyncpg.connect(_dsn(reused.url))
    try:
        fresh = await _rows(conn), await conn.fetchrow("SELECT * FROM roster_version")
        await _add_person(conn, "P1")
        await _add_person(conn, "P2")  # the roster counter moves, the ids reach 2
        assert (await conn.fetchrow("SELECT * FROM roster_version"))["version"] > 0
    finally:
        await conn.close()
    url = await reused.clean()
    assert url == reused.url  # the same database, not a copy
    conn = await asyncpg.connect(_dsn(url))
    try:
        assert (await _rows(conn), await conn.fetchrow("SELECT * FROM roster_version")) == fresh
        assert fresh[0] == {"alembic_version": 1, "roster_version": 1}
        assert await _add_person(conn, "P3") == 1  # the sequences start again
    finally:
        await conn.close()


async def test_a_session_left_in_a_transaction_is_cut_and_its_rows_go(reused: Reused) -> None:
    left = await asyncpg.connect(_dsn(reused.url))
    await _add_person(left, "P1")
    tx = left.transaction()
    await tx.start()
    await left.execute("UPDATE person SET name = '改了一半'")  # holds the row, never ends
    url = await asyncio.wait_for(reused.clean(), timeout=20)
    assert url == reused.url
    assert left.is_closed() or not await _alive(left)
    conn = await asyncpg.connect(_dsn(url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM person") == 0
    finally:
        await conn.close()
        left.terminate()


async def _alive(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
        return False
    return True


async def test_a_changed_schema_gets_a_fresh_copy(reused: Reused) -> None:
    before = reused.url
    conn = await asyncpg.connect(_dsn(before))
    try:
        await conn.execute("CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                           "RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql")
        await conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON school "
                           "FOR EACH ROW EXECUTE FUNCTION refuse()")
    finally:
        await conn.close()
    url = await reused.clean()
    assert url != before
    conn = await asyncpg.connect(_dsn(url))
    try:
        assert await _add_person(conn, "P1") == 1  # no trigger refuses the school
        names = {r[0] for r in await conn.fetch("SELECT datname FROM pg_database")}
        assert before.rsplit("/", 1)[1] not in names  # the changed one is gone
    finally:
        await conn.close()


async def test_a_downgraded_database_gets_a_fresh_copy(reused: Reused) -> None:
    before = reused.url
    conn = await asyncpg.connect(_dsn(before))
    try:
        await conn.execute("UPDATE alembic_version SET version_num = '0010'")
    finally:
        await conn.close()
    url = await reused.clean()
    conn = await asyncpg.connect(_dsn(url))
    try:
        assert url != before
        assert await conn.fetchval("SELECT version_num FROM alembic_version") != "0010"
    finally:
        await conn.close()
