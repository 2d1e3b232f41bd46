"""Calendar jobs: cron times in Asia/Shanghai, each run claimed once across workers.

A job run first inserts its ``job_run`` row (job, scheduled time) in the transaction that
holds the run's effects. The unique constraint is the claim: a second worker's insert does
nothing (PostgreSQL makes it wait for the first transaction, then skip), so N workers run each
occurrence once, and a run that fails leaves no row and can be tried again. Whatever must
outlive the run (a deadline, the next chunk of a long job) is a durable timer it arms.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, Clock, local
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.jobs import JobRun

log = logging.getLogger(__name__)
# A job's work: (session, the local day of the run, the scheduled time as "now").
JobWork = Callable[[AsyncSession, date, datetime], Awaitable[object]]
_TICK = timedelta(microseconds=1)


def cron(at: time, day_of_week: int | None = None) -> CronTrigger:
    """A trigger at a Shanghai clock time, daily or on one ISO weekday (1 Monday … 7 Sunday)."""
    weekday = None if day_of_week is None else day_of_week - 1  # APScheduler: 0 is Monday
    return CronTrigger(day_of_week=weekday, hour=at.hour, minute=at.minute, timezone=SHANGHAI)


def _every_day(_: date) -> bool:
    return True


@dataclass(frozen=True)
class CalendarJob:
    """A job at cron times; ``grace`` is how late a missed run may still start (once)."""

    name: str
    trigger: CronTrigger
    grace: timedelta
    work: JobWork
    on: Callable[[date], bool] = field(default=_every_day)  # which local days it runs

    def occurrences(self, after: datetime, until: datetime) -> list[datetime]:
        """Its scheduled times in (``after``, ``until``], as aware UTC datetimes."""
        out: list[datetime] = []
        at = self.trigger.get_next_fire_time(None, after + _TICK)
        while at is not None and at <= until:
            if self.on(local(at).date()):
                out.append(at.astimezone(until.tzinfo))
            at = self.trigger.get_next_fire_time(at, at + _TICK)
        return out

    def latest(self, now: datetime) -> datetime | None:
        """The run a worker starting at ``now`` owes: the last one within the grace."""
        runs = self.occurrences(now - self.grace - _TICK, now)
        return runs[-1] if runs else None


async def claim(s: AsyncSession, job: str, scheduled_for: datetime, now: datetime) -> bool:
    """Insert the run's row unless it exists; True when this transaction holds the run."""
    insert = postgresql.insert if dialect_name(s) == "postgresql" else sqlite.insert
    stmt = (insert(JobRun).values(job=job, scheduled_for=scheduled_for, started_at=now)
            .on_conflict_do_nothing(index_elements=["job", "scheduled_for"])
            .returning(col(JobRun.id)))
    return (await s.exec(stmt)).first() is not None


async def forget_runs(s: AsyncSession, before: datetime) -> None:
    """Drop claims older than ``before`` (no occurrence that old is ever run again)."""
    await s.exec(delete(JobRun).where(col(JobRun.scheduled_for) < before))


class Jobs:
    """Runs the calendar jobs of one process against the shared database."""

    def __init__(self, db: Database, clock: Clock, jobs: Sequence[CalendarJob]) -> None:
        self.db = db
        self.clock = clock
        self.jobs = {job.name: job for job in jobs}

    async def run(self, job: CalendarJob, scheduled_for: datetime) -> bool:
        """Claim and run one occurrence in one transaction; False if another worker has it."""
        async with self.db.session() as s:
            if not await claim(s, job.name, scheduled_for, self.clock.now()):
                return False
            await job.work(s, local(scheduled_for).date(), scheduled_for)
        log.info("job %s of %s ran", job.name, local(scheduled_for).isoformat())
        return True

    async def run_between(self, after: datetime, until: datetime) -> int:
        """Run every occurrence in (``after``, ``until``] in time order, as a service running
        all along would have (the fake-clock driver of the tests); return how many ran."""
        due = sorted(((at, i, job) for i, job in enumerate(self.jobs.values())
                      for at in job.occurrences(after, until)), key=lambda r: (r[0], r[1]))
        return sum([await self.run(job, at) for at, _, job in due])
