"""``xinqiao roster``: load the four-level network, hand out activation codes, unbind, leave."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from xinqiao.bot.cli_support import settings_or_exit as _settings
from xinqiao.bot.cli_support import with_db as _with_db
from xinqiao.clock import SystemClock


@click.group()
def roster() -> None:
    """The four-level network: people, units, roles."""


@roster.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Load nothing if any row is bad.")
def roster_import(file: Path, strict: bool) -> None:
    """Load or update people from an .xlsx or .csv roster."""
    from xinqiao.services.roster import RosterFileError, import_roster

    try:
        report = _with_db(
            lambda db: import_roster(db, file, now=SystemClock().now(), strict=strict,
                                     wecom=_settings().wecom_enabled),
            migrate=True,
        )
    except RosterFileError as exc:
        raise click.ClickException(str(exc)) from exc
    for row, message in report.errors:
        click.echo(f"row {row}: {message}", err=True)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    loaded = "nothing loaded (--strict)" if strict and report.errors else (
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged"
    )
    click.echo(f"{loaded}; {len(report.errors)} bad rows")
    if report.errors:
        sys.exit(1)


@roster.command("codes")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("activation-codes.xlsx"), show_default=True,
              help="Output file, .xlsx or .csv.")
@click.option("--college", default=None, help="Only this college.")
def roster_codes(out: Path, college: str | None) -> None:
    """Export activation codes per class, for advisors to hand out."""
    from xinqiao.services.codes import export_codes

    count = _with_db(
        lambda db: export_codes(db, out, now=SystemClock().now(), college=college), migrate=True
    )
    click.echo(f"{count} codes written to {out}")


@roster.command("unbind")
@click.argument("person_id")
@click.option("--channel", type=click.Choice(["wechat", "telegram", "wecom"]), default=None,
              help="Only this channel (default: every channel).")
def roster_unbind(person_id: str, channel: str | None) -> None:
    """Release a person's chat accounts and issue a new activation code."""
    from xinqiao.services.binding import unbind

    try:
        done = _with_db(
            lambda db: unbind(db, person_id, now=SystemClock().now(), channel=channel),
            migrate=True,
        )
    except LookupError:
        raise click.ClickException(f"no person with id {person_id!r}") from None
    click.echo(f"{done.name}: {done.released} account(s) released; new activation code "
               f"{done.new_code}")


@roster.command("leave")
@click.argument("ids", nargs=-1)
@click.option("--file", "file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="A text file with one 学号/工号 per line.")
def roster_leave(ids: tuple[str, ...], file: Path | None) -> None:
    """Mark people as having left the school (graduates): inactive, unbound, retention starts."""
    from xinqiao.services.binding import mark_left

    wanted = list(ids)
    if file is not None:
        wanted += [line.strip() for line in file.read_text(encoding="utf-8-sig").splitlines()
                   if line.strip()]
    if not wanted:
        raise click.UsageError("give ids or --file")
    marked, unknown = _with_db(lambda db: mark_left(db, wanted, now=SystemClock().now()))
    for external_id in unknown:
        click.echo(f"not on the roster: {external_id}", err=True)
    click.echo(f"{marked} marked as left")
