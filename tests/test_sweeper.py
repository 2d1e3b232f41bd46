"""The deadline sweeper under load: urgent steps first, a few statements per batch, no polling."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from tests.network_world import World, make_world
from tests.test_escalation import MONDAY_9
from xinqiao.clock import FakeClock
from xinqiao.services.escalation.engine import Subject
from xinqiao.services.timers import Sweeper, schedule
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation, EscalationStep, Severity, Timer


async def _open(world: World, n: int, severity: Severity, key: str = "item") -> list[int]:
    """``n`` open items about 软件2301 (as a report would open them), first level told."""
    ids = []
    async with world.db.session() as s:
        for i in range(n):
            esc = await world.network.escalations.open(s, Subject(
                key=f"{key}:{i}", kind="dorm", title="宿舍情况反映",
                college_id=world.campus.college_id, klass_id=world.campus.klass_id),
                severity, world.clock.now())
            ids.append(esc.id or 0)
    return ids


async def _climbed(world: World, ids: list[int]) -> int:
    async with world.db.session() as s:
        return len((await s.exec(select(EscalationStep).where(
            col(EscalationStep.escalation_id).in_(ids), EscalationStep.action == "notified",
            EscalationStep.level == 1))).all())


async def test_a_crisis_step_is_not_stuck_behind_a_wave_of_bulk_reminders(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    crisis = await _open(world, 1, Severity.crisis, key="crisis")
    async with db.session() as s:  # 600 students' reminders, due before the crisis deadline
        for n in range(600):
            await schedule(s, kind="campaign.remind", ref=f"1:0:{n}", due_at=clock.now(),
                           now=clock.now())
    reminded: list[str] = []

    async def remind(_: AsyncSession, timer: Timer) -> None:
        reminded.append(timer.ref)

    clock.advance(hours=2)
    sweeper = Sweeper(db, clock, {**world.network.timer_handlers(), "campaign.remind": remind},
                      world.network.timer_batch_handlers())
    assert await sweeper.sweep_once(limit=500) == 500
    assert await _climbed(world, crisis) == 1  # the crisis item went to the next level first
    assert len(reminded) == 499
    texts = await world.push_texts("d1")  # the centre lead, the crisis chain's next level
    assert len(texts) == 1 and "宿舍情况反映" in texts[0] and "危机" in texts[0]
    while await sweeper.sweep_once(limit=500):
        pass
    assert len(reminded) == 600


async def test_each_fired_escalation_step_costs_no_extra_statement(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    counts = []
    for batch, n in enumerate((5, 40)):
        ids = await _open(world, n, Severity.soon, key=f"b{batch}")
        clock.advance(minutes=61)
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            statements.clear()
            assert await world.sweep() == n + 5 * batch  # the first five climb again
            counts.append(len(statements))
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        assert await _climbed(world, ids) == n
    # A handful of statements per batch, whatever its size (one by one it was 15 a step).
    assert counts[1] <= counts[0] + 2, counts
    assert counts[1] <= 20, counts


async def test_the_sweeper_sleeps_until_woken_by_a_new_timer_not_a_fixed_poll(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    fired = asyncio.Event()

    async def ping(_: AsyncSession, timer: Timer) -> None:
        fired.set()

    sweeper = Sweeper(db, clock, {**world.network.timer_handlers(), "test.ping": ping})
    stop = asyncio.Event()
    loop = asyncio.create_task(sweeper.run(stop, longest_sleep=60))
    try:
        await asyncio.sleep(0.3)  # asleep now: the earliest timer is hours away
        assert not fired.is_set()
        started = time.monotonic()
        async with db.session() as s:
            await schedule(s, kind="test.ping", ref="1", due_at=clock.now() + timedelta(
                seconds=-1), now=clock.now())
        await asyncio.wait_for(fired.wait(), timeout=10)
        assert time.monotonic() - started < 5  # woken at once, not after its 60 s sleep
    finally:
        stop.set()
        await asyncio.wait_for(loop, timeout=10)


async def test_a_failing_item_backs_off_while_the_rest_of_its_batch_fires(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    ids = await _open(world, 5, Severity.soon)
    async with db.session() as s:  # one item's chain names a level nobody knows
        esc = await s.get(Escalation, ids[2])
        assert esc is not None
        esc.chain = [esc.chain[0], {**esc.chain[1], "notify": ["no_such_level"]}]
        s.add(esc)
    clock.advance(minutes=61)
    assert await world.sweep() == 4
    assert await _climbed(world, ids) == 4
    async with db.session() as s:
        left = (await s.exec(select(Timer).where(
            Timer.kind == "escalation.deadline", col(Timer.fired_at).is_(None),
            Timer.ref == str(ids[2])))).one()
    assert left.attempts == 1 and left.due_at > clock.now()  # backs off, tried again later
    assert await world.sweep() == 0


async def test_a_fired_timer_keeps_the_moment_its_handler_was_told(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    told: list[datetime] = []

    async def slow(_: AsyncSession, timer: Timer) -> None:
        assert timer.fired_at is not None
        told.append(timer.fired_at)  # e.g. a reminder judging how late it fires
        clock.advance(seconds=30)  # a slow step: the clock moves on meanwhile

    async with db.session() as s:
        await schedule(s, kind="test.slow", ref="1", due_at=clock.now(), now=clock.now())
    assert await Sweeper(db, clock, {**world.network.timer_handlers(),
                                     "test.slow": slow}).sweep_once() == 1
    async with db.session() as s:
        stored = (await s.exec(select(Timer).where(Timer.kind == "test.slow"))).one()
    assert told == [MONDAY_9] and stored.fired_at == MONDAY_9  # set once, as the handler saw
