"""``xinqiao keys``: data keys of the encrypted columns: a new key, re-encryption under it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from xinqiao.bot.cli_support import with_db as _with_db
from xinqiao.storage.db import Database

if TYPE_CHECKING:
    from xinqiao.storage.key_rotation import ColumnRotation


@click.group()
def keys() -> None:
    """Data keys of the encrypted columns (XINQIAO_DATA_KEYS)."""


@keys.command("new")
def keys_new() -> None:
    """Print a fresh key, to put first in XINQIAO_DATA_KEYS."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode("ascii"))


@keys.command("rotate")
@click.option("--batch", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Rows per transaction.")
def keys_rotate(batch: int) -> None:
    """Re-encrypt every encrypted column under the first key; safe while the service runs."""
    from xinqiao.storage.crypto import DataKeyError, UndecryptableError
    from xinqiao.storage.key_rotation import rotate_all
    from xinqiao.storage.migrate import check_current

    async def run(db: Database) -> list[ColumnRotation]:
        await check_current(db)
        click.echo(f"encrypting with key {db.keys.fingerprints[0]} "
                   f"({len(db.keys.fingerprints)} key(s) from {db.keys.source})")
        return await rotate_all(db.engine, db.keys, batch=batch)

    try:
        results = _with_db(run)
    except (DataKeyError, UndecryptableError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from exc
    for r in results:
        unreadable = f", {len(r.unreadable)} unreadable" if r.unreadable else ""
        click.echo(f"{r.name}: {r.rotated} re-encrypted, {r.encrypted} plaintext encrypted, "
                   f"{r.current} already current{unreadable}")
    click.echo(f"total: {sum(r.rotated for r in results)} re-encrypted, "
               f"{sum(r.encrypted for r in results)} plaintext encrypted, "
               f"{sum(r.current for r in results)} already current")
    bad = [(r.name, r.unreadable) for r in results if r.unreadable]
    if bad:
        for name, ids in bad:
            shown = ", ".join(str(i) for i in ids[:20]) + (" ..." if len(ids) > 20 else "")
            click.echo(f"no key opens {name} of rows {shown}", err=True)
        click.echo("these rows were left as they are: keep the key that wrote them in "
                   "XINQIAO_DATA_KEYS and run again", err=True)
        sys.exit(1)
