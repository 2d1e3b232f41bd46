"""encrypt sensitive columns

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 18:00:00

The columns listed below become TEXT holding ``f1:`` + a Fernet token (see
xinqiao/storage/crypto.py for which columns and why). Existing rows are encrypted in place,
1000 at a time; the downgrade decrypts them and restores the old types. The keys are the
service's own: XINQIAO_DATA_KEYS, or the key file beside a SQLite database.

SQLite: a column's type changes only by rebuilding its table (Alembic batch mode), and
dropping a table other tables reference (person, report, outbox_message) breaks foreign keys
inside the migration's transaction, where PRAGMA foreign_keys cannot be switched off. So each
table is copied aside and emptied (with its foreign keys deferred), rebuilt empty, and refilled,
which leaves no dangling reference at commit. secure_delete zeroes the plaintext the rewrite
frees.
"""

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from xinqiao.storage.crypto import KeyRing, is_encrypted, ring_for_connection

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000

# table: (primary key, [(column, type before 0004, nullable)])
COLUMNS: dict[str, tuple[str, list[tuple[str, sa.types.TypeEngine[Any], bool]]]] = {
    "inbox_message": ("id", [("payload", sa.JSON(), False), ("reply", sa.JSON(), True)]),
    "outbox_message": ("id", [("payload", sa.JSON(), False)]),
    "conversation_state": ("identity_id", [("data", sa.JSON(), False),
                                           ("suspended", sa.JSON(), False)]),
    "audit_entry": ("id", [("detail", sa.JSON(), False)]),
    "person": ("id", [("phone", sa.String(length=32), True)]),
    "report": ("id", [("answers", sa.JSON(), False)]),
    "escalation": ("id", [("resolution", sa.Text(), True)]),
    "escalation_step": ("id", [("note", sa.Text(), True)]),
    "screening_result": ("id", [("answers", sa.JSON(), False)]),
    "tier_change": ("id", [("reason", sa.Text(), False)]),
}


def upgrade() -> None:
    conn = op.get_bind()
    ring = ring_for_connection(conn)
    with _sqlite_pragmas(conn):
        for table, (pk, columns) in COLUMNS.items():
            changes = [(name, old, sa.Text(), nullable) for name, old, nullable in columns
                       if not isinstance(old, sa.Text)]
            _retype(conn, table, changes)
            _rewrite(conn, table, pk, [c[0] for c in columns],
                     lambda _where, value: _encrypt(ring, value))


def downgrade() -> None:
    conn = op.get_bind()
    ring = ring_for_connection(conn)
    with _sqlite_pragmas(conn):
        for table, (pk, columns) in COLUMNS.items():
            _rewrite(conn, table, pk, [c[0] for c in columns],
                     lambda where, value: _decrypt(ring, value, where))
            changes = [(name, sa.Text(), old, nullable) for name, old, nullable in columns
                       if not isinstance(old, sa.Text)]
            _retype(conn, table, changes)


def _encrypt(ring: KeyRing, value: str) -> str:
    return value if is_encrypted(value) else ring.encrypt(value.encode("utf-8"))


def _decrypt(ring: KeyRing, value: str, column: str) -> str:
    if not is_encrypted(value):
        return value
    return ring.decrypt(value, column=column).decode("utf-8")


def _rewrite(conn: Connection, table: str, pk: str, columns: list[str],
             change: Callable[[str, str], str]) -> None:
    """Pass every non-NULL value through ``change(table.column, value)``, BATCH rows a time."""
    raw = sa.table(table, sa.column(pk), *(sa.column(c, sa.Text()) for c in columns))
    key = raw.c[pk]
    write = (sa.update(raw).where(key == sa.bindparam("v_key"))
             .values({c: sa.bindparam(f"v_{c}") for c in columns}))
    last: Any = None
    while True:
        query = sa.select(key, *(raw.c[c] for c in columns)).order_by(key).limit(BATCH)
        if last is not None:
            query = query.where(key > last)
        rows = conn.execute(query).all()
        if not rows:
            return
        conn.execute(write, [
            {"v_key": row[0], **{f"v_{c}": None if v is None else change(f"{table}.{c}",
                                                                       _as_text(v))
                                 for c, v in zip(columns, row[1:], strict=True)}}
            for row in rows
        ])
        last = rows[-1][0]


def _as_text(value: Any) -> str:
    # SQLite may keep a JSON scalar such as 5 as a number in a column of NUMERIC affinity
    return value if isinstance(value, str) else json.dumps(value)


_Change = tuple[str, sa.types.TypeEngine[Any], sa.types.TypeEngine[Any], bool]


def _retype(conn: Connection, table: str, changes: Sequence[_Change]) -> None:
    if not changes:
        return
    if conn.dialect.name != "sqlite":
        for name, old, new, nullable in changes:
            op.alter_column(table, name, type_=new, existing_type=old, existing_nullable=nullable,
                            postgresql_using=f'"{name}"::{new.compile(dialect=conn.dialect)}')
        return
    # table and column names come from COLUMNS and the schema itself, never from input
    names = ", ".join(f'"{c["name"]}"' for c in sa.inspect(conn).get_columns(table))
    scratch = f"_xq0004_{table}"
    conn.exec_driver_sql(f'CREATE TEMP TABLE "{scratch}" AS SELECT {names} FROM "{table}"')  # noqa: S608
    conn.exec_driver_sql(f'DELETE FROM "{table}"')  # noqa: S608
    with op.batch_alter_table(table, recreate="always") as batch:
        for name, old, new, nullable in changes:
            batch.alter_column(name, type_=new, existing_type=old, existing_nullable=nullable)
    conn.exec_driver_sql(f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{scratch}"')  # noqa: S608
    conn.exec_driver_sql(f'DROP TABLE "{scratch}"')


@contextmanager
def _sqlite_pragmas(conn: Connection) -> Iterator[None]:
    """On SQLite: defer foreign keys and zero freed content meanwhile; check the keys after."""
    if conn.dialect.name != "sqlite":
        yield
        return
    secure_delete = conn.exec_driver_sql("PRAGMA secure_delete").scalar_one()
    conn.exec_driver_sql("PRAGMA secure_delete=ON")
    conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
    yield
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise RuntimeError(f"migration 0004 left broken foreign keys: {broken[:5]}")
    conn.exec_driver_sql("PRAGMA defer_foreign_keys=OFF")
    conn.exec_driver_sql(f"PRAGMA secure_delete={int(secure_delete)}")
