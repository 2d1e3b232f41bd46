"""Booking's durable timers on a fake clock: reminders, the morning list, waitlist offers."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from tests.booking_world import appointments, book_first, booking_world, sh, sweeper
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.scheduler.calendar_jobs import booking_jobs
from xinqiao.scheduler.jobs import Jobs
from xinqiao.scheduler.runner import JobScheduler
from xinqiao.services.booking import appointments as booking
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.booking import WaitlistEntry
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person


async def test_both_reminders_fire_once_each_across_a_restart(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00 with 周老师
    clock.set(sh(9, 7, 17, 59))
    assert await sweeper(world).sweep_once() == 0
    clock.set(sh(9, 7, 18, 0))
    assert await sweeper(world).sweep_once() == 1
    [day] = await world.push_texts("s1")
    assert day.startswith("提醒：你明天有一次心理咨询预约") and "9月8日（周二）09:00" in day
    assert "中心周老师" in day and "心理中心 202" in day
    restarted = Database(db_url)  # a new process on the same database
    try:
        assert await sweeper(world, restarted).sweep_once() == 0
        clock.set(sh(9, 8, 7, 59))
        assert await sweeper(world, restarted).sweep_once() == 0
        clock.set(sh(9, 8, 8, 0))
        assert await sweeper(world, restarted).sweep_once() == 1
        clock.set(sh(9, 8, 12, 0))
        assert await sweeper(world, restarted).sweep_once() == 0
    finally:
        await restarted.dispose()
    assert await sweeper(world).sweep_once() == 0
    texts = await world.push_texts("s1")
    assert len(texts) == 2 and texts[1].startswith("提醒：你1小时后有一次心理咨询预约")


async def test_a_moved_or_cancelled_appointment_is_never_reminded(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00
    chat = world.chat("s1")
    await chat.say("我的预约")
    await chat.say("改约")
    await chat.say("更多时间")
    assert "改约成功" in await chat.say("1")  # page 2 starts at Wednesday 15:00
    await book_first(world, "s2", pick="4")  # takes the freed Tuesday 09:00, then cancels
    await world.chat("s2").say("取消预约")
    await world.chat("s2").say("取消预约")
    await world.chat("s2").say("确定取消")
    for moment in (sh(9, 7, 18), sh(9, 8, 8), sh(9, 8, 18), sh(9, 9, 14)):
        clock.set(moment)
        await sweeper(world).sweep_once()
    assert await world.push_texts("s2") == []
    texts = await world.push_texts("s1")
    assert [t.split("\n")[1] for t in texts] == ["时间：9月9日（周三）15:00"] * 2


async def test_each_counsellor_gets_the_days_list_in_the_morning(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4", reason="情绪困扰")  # Tuesday 09:00
    await book_first(world, "s2", pick="4")  # Tuesday 10:00 (09:00 is taken)
    jobs = Jobs(db, clock, booking_jobs(BookingTimers(world.network.policy)))
    await JobScheduler(jobs).catch_up()  # started at 09:00: Monday's 07:30 list (empty) now
    assert len(await world.push_texts("c2")) == 2  # the two new-booking pushes
    clock.set(sh(9, 8, 7, 30))
    assert await jobs.run_between(sh(9, 7, 9), clock.now()) == 1  # Tuesday's list
    assert await sweeper(world).sweep_once() == 2  # and last evening's two reminders
    morning = (await world.push_texts("c2"))[-1]
    assert morning.splitlines()[:3] == ["早上好！今天（9月8日）有 2 个咨询预约：",
                                        "09:00 室友小吴（情绪困扰） · 线下面谈",
                                        "10:00 学生2号 · 线下面谈"]
    assert await world.push_texts("c1") == []  # no appointments on Tuesday
    assert await sweeper(world).sweep_once() == 0
    assert len(await world.push_texts("c2")) == 3


async def test_waitlist_offers_a_freed_slot_first_come_and_passes_it_on(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await booking_world(db, clock, settings, students=6)
    override = tmp_path / "policy.toml"
    override.write_text("[booking]\nhorizon_days = 1\n", encoding="utf-8")
    world.network = Network(load_policy(override))  # slots up to Tuesday only
    policy = world.network.policy
    async with db.session() as s:  # Monday's three sessions with 孙老师 are taken
        for who, hour in (("s2", 14), ("s3", 15), ("s4", 16)):
            student = await s.get(Person, world.ids[who])
            assert student is not None
            assert (await booking.book(s, policy, student, world.ids["c1"], sh(9, 7, hour),
                                       clock.now())).ok
    for who in ("s1", "s5"):
        chat = world.chat(who)
        await chat.say("预约")
        await chat.say("筛选（老师/方式/日期）")
        full = await chat.say("只看女老师")
        assert "暂时没有空闲的咨询时段" in full
        assert "已加入候补（女老师）" in await chat.say("加入候补")
    # s3 cancels 15:00: s1 (first in line) is offered it, nobody else sees it
    clock.set(sh(9, 7, 10))
    await world.chat("s3").say("取消预约")
    await world.chat("s3").say("取消预约")
    await world.chat("s3").say("确定取消")
    assert "候补到了！9月7日（周一）15:00" in (await world.push_texts("s1"))[-1]
    assert "周一 15:00" not in await world.chat("s6").say("预约")
    # s1 lets the hold lapse: back in line; the slot goes to s5
    clock.set(sh(9, 7, 12))
    await sweeper(world).sweep_once()
    assert "候补到了！9月7日（周一）15:00" in (await world.push_texts("s5"))[-1]
    offer = await world.chat("s5").say("预约")
    assert "有一个时段为你保留着" in offer
    assert "预约成功" in await world.chat("s5").say("预约这个时间")
    async with db.session() as s:
        entries = {e.student_id: e.status for e in await s.exec(
            select(WaitlistEntry))}
    assert entries == {world.ids["s1"]: "waiting", world.ids["s5"]: "booked"}
    taken = [a for a in await appointments(world) if a.student_id == world.ids["s5"]]
    assert taken[0].start_at == sh(9, 7, 15)
    assert taken[0].requested_at < sh(9, 7, 10)  # waiting counts from joining the waitlist
