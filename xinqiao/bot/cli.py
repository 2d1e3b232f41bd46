"""The ``xinqiao`` command line."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from xinqiao.bot.cli_audit import audit
from xinqiao.bot.cli_booking import booking, schedule
from xinqiao.bot.cli_chat import chat, demo
from xinqiao.bot.cli_content import content
from xinqiao.bot.cli_crisis import crisis
from xinqiao.bot.cli_keys import keys
from xinqiao.bot.cli_policy import policy
from xinqiao.bot.cli_roster import roster
from xinqiao.bot.cli_screening import rota, screening
from xinqiao.bot.cli_support import settings_or_exit as _settings
from xinqiao.bot.cli_support import with_db as _with_db
from xinqiao.clock import SystemClock
from xinqiao.storage.db import Database, open_database


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
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Service processes sharing the port (PostgreSQL only).")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the service (webhooks, notifier, scheduler); --workers N runs N processes."""
    from aiohttp import web

    from xinqiao.bot.app import build_app
    from xinqiao.bot.readiness import missing_credentials
    from xinqiao.storage.migrate import check_current, upgrade

    settings = _settings()
    if workers > 1 and settings.is_sqlite:
        raise click.ClickException("--workers needs PostgreSQL: SQLite serves one process")

    async def prepare() -> None:
        db = open_database(settings)
        try:
            if settings.is_sqlite:  # the embedded default sets itself up
                await upgrade(db)
            else:
                await check_current(db)
            async with db.session() as s:  # pushes that cannot go out: say so before serving
                for problem in await missing_credentials(settings, s):
                    logging.getLogger("xinqiao.serve").warning("%s", problem)
            await _calendar_horizon(db)
        finally:
            await db.dispose()

    try:
        asyncio.run(prepare())
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    from xinqiao.handlers.form_spec import FormSpecError
    from xinqiao.policy.policy import PolicyError
    from xinqiao.services.content.article import ContentError
    from xinqiao.services.instruments import InstrumentError
    from xinqiao.services.report_types import ReportTypeError

    try:
        app = build_app(settings)
    except (PolicyError, InstrumentError, ContentError, ReportTypeError,
            FormSpecError) as exc:  # named file and field
        raise click.ClickException(str(exc)) from exc
    if workers > 1:  # the check above built it once: a bad policy stops here, not in a child
        from xinqiao.bot.workers import Supervisor

        sys.exit(Supervisor(workers, host or settings.host, port or settings.port).run())
    from xinqiao.bot.shutdown import exit_stopped, stop_within

    stop_within(app)  # a stop always ends, whatever is in progress
    web.run_app(app, host=host or settings.host, port=port or settings.port, access_log=None)
    exit_stopped()


async def _calendar_horizon(db: Database) -> None:
    """Warn when the official calendar runs out within 60 days (the lead is pushed once)."""
    from xinqiao.policy.policy import PolicyError, load_policy
    from xinqiao.scheduler.calendar_jobs import horizon_at_start

    try:
        policy = load_policy(_settings().policy_file)
    except PolicyError:
        return  # build_app stops with the file and field named
    async with db.session() as s:
        await horizon_at_start(s, policy, SystemClock().now())


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

    from xinqiao.policy.policy import PolicyError, load_policy
    from xinqiao.services.monthly.export import export_monthly
    from xinqiao.services.network import Network

    try:
        first = date.fromisoformat(month + "-01")
    except ValueError:
        raise click.ClickException(f"--month must look like 2026-09, not {month!r}") from None
    from xinqiao.services.report_types import (
        ReportTypeError,
        load_report_types,
        use_report_types,
    )

    try:
        network = Network(load_policy(_settings().policy_file))
        use_report_types(load_report_types(_settings().content_dir))  # a centre's own rows
    except (PolicyError, ReportTypeError) as exc:
        raise click.ClickException(str(exc)) from exc
    if not out.parent.is_dir():
        raise click.ClickException(f"--out: the folder {str(out.parent)!r} does not exist")
    now = SystemClock().now()
    due_at = network.policy.checkin_due_at
    # Mid-month, only the due dates already past count: future weeks are not missing yet.
    periods = [p for p in network.month_periods(first) if due_at(p) <= now]
    try:
        path = _with_db(lambda db: export_monthly(db, college, first, periods, out, now,
                                                  due_at=due_at), migrate=True)
    except LookupError:
        raise click.ClickException(f"no college named {college!r}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {str(out)!r}: {exc.strerror or exc}") from None
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


main.add_command(roster)
main.add_command(keys)
main.add_command(chat)
main.add_command(demo)
main.add_command(screening)
main.add_command(rota)
main.add_command(schedule)
main.add_command(booking)
main.add_command(audit)
main.add_command(content)
main.add_command(crisis)
main.add_command(policy)
