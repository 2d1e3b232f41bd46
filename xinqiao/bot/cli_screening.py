"""``xinqiao screening ...`` (rounds and their completion) and ``xinqiao rota ...`` (duty)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click
from sqlmodel import col, select

from xinqiao.bot.cli_support import settings_or_exit, with_db
from xinqiao.clock import SHANGHAI, SystemClock
from xinqiao.storage.db import Database


@click.group()
def screening() -> None:
    """Screening rounds (测评批次): start one by hand, follow completion."""


@screening.command("start")
@click.option("--name", required=True, help="What students see, e.g. 期中心理健康测评.")
@click.option("--instrument", "instruments", multiple=True,
              help="Instrument id, repeatable (default: the policy's first-stage list).")
@click.option("--year", "years", type=int, multiple=True, help="Enrolment year, repeatable.")
@click.option("--college", "colleges", multiple=True, help="College name, repeatable.")
@click.option("--days", type=click.IntRange(1, 90), default=None,
              help="Days the round stays open (default: the policy's open_days).")
def screening_start(name: str, instruments: tuple[str, ...], years: tuple[int, ...],
                    colleges: tuple[str, ...], days: int | None) -> None:
    """Open a round now; the running service sends the invitations within seconds."""
    from xinqiao.policy.policy import PolicyError, load_policy
    from xinqiao.services.instruments import InstrumentError, load_instruments
    from xinqiao.services.screening_rounds import Round, create_campaign
    from xinqiao.storage.campaigns import CampaignKind
    from xinqiao.storage.models import College

    settings = settings_or_exit()
    try:
        policy = load_policy(settings.policy_file)
        known = load_instruments(settings.content_dir)
    except (PolicyError, InstrumentError) as exc:
        raise click.ClickException(str(exc)) from exc
    unknown = [i for i in instruments if i not in known]
    if unknown:
        raise click.ClickException(f"unknown instrument(s) {', '.join(unknown)}; "
                                   f"known: {', '.join(sorted(known))}")
    now = SystemClock().now()

    async def run(db: Database) -> str:
        async with db.session() as s:
            ids = dict((await s.exec(select(College.name, College.id))).all())
            missing = [c for c in colleges if c not in ids]
            if missing:
                raise click.ClickException(f"no college named {', '.join(missing)}")
            spec = Round(key=f"manual:{now.isoformat()}", name=name, kind=CampaignKind.manual,
                         years=years, college_ids=tuple(int(ids[c] or 0) for c in colleges))
            campaign = await create_campaign(s, policy, spec, opens_at=now, now=now,
                                             instruments=instruments or None, open_days=days)
            closes = campaign.closes_at.astimezone(SHANGHAI)
            return f"round {campaign.id} {name!r} opens now, closes {closes:%Y-%m-%d %H:%M}"

    click.echo(with_db(run, migrate=settings.is_sqlite))


@screening.command("rounds")
def screening_rounds() -> None:
    """List the rounds with their completion so far."""
    from xinqiao.services.screening_round_report import completion, summary_line
    from xinqiao.storage.campaigns import ScreeningCampaign

    async def run(db: Database) -> list[str]:
        async with db.session() as s:
            rounds = (await s.exec(select(ScreeningCampaign)
                                   .order_by(col(ScreeningCampaign.opens_at)))).all()
            lines = []
            for c in rounds:
                assert c.id is not None
                opens = c.opens_at.astimezone(SHANGHAI)
                lines.append(f"{c.id}\t{c.status}\t{opens:%Y-%m-%d}\t{c.name}\t"
                             + summary_line(await completion(s, c.id)))
            return lines

    for line in with_db(run) or ["no rounds yet"]:
        click.echo(line)


@screening.command("completion")
@click.argument("round_id", type=int)
@click.option("--college", default=None, help="Only this college's classes.")
def screening_completion(round_id: int, college: str | None) -> None:
    """Completion of one round per class (counts only)."""
    from xinqiao.services.screening_round_report import completion
    from xinqiao.storage.models import College

    async def run(db: Database) -> list[str]:
        async with db.session() as s:
            college_id = None
            if college is not None:
                college_id = (await s.exec(
                    select(College.id).where(College.name == college))).first()
                if college_id is None:
                    raise click.ClickException(f"no college named {college}")
            rows = await completion(s, round_id, college_id)
            return [f"{r.college}\t{r.klass}\t{r.invited}\t{r.completed}\t{r.declined}\t"
                    f"{r.rate:.0%}" for r in rows]

    lines = with_db(run)
    click.echo("college\tclass\tinvited\tcompleted\tdeclined\trate")
    for line in lines:
        click.echo(line)


@click.group()
def rota() -> None:
    """The centre's crisis duty rota (值班表)."""


@rota.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def rota_import(file: Path) -> None:
    """Load shifts (工号, 开始, 结束, 备注) from .xlsx/.csv, replacing those they overlap."""
    from xinqiao.services.rota import RotaImport, import_rota

    async def run(db: Database) -> RotaImport:
        async with db.session() as s:
            report = await import_rota(s, file, now=SystemClock().now())
            if report.errors:
                await s.rollback()
            return report

    try:
        report = with_db(run, migrate=settings_or_exit().is_sqlite)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for row, message in report.errors:
        click.echo(f"row {row}: {message}", err=True)
    if report.errors:
        click.echo("nothing loaded")
        sys.exit(1)
    click.echo(f"{report.written} shifts loaded, {report.replaced} replaced")


@rota.command("show")
@click.option("--days", type=click.IntRange(1, 60), default=7)
def rota_show(days: int) -> None:
    """Who is on duty now and the shifts of the coming days."""
    from xinqiao.services.rota import on_duty, shifts_between
    from xinqiao.storage.models import Person

    async def run(db: Database) -> list[str]:
        now = SystemClock().now()
        async with db.session() as s:
            duty = [p.name for pid in await on_duty(s, now)
                    if (p := await s.get(Person, pid)) is not None]
            lines = ["on duty now: " + (", ".join(duty) or "nobody (no centre staff)")]
            for shift, person in await shifts_between(s, now, now + timedelta(days=days)):
                start = shift.starts_at.astimezone(SHANGHAI)
                end = shift.ends_at.astimezone(SHANGHAI)
                lines.append(f"{start:%Y-%m-%d %H:%M}\t{end:%Y-%m-%d %H:%M}\t{person.name}")
            return lines

    for line in with_db(run):
        click.echo(line)
