"""``xinqiao content ...``: check the library, search it, and schedule content campaigns."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from xinqiao.bot.cli_support import settings_or_exit, with_db
from xinqiao.clock import SystemClock, local
from xinqiao.storage.db import Database

if TYPE_CHECKING:
    from xinqiao.services.content.service import Content


def _content() -> Content:
    from xinqiao.services.content.article import ContentError
    from xinqiao.services.content.service import Content

    settings = settings_or_exit()
    try:
        return Content(settings.content_dir, settings.public_base_url)
    except ContentError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
def content() -> None:
    """Psycho-education content: articles, search, campaigns."""


@content.command("check")
def content_check() -> None:
    """Validate every article, content data file and form (exit 1 naming the file and field)."""
    from xinqiao.handlers.content.exercises import exercise_forms
    from xinqiao.services.forms.loader import FormSpecError

    library = _content().library
    try:
        exercises = exercise_forms(library.content_dir)
    except FormSpecError as exc:
        raise click.ClickException(str(exc)) from exc
    for art in library.articles().values():
        if art.meta.exercise is not None and art.meta.exercise not in exercises:
            raise click.ClickException(f"{art.source}: exercise: no exercise "
                                       f"{art.meta.exercise!r}; known: {sorted(exercises)}")
    for spec in exercises.values():
        if spec.article is not None and spec.article not in library.articles():
            raise click.ClickException(f"exercise {spec.id}: article: no article "
                                       f"{spec.article!r}")
    now = SystemClock().now()
    live = len(library.published(now))
    click.echo(f"{len(library.articles())} articles ({live} published now), "
               f"{len(library.topics)} topics, {len(exercises)} exercises: all valid")


@content.command("list")
def content_list() -> None:
    """Every article: slug, topic, kind, whether it is published now, title."""
    lib = _content().library
    now = SystemClock().now()
    for art in sorted(lib.articles().values(), key=lambda a: (a.meta.topic, a.slug)):
        state = "live" if art.published(now) else "off"
        click.echo(f"{art.slug:28} {art.meta.topic:10} {art.meta.kind:8} {state:4} {art.title}")


@content.command("search")
@click.argument("query")
def content_search(query: str) -> None:
    """Show what a student searching QUERY would find, best first."""
    found = _content().search(query, SystemClock().now(), limit=10)
    for art in found:
        click.echo(f"{art.slug:28} {art.title}")
    if not found:
        click.echo("nothing found")


@content.group("campaign")
def campaign() -> None:
    """Push an article to all students, a college or a year at a set time (5·25, 10·10 …)."""


@campaign.command("create")
@click.option("--article", "slug", required=True, help="The article's slug (see `content list`).")
@click.option("--at", "at", default=None, help="Local time YYYY-MM-DD HH:MM (default: now).")
@click.option("--college", default=None, help="Only this college (by name).")
@click.option("--year", type=int, default=None, help="Only this enrolment year, e.g. 2025.")
@click.option("--name", default="", help="Heading of the push (default: the article title).")
def campaign_create(slug: str, at: str | None, college: str | None, year: int | None,
                    name: str) -> None:
    """Schedule a campaign; the running service sends it at that time, in chunks."""
    from xinqiao.handlers.content.texts import refusal
    from xinqiao.services.content.campaigns import (
        CampaignError,
        Target,
        college_named,
        count_reachable,
        count_targets,
        create,
        parse_when,
    )

    lib = _content()
    now = SystemClock().now()
    send_at = parse_when(at) if at else now
    if send_at is None:
        raise click.ClickException(f"--at must look like 2027-05-25 09:00, not {at!r}")

    async def run(db: Database) -> str:
        async with db.session() as s:
            college_id = None
            if college is not None:
                college_id = await college_named(s, college)
                if college_id is None:
                    raise click.ClickException(f"no college named {college}")
            target = Target(college_id, year)
            try:
                created = await create(s, lib, name=name, slug=slug, target=target,
                                       send_at=send_at, now=now, created_by=None)
            except CampaignError as exc:
                raise click.ClickException(refusal(exc)) from exc
            people = await count_targets(s, target)
            reachable = await count_reachable(s, target)
        unreachable = (f" ({people - reachable} of them have no chat account yet and will "
                       "not receive it)" if reachable < people else "")
        return (f"campaign {created.id} scheduled for {local(created.send_at):%Y-%m-%d %H:%M}: "
                f"{slug} to {people} students now in the target{unreachable}")

    click.echo(with_db(run, migrate=True))


@campaign.command("list")
def campaign_list() -> None:
    """Recent campaigns with their status and how many were pushed."""
    from xinqiao.services.content.campaigns import upcoming

    async def run(db: Database) -> list[str]:
        async with db.session() as s:
            return [f"{c.id:>4} {local(c.send_at):%Y-%m-%d %H:%M} {c.status:9} "
                    f"{c.pushed:>6} {c.slug} college={c.college_id or '-'} "
                    f"year={c.enrolment_year or '-'} {c.name}"
                    for c in await upcoming(s, limit=50)]

    lines = with_db(run, migrate=True)
    click.echo("\n".join(lines) if lines else "no campaigns")


@campaign.command("cancel")
@click.argument("campaign_id", type=int)
def campaign_cancel(campaign_id: int) -> None:
    """Cancel a campaign that has not started sending."""
    from xinqiao.services.content.campaigns import cancel

    async def run(db: Database) -> bool:
        async with db.session() as s:
            return await cancel(s, campaign_id, SystemClock().now(), None)

    if not with_db(run, migrate=True):
        click.echo(f"campaign {campaign_id} is not waiting to be sent; nothing changed", err=True)
        sys.exit(1)
    click.echo(f"campaign {campaign_id} cancelled")
