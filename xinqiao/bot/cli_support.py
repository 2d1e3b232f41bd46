"""Helpers shared by the command-line modules: settings and a database for one command."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from pydantic import ValidationError

from xinqiao.settings import Settings
from xinqiao.storage.crypto import DataKeyError
from xinqiao.storage.db import Database, open_database

T = TypeVar("T")


def settings_or_exit() -> Settings:
    """Settings from the environment, or a readable error (no traceback)."""
    try:
        return Settings()
    except ValidationError as exc:  # each problem, never the value (it may hold a secret)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise click.ClickException(f"invalid settings: {problems}") from exc
    except Exception as exc:  # a bad setting must stop start-up with a readable message
        raise click.ClickException(f"invalid settings: {exc}") from exc


def with_db(job: Callable[[Database], Awaitable[T]], *, migrate: bool = False) -> T:
    """Run ``job`` on the configured database (migrated first if asked) and return its result."""
    settings = settings_or_exit()

    async def run() -> T:
        db = open_database(settings)
        try:
            if migrate:
                from xinqiao.storage.migrate import upgrade

                await upgrade(db)
            return await job(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except DataKeyError as exc:  # no keys for a server database: say so, no traceback
        raise click.ClickException(str(exc)) from exc
