"""The ``xinqiao`` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

from xinqiao.clock import SystemClock
from xinqiao.settings import Settings
from xinqiao.storage.crypto import DataKeyError
from xinqiao.storage.db import Database, open_database

if TYPE_CHECKING:
    from xinqiao.scheduler.policy import Policy
    from xinqiao.storage.crypto import ColumnRotation

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings()
    except Exception as exc:  # a bad setting must stop start-up with a readable message
        raise click.ClickException(f"invalid settings: {exc}") from exc


def _with_db(job: Callable[[Database], Awaitable[T]], *, migrate: bool = False) -> T:
    settings = _settings()

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


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """心桥 xinqiao — the student mental-health network on chat."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiosqlite logs statement parameters at DEBUG, and those include tokens and chat text.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


@main.command()
@click.option("--host", default=None, help="Override XINQIAO_HOST.")
@click.option("--port", type=int, default=None, help="Override XINQIAO_PORT.")
def serve(host: str | None, port: int | None) -> None:
    """Run the service (webhooks, notifier, scheduler) in this process."""
    from aiohttp import web

    from xinqiao.bot.app import build_app
    from xinqiao.storage.migrate import check_current, upgrade

    settings = _settings()

    async def prepare() -> None:
        db = open_database(settings)
        try:
            if settings.is_sqlite:  # the embedded default sets itself up
                await upgrade(db)
            else:
                await check_current(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(prepare())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    from xinqiao.scheduler.policy import PolicyError

    try:
        app = build_app(settings)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    web.run_app(app, host=host or settings.host, port=port or settings.port, access_log=None)


@main.command()
@click.option("--as", "as_id", required=True, help="学号/工号 of the roster person to act as.")
def chat(as_id: str) -> None:
    """Talk to the bot in the terminal as a roster person."""
    from xinqiao.bot.channels.console import ConsoleChat, UnknownPerson, bind_console
    from xinqiao.bot.services import build_services

    settings = _settings()
    clock = SystemClock()

    async def run() -> None:
        services = build_services(settings, clock)
        try:
            if settings.is_sqlite:
                from xinqiao.storage.migrate import upgrade

                await upgrade(services.db)
            try:
                address = await bind_console(services.db, as_id, clock.now())
            except UnknownPerson:
                raise click.ClickException(
                    f"no active person with id {as_id!r}; import a roster or run `xinqiao demo`"
                ) from None
            chat = ConsoleChat(services.db, services.processor, clock, address)
            await chat.run(input, click.echo)
        finally:
            await services.db.dispose()

    try:
        asyncio.run(run())
    except DataKeyError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration (safe to run again)."""

    async def noop(_: Database) -> None:
        return None

    _with_db(noop, migrate=True)
    click.echo("database is up to date")


@main.group()
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
            lambda db: import_roster(db, file, now=SystemClock().now(), strict=strict),
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
@click.option("--channel", type=click.Choice(["wechat", "telegram"]), default=None,
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


def _policy() -> Policy:
    from xinqiao.scheduler.policy import PolicyError, load_policy

    try:
        return load_policy(_settings().policy_file)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def schedule() -> None:
    """Counsellors' duty schedules."""


@schedule.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--strict", is_flag=True, help="Load nothing if any row is bad.")
def schedule_import(file: Path, strict: bool) -> None:
    """Load a semester's duty patterns from .xlsx or .csv (replaces them for its dates)."""
    from xinqiao.services.booking_schedule import import_schedule
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


@main.group()
def booking() -> None:
    """Counselling booking."""


@booking.command("stats")
@click.option("--week", default=None, help="Any day of the week, YYYY-MM-DD (default: this week).")
def booking_stats(week: str | None) -> None:
    """Print a week's booking statistics: load, no-shows, waiting time."""
    from datetime import date

    from xinqiao.clock import local
    from xinqiao.services.booking_stats import format_stats, week_stats

    try:
        day = date.fromisoformat(week) if week else local(SystemClock().now()).date()
    except ValueError:
        raise click.ClickException(f"--week must look like 2026-09-07, not {week!r}") from None
    policy = _policy()

    async def run(db: Database) -> str:
        async with db.session() as s:
            return format_stats(await week_stats(s, policy, day))

    click.echo(_with_db(run, migrate=True))


@main.command()
def demo() -> None:
    """Load a small demo school (invented people) to try the bot with `xinqiao chat`."""
    from xinqiao.services.demo import load_demo

    report = _with_db(lambda db: load_demo(db, SystemClock().now()), migrate=True)
    click.echo(f"demo school loaded: {report.created} created, {report.updated} updated")
    click.echo("try: xinqiao chat --as S2023001   (a student)")


@main.group()
def report() -> None:
    """Reports for the colleges and the centre."""


@report.command("monthly")
@click.option("--college", required=True, help="The college's name as on the roster.")
@click.option("--month", required=True, help="YYYY-MM")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The .xlsx file to write.")
def report_monthly(college: str, month: str, out: Path) -> None:
    """Export a college's monthly report (the confirmed one if it has been confirmed)."""
    from datetime import date

    from xinqiao.scheduler.policy import PolicyError, load_policy
    from xinqiao.services.monthly import export_monthly
    from xinqiao.services.network import Network

    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        raise click.ClickException(f"--month must look like 2026-09, not {month!r}") from None
    try:
        network = Network(load_policy(_settings().policy_file))
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        path = _with_db(lambda db: export_monthly(
            db, college, first, network.month_periods(first), out, SystemClock().now()),
            migrate=True)
    except LookupError:
        raise click.ClickException(f"no college named {college!r}") from None
    click.echo(f"monthly report written to {path}")


@main.group()
def menu() -> None:
    """The Official Account's menu."""


@menu.command("sync")
@click.option("--file", "menu_file", type=click.Path(exists=True, path_type=Path), default=None,
              help="Menu TOML (default: the packaged one).")
def menu_sync(menu_file: Path | None) -> None:
    """Publish the account menu through the WeChat API."""
    from xinqiao.bot.channels.wechat_api import WeChatAPI
    from xinqiao.bot.channels.wechat_menu import load_wechat_menu, sync_menu

    settings = _settings()
    if not (settings.wechat_appid and settings.wechat_secret):
        raise click.ClickException("set XINQIAO_WECHAT_APPID and XINQIAO_WECHAT_SECRET first")
    menu_dict = load_wechat_menu(menu_file)

    async def run(db: Database) -> None:
        api = WeChatAPI(db, settings, SystemClock())
        await api.start()
        try:
            await sync_menu(api, menu_dict)
        finally:
            await api.close()

    _with_db(run, migrate=settings.is_sqlite)
    click.echo("menu published")


@main.group()
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
    from xinqiao.storage.crypto import DataKeyError, UndecryptableError, rotate_all
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
