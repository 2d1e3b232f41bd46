"""Key rotation: re-encrypt every encrypted column under the newest key, in batches.

Runs beside the live service (``xinqiao keys rotate``): each value is compared-and-set, so a
row the service writes meanwhile keeps the service's value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, MetaData, Table, Text, bindparam, select, update
from sqlalchemy import column as sql_column
from sqlalchemy import table as sql_table
from sqlalchemy.ext.asyncio import AsyncEngine

from xinqiao.storage.crypto import (
    KeyRing,
    UndecryptableError,
    is_encrypted,
    is_encrypted_column,
)

ROTATE_BATCH = 1000


@dataclass
class ColumnRotation:
    """What a rotation did to one column."""

    table: str
    column: str
    rotated: int = 0
    encrypted: int = 0
    current: int = 0
    unreadable: list[Any] = field(default_factory=list)

    @property
    def name(self) -> str:
        """``table.column``."""
        return f"{self.table}.{self.column}"


def storage_metadata() -> MetaData:
    """The metadata with every table module of ``xinqiao.storage`` imported."""
    import importlib
    import pkgutil

    from sqlmodel import SQLModel

    import xinqiao.storage

    for module in pkgutil.iter_modules(xinqiao.storage.__path__):
        if not module.ispkg:
            importlib.import_module(f"xinqiao.storage.{module.name}")
    return SQLModel.metadata


def encrypted_columns(metadata: MetaData) -> list[tuple[Table, Column[Any], list[Column[Any]]]]:
    """Each table with encrypted columns: (table, its primary key, the encrypted columns)."""
    found = []
    for table in metadata.sorted_tables:
        cols = [c for c in table.columns if is_encrypted_column(c)]
        if not cols:
            continue
        pk = list(table.primary_key.columns)
        if len(pk) != 1:
            raise RuntimeError(f"{table.name}: rotation needs a single-column primary key")
        found.append((table, pk[0], cols))
    return found


async def rotate_all(
    engine: AsyncEngine,
    ring: KeyRing,
    *,
    metadata: MetaData | None = None,
    batch: int = ROTATE_BATCH,
) -> list[ColumnRotation]:
    """Re-encrypt every encrypted column under the ring's first key, ``batch`` rows a commit.

    Values already under the first key are left alone, so running it again does nothing.
    Plaintext values left from before encryption are encrypted. Each value is written only if
    it is still the one read (compare-and-set), so a row the running service changes meanwhile
    keeps the service's write. Values no key opens are counted as unreadable and left alone.
    """
    results: list[ColumnRotation] = []
    for table, pk, cols in encrypted_columns(metadata or storage_metadata()):
        raw = sql_table(table.name, sql_column(pk.name),
                        *(sql_column(c.name, Text()) for c in cols))
        key = raw.c[pk.name]
        counts = {c.name: ColumnRotation(table.name, c.name) for c in cols}
        writes = {
            c.name: update(raw)
            .where(key == bindparam("k"), raw.c[c.name] == bindparam("old"))
            .values({c.name: bindparam("new")})
            for c in cols
        }
        last: Any = None
        async with engine.connect() as conn:
            while True:
                async with conn.begin():
                    query = select(key, *(raw.c[c.name] for c in cols)).order_by(key).limit(batch)
                    if last is not None:
                        query = query.where(key > last)
                    rows = (await conn.execute(query)).all()
                    for index, (name, count) in enumerate(counts.items(), 1):
                        params = _rotations(ring, rows, index, count)
                        if params:
                            await conn.execute(writes[name], params)
                if not rows:
                    break
                last = rows[-1][0]
        results.extend(counts.values())
    return results


def _rotations(ring: KeyRing, rows: Sequence[Any], index: int,
               count: ColumnRotation) -> list[dict[str, Any]]:
    params = []
    for row in rows:
        stored = row[index]
        if stored is None:
            continue
        if not is_encrypted(stored):
            new = ring.encrypt(stored.encode("utf-8"))
            count.encrypted += 1
        elif ring.is_current(stored):
            count.current += 1
            continue
        else:
            try:
                new = ring.rotate(stored, column=count.name)
            except UndecryptableError:
                count.unreadable.append(row[0])
                continue
            count.rotated += 1
        params.append({"k": row[0], "old": stored, "new": new})
    return params
