"""APScheduler in the service process: the calendar jobs on their cron triggers, a catch-up at
start, retries of a failed run within its grace, and the interval jobs (inbox recovery).

The deadline sweeper is not an interval job here: it sleeps until the earliest timer is due and
is woken at once when this process schedules an earlier one (``services.timers.Sweeper.run``),
which a fixed interval cannot do without polling the timers table every second.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from xinqiao.clock import SHANGHAI
from xinqiao.scheduler.jobs import Jobs
from xinqiao.storage.outage import OutageLog

if TYPE_CHECKING:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger(__name__)
# APScheduler logs every run at INFO ("Running job …" every few seconds for inbox recovery).
logging.getLogger("apscheduler").setLevel(logging.WARNING)


class JobScheduler:
    """One AsyncIOScheduler per process; every worker runs one, the claims keep runs single."""

    def __init__(self, jobs: Jobs, retry_after: timedelta = timedelta(minutes=1)) -> None:
        self.jobs = jobs
        self.retry_after = retry_after
        self.scheduler: AsyncIOScheduler | None = None
        self._outages: dict[str, OutageLog] = {}
        self._running: set[asyncio.Task[Any]] = set()
        self._stopping = False

    def start(self) -> None:
        """Add the cron jobs and the catch-up, and start (inside the running event loop)."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler  # only where it runs

        self.scheduler = AsyncIOScheduler(timezone=SHANGHAI)
        for job in self.jobs.jobs.values():
            # Our grace decides whether a late run still counts: APScheduler must not skip it.
            self.scheduler.add_job(self._fire, job.trigger, args=[job.name], id=job.name,
                                   coalesce=True, max_instances=1, misfire_grace_time=None)
        self.scheduler.add_job(self._own(self.catch_up), "date",
                               run_date=datetime.now(SHANGHAI), id="catch-up",
                               misfire_grace_time=None)
        self.scheduler.start()

    def every(self, name: str, seconds: float, work: Callable[[], Awaitable[Any]]) -> None:
        """Run ``work`` now and every ``seconds`` in this process (no claim: each worker's)."""
        assert self.scheduler is not None, "start() first"
        outage = OutageLog(log, f"{name} job")

        async def run() -> None:
            try:
                await work()
                outage.success()
            except asyncio.CancelledError:  # the process is going: the next start runs it
                log.info("%s job stopped by shutdown", name)
                raise
            except Exception as exc:  # logged once per outage; the next interval tries again
                if not outage.failure(exc):
                    log.exception("%s job failed", name)

        self.scheduler.add_job(self._own(run), "interval", seconds=seconds, id=name,
                               coalesce=True, max_instances=1, misfire_grace_time=None,
                               next_run_time=datetime.now(SHANGHAI))

    def _own(self, work: Callable[..., Coroutine[Any, Any, None]]
             ) -> Callable[..., Awaitable[None]]:
        """``work`` as APScheduler runs it: in a task of this scheduler's own.

        APScheduler cancels its running jobs when it shuts down. A cancel landing inside a
        statement is what must not happen: the driver's connection is then closed from two
        sides at once, and aiosqlite can wait forever for a thread that has already stopped
        (the process never exits). So the work runs in a task APScheduler cannot reach, and
        :meth:`stop` waits for it instead.
        """
        async def run(*args: Any) -> None:
            if self._stopping:
                return
            task = asyncio.ensure_future(work(*args))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            with suppress(asyncio.CancelledError):  # APScheduler's task ends; ours runs on
                await asyncio.shield(task)

        return run

    async def _fire(self, name: str, scheduled_for: datetime | None = None) -> None:
        await self._own(self.fired)(name, scheduled_for)

    def shutdown(self) -> None:
        """Stop firing: no new run starts, and a catch-up ends after the job in progress."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    async def stop(self, within: float) -> bool:
        """:meth:`shutdown`, then wait up to ``within`` seconds for the runs in progress;
        True when none is left (each either committed or rolled back with its claim)."""
        self.shutdown()
        if self._running:
            await asyncio.wait(set(self._running), timeout=within)
        return not self._running

    async def catch_up(self) -> None:
        """Each job's run missed while this process was down, once, within its grace."""
        for name, job in self.jobs.jobs.items():
            if self._stopping:  # the rest are caught up at the next start
                return
            at = job.latest(self.jobs.clock.now())
            if at is not None:
                await self.fired(name, at)

    async def fired(self, name: str, scheduled_for: datetime | None = None) -> None:
        """A cron time came (or a retry): claim and run the occurrence it stands for."""
        job = self.jobs.jobs[name]
        at = scheduled_for or job.latest(self.jobs.clock.now())
        if at is None:  # not a day it runs on (a holiday for a workday job)
            return
        outage = self._outages.setdefault(name, OutageLog(log, f"job {name}"))
        try:
            await self.jobs.run(job, at)
            outage.success()
        except asyncio.CancelledError:
            # Cancelled only when the process is going anyway: the claim rolled back with the
            # run's transaction, so the next start's catch-up runs it (within its grace). The
            # cancel goes on up: a catch-up must not carry on with the next job.
            log.info("job %s of %s stopped by shutdown; it runs again at start", name,
                     at.isoformat())
            raise
        except Exception as exc:  # nothing claimed: try again while the grace lasts
            if not outage.failure(exc):
                log.exception("job %s of %s failed", name, at.isoformat())
            retry = self.jobs.clock.now() + self.retry_after
            if self._stopping:
                log.info("job %s of %s runs again at the next start", name, at.isoformat())
            elif retry <= at + job.grace and self.scheduler is not None:
                self.scheduler.add_job(self._fire, "date", run_date=retry, args=[name, at],
                                       misfire_grace_time=None)
            else:
                log.error("job %s of %s given up: past its grace of %s", name,
                          at.isoformat(), job.grace)
