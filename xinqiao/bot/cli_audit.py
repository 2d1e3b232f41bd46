"""``xinqiao audit show``: the audit trail on the server, for the centre lead (and is audited)."""

from __future__ import annotations

from datetime import datetime, time

import click

from xinqiao.bot.cli_support import with_db
from xinqiao.clock import SHANGHAI, SystemClock
from xinqiao.storage.db import Database


@click.group()
def audit() -> None:
    """The audit trail: who read or did what about whom."""


@audit.command("show")
@click.option("--person", "person", default=None, help="学号/工号: entries by or about them.")
@click.option("--since", default=None, help="From this day on, YYYY-MM-DD (Shanghai time).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=200, show_default=True)
def audit_show(person: str | None, since: str | None, limit: int) -> None:
    """Print audit entries, newest first: when, who, what, about whom, allowed or refused."""
    from sqlmodel import select

    from xinqiao.services import audit as trail
    from xinqiao.storage.models import Person

    try:
        start = datetime.combine(datetime.strptime(since, "%Y-%m-%d").date(), time(),
                                 SHANGHAI) if since else None
    except ValueError:
        raise click.ClickException(f"--since must look like 2026-09-07, not {since!r}") from None

    async def run(db: Database) -> list[str]:
        async with db.session() as s:
            subject = None
            if person is not None:
                subject = (await s.exec(select(Person).where(
                    Person.external_id == person))).first()
                if subject is None:
                    raise click.ClickException(f"no person {person!r} on the roster")
            rows = await trail.entries(s, person_id=subject.id if subject else None,
                                       since=start, limit=limit)
            lines = [await trail.describe(s, r) for r in rows]
            await trail.record(s, at=SystemClock().now(), action="audit_log.read",
                               actor_person_id=None,
                               subject_person_id=subject.id if subject else None,
                               via="cli", kind="audit_log", since=since)
            return lines

    lines = with_db(run)
    for line in lines:
        click.echo(line)
    click.echo(f"{len(lines)} entries", err=True)
