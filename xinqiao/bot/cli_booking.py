"""``xinqiao schedule ...`` (counsellors' duty) and ``xinqiao booking ...`` (statistics)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from xinqiao.bot.cli_support import settings_or_exit as _settings
from xinqiao.bot.cli_support import with_db as _with_db
from xinqiao.clock import SystemClock
from xinqiao.storage.db import Database

if TYPE_CHECKING:
    from xinqiao.policy.policy import Policy


def _policy() -> Policy:
    from xinqiao.policy.policy import PolicyError, load_policy

    try:
        return load_policy(_settings().policy_file)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def schedule() -> None:
    """Counsellors' duty schedules."""


@schedule.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Load nothing if any row is bad.")
def schedule_import(file: Path, strict: bool) -> None:
    """Load a semester's duty patterns from .xlsx or .csv (replaces them for its dates)."""
    from xinqiao.services.booking.duty_import import import_schedule
    from xinqiao.services.roster_file import RosterFileError

    policy = _policy()
    try:
        report = _with_db(lambda db: import_schedule(db, file, policy, SystemClock().now(),
                                                     strict=strict), migrate=True)
    except RosterFileError as exc:
        raise click.ClickException(str(exc)) from exc
    for row, message in report.errors:
        click.echo(f"row {row}: {message}", err=True)
    loaded = "nothing loaded (--strict)" if strict and report.errors else (
        f"{report.counsellors} counsellors: {report.created} weekly patterns loaded, "
        f"{report.removed} replaced")
    click.echo(f"{loaded}; {len(report.errors)} bad rows")
    if report.errors:
        sys.exit(1)


@click.group()
def booking() -> None:
    """Counselling booking."""


@booking.command("stats")
@click.option("--week", default=None, help="Any day of the week, YYYY-MM-DD (default: this week).")
def booking_stats(week: str | None) -> None:
    """Print a week's booking statistics: load, no-shows, waiting time."""
    from datetime import date

    from xinqiao.clock import local
    from xinqiao.handlers.booking.texts import week_stats_text
    from xinqiao.services.booking.stats import week_stats

    try:
        day = date.fromisoformat(week) if week else local(SystemClock().now()).date()
    except ValueError:
        raise click.ClickException(f"--week must look like 2026-09-07, not {week!r}") from None
    policy = _policy()

    async def run(db: Database) -> str:
        async with db.session() as s:
            return week_stats_text(await week_stats(s, policy, day))

    click.echo(_with_db(run, migrate=True))
