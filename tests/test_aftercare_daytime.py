"""关怀回访 pushes land in the daytime: a round confirmed late at night invites the next
morning, and its reminder and the starter's closing counts never arrive at night."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.test_aftercare import INVITED, WEDNESDAY, _attempt_recorded, _school, _texts
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

NIGHT = datetime(2026, 10, 14, 23, 40, tzinfo=SHANGHAI)  # Wednesday, late
REMINDER = "还想听听你最近怎么样"


async def test_a_round_confirmed_at_night_invites_reminds_and_closes_in_the_daytime(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await _school(db, clock, settings)
    number = await _attempt_recorded(world)
    clock.set(NIGHT)  # the centre confirms the round after a late call
    centre = world.chat("c2")
    await centre.say(f"关怀回访 G{number}")
    started = await centre.say("确认发起")
    assert "已发起关怀回访，邀请 5 人" in started
    assert "问候会在 10-15 10:00 发出" in started

    # nobody is asked how they are in the middle of the night
    clock.set(NIGHT + timedelta(minutes=5))
    await world.sweep()
    for who in INVITED:
        assert not await _texts(world, who, "关怀问候"), who
    clock.set(datetime(2026, 10, 15, 9, 59, tzinfo=SHANGHAI))
    await world.sweep()
    assert not await _texts(world, "i1", "关怀问候")

    # the next morning at ten, everyone reachable is invited once
    clock.set(datetime(2026, 10, 15, 10, 0, 30, tzinfo=SHANGHAI))
    await world.sweep()
    for who in INVITED:
        assert len(await _texts(world, who, "关怀问候")) == 1, who
    m1 = world.chat("m1")
    for answer in ("关怀问候", "挺好的", "没有特别的变化", "暂时不用"):
        await m1.say(answer)

    # three days after the start, at 23:40, no reminder; the next morning at ten, one
    clock.set(NIGHT + timedelta(days=3, minutes=1))
    await world.sweep()
    assert not await _texts(world, "i1", REMINDER)
    clock.set(datetime(2026, 10, 18, 10, 0, 30, tzinfo=SHANGHAI))  # Sunday: fine for students
    await world.sweep()
    assert len(await _texts(world, "i1", REMINDER)) == 1
    assert not await _texts(world, "m1", REMINDER)

    # a week after the start, late at night: the round is still open, the starter not woken
    clock.set(NIGHT + timedelta(days=7, minutes=1))
    await world.sweep()
    assert not await _texts(world, "c2", "关怀回访已结束")
    clock.set(datetime(2026, 10, 22, 10, 0, 30, tzinfo=SHANGHAI))
    await world.sweep()
    [closed] = await _texts(world, "c2", "关怀回访已结束")
    assert "邀请 5 人，回答 1 人" in closed


async def test_a_round_confirmed_in_the_evening_invites_at_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await _school(db, clock, settings)
    number = await _attempt_recorded(world)
    clock.set(WEDNESDAY.replace(hour=20, minute=30))  # still before send_until (21:00)
    centre = world.chat("c2")
    await centre.say(f"关怀回访 G{number}")
    started = await centre.say("确认发起")
    assert "已发起关怀回访，邀请 5 人" in started and "发出" not in started
    for who in INVITED:
        assert len(await _texts(world, who, "关怀问候")) == 1, who
