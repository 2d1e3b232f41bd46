"""PostgreSQL databases for the tests: one per test process, put back to its migrated state
between tests.

Copying a template database and dropping the copy for every test cost 140-170 ms each on an
fsync-off server under load (the copy writes the whole template to the WAL); checking the
schema of one reused database and emptying its tables costs a few milliseconds. A test that
changed the schema itself (a migration's downgrade, a trigger of its own) is noticed by a
fingerprint of the catalogue: the database is then dropped and copied afresh, as is one whose
reset cannot take its locks.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

# Everything in the public schema a test could change, and the migration it stands at.
_SCHEMA = """
SELECT md5(string_agg(x, E'\\n' ORDER BY x)) FROM (
  SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || c.relpersistence::text
    FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'col ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull::text || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
   WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid)
    FROM pg_constraint WHERE connamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'idx ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
   WHERE c.relnamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'trg ' || pg_get_triggerdef(oid) || ' ' || tgenabled::text FROM pg_trigger
   WHERE NOT tgisinternal
  UNION ALL
  SELECT 'fn ' || oid::regprocedure::text || ' ' || md5(prosrc) FROM pg_proc
   WHERE pronamespace = 'public'::regnamespace
  UNION ALL
  SELECT 'enum ' || t.typname || ' ' || e.enumlabel FROM pg_enum e
    JOIN pg_type t ON t.oid = e.enumtypid
  UNION ALL
  SELECT 'ns ' || nspname FROM pg_namespace
   WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
  UNION ALL
  SELECT 'ext ' || extname FROM pg_extension
  UNION ALL
  SELECT 'at ' || version_num FROM alembic_version
) AS everything(x)
"""
_CUT_OTHERS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
 WHERE datname = current_database() AND pid <> pg_backend_pid()
"""
_TABLES = """
SELECT quote_ident(tablename) FROM pg_tables
 WHERE schemaname = 'public' AND tablename <> 'alembic_version' ORDER BY tablename
"""
_SEQUENCES = """
SELECT format('setval(%L, %s, %s)', quote_ident(sequencename),
              coalesce(last_value, start_value), (last_value IS NOT NULL)::text)
  FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename
"""


T = TypeVar("T")


def _dsn(url: str) -> str:
    """The asyncpg DSN of a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True)
class Migrated:
    """What a freshly migrated database holds: its schema's fingerprint and the script that
    puts its rows and sequences back (tables emptied, the migrations' own rows restored)."""

    fingerprint: str
    reset: str


async def describe(url: str) -> Migrated:
    """Read a migrated database's fingerprint and build its reset script."""
    conn = await asyncpg.connect(_dsn(url))
    try:
        fingerprint = await conn.fetchval(_SCHEMA)
        tables = [row[0] for row in await conn.fetch(_TABLES)]
        # Rows the migrations inserted (roster_version's counter). The names are the
        # catalogue's own, quoted by quote_ident: S608 does not apply.
        seeds = []
        for table in tables:
            rows = await conn.fetchval(f"SELECT json_agg(t) FROM {table} AS t")  # noqa: S608
            if rows is not None:
                seeds.append(f"INSERT INTO {table} SELECT * FROM json_populate_recordset("  # noqa: S608
                             f"NULL::{table}, {_literal(rows)});")
        sequences = [row[0] for row in await conn.fetch(_SEQUENCES)]
    finally:
        await conn.close()
    # DELETE, not TRUNCATE: the tables are small, and TRUNCATE makes new files for every
    # table and index (80 ms for all of them against 2 ms). The replica role skips the foreign
    # keys' checks (every table is emptied) and the triggers (roster_version is put back).
    script = ["SET lock_timeout = '5s';", "SET session_replication_role = replica;",
              *(f"DELETE FROM {table};" for table in tables), *seeds]  # noqa: S608
    if sequences:
        script.append(f"SELECT {', '.join(sequences)};")
    # One round trip: the simple query protocol runs the whole string as one transaction.
    return Migrated(fingerprint, "\n".join(script))


async def create_database(admin_url: str, template: str | None = None) -> str:
    """A new database (a copy of ``template`` if given); its URL."""
    name = f"xq_test_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    conn = await asyncpg.connect(_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_database(admin_url: str, url: str) -> None:
    """Drop the database ``url`` names, cutting any session still in it."""
    name = url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


class Reused:
    """This test process's database, and a connection to it kept open on a thread of its own
    (each test runs its own event loop; a new connection's first catalogue queries cost
    ~50 ms more than the reset itself)."""

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url, self.template = admin_url, template
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-reused",
                                        daemon=True)
        self._thread.start()
        self._conn: asyncpg.Connection | None = None
        self.url = self._run(self._copy())
        self.migrated = self._run(describe(self.url))

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()

    async def _copy(self) -> str:
        return await create_database(self.admin_url, self.template)

    async def _reset(self) -> bool:
        try:
            if self._conn is None:
                self._conn = await asyncpg.connect(_dsn(self.url))
            if await self._conn.fetchval(_SCHEMA) != self.migrated.fingerprint:
                return False
            # As the copy's DROP ... WITH (FORCE) did: the last test's sessions are cut, so
            # none of them still holds a row or writes after the reset.
            await self._conn.execute(_CUT_OTHERS)
            await self._conn.execute(self.migrated.reset)
            return True
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False

    async def _clean(self) -> str:
        if not await self._reset():
            await self._close()
            await drop_database(self.admin_url, self.url)
            self.url = await self._copy()
        return self.url

    async def clean(self) -> str:
        """The database's URL, put back to its migrated state (or a fresh copy)."""
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self._clean(), self._loop))

    async def _close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close(timeout=5)

    async def _drop(self) -> None:
        await self._close()
        await drop_database(self.admin_url, self.url)

    def drop(self) -> None:
        """Drop the database and stop the thread (the session's end)."""
        try:
            self._run(self._drop())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
