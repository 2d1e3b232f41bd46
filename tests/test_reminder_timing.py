"""Reminders that know the time: dropped when they fire after their event, and worded from
the policy's own durations."""

from __future__ import annotations

from pathlib import Path

from tests.booking_world import book_first, booking_world, sh
from tests.network_world import World
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.network import Network
from xinqiao.services.timers import Sweeper
from xinqiao.settings import Settings
from xinqiao.storage.db import Database


def _sweeper(world: World, dropped: list[str]) -> Sweeper:
    """A fresh sweeper (a restart) whose dropped reminders land in ``dropped``."""
    timers = BookingTimers(world.network.policy, on_dropped=dropped.append)
    return Sweeper(world.db, world.clock,
                   {**world.network.timer_handlers(), **timers.timer_handlers()})


async def test_reminders_after_an_outage_are_dropped_not_sent_for_a_past_session(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00 with 周老师
    dropped: list[str] = []
    clock.set(sh(9, 10, 10, 0))  # the service was down from Monday until Thursday
    while await _sweeper(world, dropped).sweep_once():
        pass
    assert not any("提醒" in t for t in await world.push_texts("s1"))
    assert sorted(dropped) == ["booking.day", "booking.hour"]


async def test_a_late_evening_reminder_is_dropped_and_the_hour_one_says_the_real_time(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00
    dropped: list[str] = []
    clock.set(sh(9, 8, 8, 30))  # down from Monday 17:00 to Tuesday 08:30
    while await _sweeper(world, dropped).sweep_once():
        pass
    reminders = [t for t in await world.push_texts("s1") if t.startswith("提醒")]
    assert dropped == ["booking.day"]  # "明天" on the day itself would be wrong
    assert len(reminders) == 1 and reminders[0].startswith("提醒：你30分钟后有一次心理咨询预约")


async def test_texts_render_the_policys_durations(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    override = tmp_path / "policy.toml"
    override.write_text('[booking]\nremind_before = "40m"\ncutoff = "10m"\n', encoding="utf-8")
    world = await booking_world(db, clock, settings)
    world.network = Network(load_policy(override))
    done = await book_first(world, "s1", pick="4")  # Tuesday 09:00, booked on Monday
    assert "前一天 18:00 和开始前40分钟会提醒你。" in done and "开始前10分钟回复" in done
    assert "一小时" not in done and "0 小时" not in done
    same_day = await book_first(world, "s2", pick="1")  # Monday 14:00, booked Monday 09:00
    assert "14:00" in same_day and "前一天" not in same_day
    assert "开始前40分钟会提醒你" in same_day
    dropped: list[str] = []
    for moment in (sh(9, 7, 13, 20), sh(9, 7, 18, 0), sh(9, 8, 8, 20)):  # on time, each
        clock.set(moment)
        while await _sweeper(world, dropped).sweep_once():
            pass
    assert next(t for t in await world.push_texts("s2") if t.startswith("提醒")).startswith(
        "提醒：你40分钟后")
    hour = [t for t in await world.push_texts("s1") if t.startswith("提醒：你40分钟后")]
    assert len(hour) == 1 and dropped == []
    evening = [t for t in await world.push_texts("s1") if t.startswith("提醒：你明天")]
    assert len(evening) == 1 and "开始前10分钟回复" in evening[0]
