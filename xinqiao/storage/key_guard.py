"""A lost key file: never make a new data key while the database holds rows the old one opens.

Without ``<db>.key`` a SQLite database used to get a fresh key on the next start: the service
said it was healthy while every encrypted row (a student's form in progress, the reply to a
crisis message) became unreadable. Start-up now stops instead, naming the file and the rows.
"""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path

from sqlmodel import SQLModel

from xinqiao.storage.crypto import PREFIX, DataKeyError, is_encrypted_column

_TABLE_MODULES = ("models", "binding", "booking", "campaigns", "cases", "content", "reports",
                  "screening")


def encrypted_rows(database: Path) -> int:
    """How many rows of a SQLite file hold ciphertext in an encrypted column."""
    for module in _TABLE_MODULES:  # registers every table (imported here: no import cycle)
        importlib.import_module(f"xinqiao.storage.{module}")

    if not database.exists() or database.stat().st_size == 0:
        return 0
    conn = sqlite3.connect(database)  # read-write: a read-only open may miss the WAL's rows
    try:
        present = {name for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        total = 0
        for table in SQLModel.metadata.sorted_tables:
            columns = [c.name for c in table.columns if is_encrypted_column(c)]
            if table.name not in present or not columns:
                continue
            have = {row[1] for row in conn.execute(f'PRAGMA table_info("{table.name}")')}
            test = " OR ".join(f'"{c}" LIKE \'{PREFIX}%\'' for c in columns if c in have)
            if test:  # names come from our own table metadata, not from input
                sql = f'SELECT count(*) FROM "{table.name}" WHERE {test}'  # noqa: S608
                total += conn.execute(sql).fetchone()[0]
        return int(total)
    finally:
        conn.close()


def refuse_new_key(path: Path, database: Path | None) -> None:
    """Raise DataKeyError when ``database`` holds rows that only the missing key opens."""
    needing = encrypted_rows(database) if database is not None else 0
    if needing:
        raise DataKeyError(
            f"the data key file {path} is missing, and {needing} row(s) of encrypted columns "
            f"in {database} need it. Restore the file from the backup made with the database "
            "(or put its key in XINQIAO_DATA_KEYS); a new key would leave those rows "
            "unreadable, so none is created."
        )
