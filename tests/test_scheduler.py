"""The job scheduler: cron times in Shanghai, one run per occurrence across workers, catch-up."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import pytest
from alembic import command
from sqlalchemy.engine import Connection
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock, local
from xinqiao.handlers.content.texts import article_payload
from xinqiao.policy.policy import load_policy
from xinqiao.scheduler.calendar_jobs import booking_jobs, network_jobs, tip_jobs
from xinqiao.scheduler.jobs import CalendarJob, Jobs, cron
from xinqiao.scheduler.runner import JobScheduler
from xinqiao.scheduler.timer_kinds import TimerKinds
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.content.push import WeeklyTips
from xinqiao.services.content.service import Content
from xinqiao.services.network import Network
from xinqiao.services.timers import schedule
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.jobs import JobRun
from xinqiao.storage.migrate import alembic_config, upgrade
from xinqiao.storage.models import ChannelIdentity
from xinqiao.storage.reports import Timer

MONDAY = datetime(2026, 9, 7, 0, 0, tzinfo=SHANGHAI)
COVERAGE = "【心桥·联络检查】"


def sh(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    """A Shanghai wall-clock moment of 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def _unbind(world: World, who: str) -> None:
    """``who`` never bound a chat account: the coverage check has something to say."""
    async with world.db.session() as s:
        for row in (await s.exec(select(ChannelIdentity).where(
                ChannelIdentity.person_id == world.ids[who]))).all():
            await s.delete(row)


async def _runs(db: Database, job: str) -> list[datetime]:
    async with db.session() as s:
        rows = (await s.exec(select(JobRun.scheduled_for).where(JobRun.job == job)
                             .order_by(col(JobRun.scheduled_for)))).all()
    return [local(r) for r in rows]


async def test_two_workers_run_a_due_job_exactly_once(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=sh(9, 7, 8, 30))
    await _unbind(world, "t1")
    ran: list[str] = []

    async def slow_count(s: AsyncSession, day: date, now: datetime) -> None:
        ran.append(day.isoformat())
        await asyncio.sleep(0.2)  # the other worker's claim arrives while this one holds it

    count = CalendarJob("test.count", cron(time(8, 30)), timedelta(hours=1), slow_count)
    other = Database(db_url)  # a second worker: its own engine and pool
    try:
        workers = [JobScheduler(Jobs(d, clock, [*network_jobs(world.network), count]))
                   for d in (db, other)]
        await asyncio.gather(*(w.fired(name) for w in workers
                               for name in ("coverage.daily", "test.count")))
    finally:
        await other.dispose()
    assert ran == ["2026-09-07"]
    assert await _runs(db, "coverage.daily") == [sh(9, 7, 8, 30)]
    college = [t for t in await world.push_texts("l1") if t.startswith(COVERAGE)]
    assert len(college) == 1 and "辅导员王老师：未绑定" in college[0]


async def test_a_job_missed_while_down_runs_once_at_start(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # Down from Friday evening to Monday 09:00: three nightly purges, Friday's and Monday's
    # daily plans and Monday's 08:30 coverage check were missed.
    world = await make_world(db, clock, settings, start=sh(9, 4, 18))
    await _unbind(world, "t1")
    clock.set(sh(9, 7, 9))
    await world.start_jobs()
    assert await _runs(db, "retention.nightly") == [sh(9, 7, 3, 30)]  # once, not three times
    assert await _runs(db, "checkin.open") == [sh(9, 7, 0, 5)]
    assert await _runs(db, "coverage.daily") == [sh(9, 7, 8, 30)]
    assert [t for t in await world.push_texts("l1") if t.startswith(COVERAGE)] != []
    # A second worker (or a restart) five minutes later owes nothing more.
    clock.set(sh(9, 7, 9, 5))
    await JobScheduler(world.jobs()).catch_up()
    assert await _runs(db, "coverage.daily") == [sh(9, 7, 8, 30)]
    assert len([t for t in await world.push_texts("l1") if t.startswith(COVERAGE)]) == 1
    # Tuesday's worker starting at 21:00 is past the check's 12 h grace: no stale check.
    clock.set(sh(9, 8, 21))
    await JobScheduler(world.jobs()).catch_up()
    assert await _runs(db, "coverage.daily") == [sh(9, 7, 8, 30)]
    assert await _runs(db, "checkin.open") == [sh(9, 7, 0, 5), sh(9, 8, 0, 5)]


async def test_cron_times_are_shanghai_times_on_a_fake_clock(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=sh(10, 6, 0))
    policy = world.network.policy
    world.extra_jobs = [*booking_jobs(BookingTimers(policy)),
                        *tip_jobs(WeeklyTips(policy.content, Content(None, "https://x.cn"),
                                                   article_payload))]
    jobs = world.jobs().jobs
    week = (sh(10, 6, 0), sh(10, 10, 0))  # the end of the National Day holiday
    # Daily at 00:05 Shanghai, which is 16:05 UTC the day before.
    assert jobs["checkin.open"].occurrences(*week)[0] == datetime(2026, 10, 5, 16, 5,
                                                                  tzinfo=UTC)
    assert [local(t) for t in jobs["coverage.daily"].occurrences(*week)] == [
        sh(10, 8, 8, 30), sh(10, 9, 8, 30)]  # workdays only: the holiday ends on the 8th
    assert [local(t) for t in jobs["monthly.generate"].occurrences(*week)] == [
        sh(10, 8, 9)]  # September's 月报 on October's first workday
    assert [local(t) for t in jobs["content.tip"].occurrences(*week)] == [sh(10, 7, 12, 30)]
    assert len(jobs["booking.morning"].occurrences(*week)) == 4
    # Driven on the fake clock, the service's runs land at those times.
    await world.start_jobs()
    clock.set(sh(10, 10, 0))
    await world.sweep()
    assert await _runs(db, "monthly.generate") == [sh(10, 8, 9)]
    assert "9月的心理工作月报已经生成" in (await world.push_texts("l1"))[-1]


async def test_apscheduler_fires_the_jobs_on_shanghai_cron_triggers(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY)
    runner = JobScheduler(world.jobs())
    runner.start()
    try:
        assert runner.scheduler is not None
        job = runner.scheduler.get_job("coverage.daily")
        assert str(job.trigger.timezone) == "Asia/Shanghai"
        fires = job.next_run_time.astimezone(SHANGHAI)
        assert (fires.hour, fires.minute) == (8, 30)
        assert {j.id for j in runner.scheduler.get_jobs()} >= {
            "checkin.open", "screening.rounds", "retention.nightly", "coverage.daily",
            "monthly.generate"}
    finally:
        runner.shutdown()


def test_every_timer_kind_needs_a_handler_and_a_priority(settings: Settings) -> None:
    handlers = Network(load_policy()).timer_handlers()
    with pytest.raises(ValueError, match=r"without a handler: .*booking\.remind"):
        TimerKinds(handlers)
    with pytest.raises(ValueError, match=r"without a priority: .*'mystery\.kind'"):
        TimerKinds({**handlers, "mystery.kind": handlers["checkin.due"]})


async def test_upgrading_hands_the_self_armed_plan_timers_to_the_jobs(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=sh(9, 7, 9))

    def down(conn: Connection) -> None:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")

    async with db.engine.begin() as conn:
        await conn.run_sync(down)
    async with db.session() as s:  # what the old code left pending: tomorrow's plan, a deadline
        for kind, ref in (("plan.daily", "2026-09-08"),
                          ("checkin.due", f"{world.campus.klass_id}:2026-09-08")):
            await schedule(s, kind=kind, ref=ref, due_at=sh(9, 8, 0, 5), now=clock.now())
    await upgrade(db)
    async with db.session() as s:
        timers = {t.kind: t for t in (await s.exec(select(Timer))).all()}
    plan, due = timers["plan.daily"], timers["checkin.due"]
    assert plan.fired_at is not None and plan.fired_at.tzinfo is not None
    assert plan.last_error == "superseded by the job scheduler"
    assert due.fired_at is None  # deadlines stay timers
    clock.set(sh(9, 8, 0, 5))
    assert await world.sweep() == 1  # only the deadline: nothing fires "unknown kind"
