"""Students book in chat: slots, filters, one appointment each, cut-offs, races for one slot."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from tests.booking_world import appointments, book_first, booking_world, sh
from tests.dialog import Dialog
from xinqiao.clock import FakeClock
from xinqiao.services.booking import appointments as booking
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment, AppointmentStatus
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person


async def test_a_student_books_a_slot_and_the_counsellor_hears_of_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    chat = world.chat("s1")
    listing = await chat.say("我想找老师聊聊")
    # Monday 09:00 + 2 h notice: today 14:00 (孙老师) comes first, then Tuesday (周老师)
    lines = listing.splitlines()
    assert lines[1] == "1. 09-07 周一 14:00 中心孙老师 · 线下面谈"
    assert "2. 09-07 周一 15:00 中心孙老师" in listing
    assert "6. 09-08 周二 11:00 中心周老师 · 线下或线上" in listing
    assert "7. 更多时间" in listing
    assert "想和老师聊的大致方面" in await chat.say("2")
    done = await chat.say("学业压力")
    assert "预约成功" in done and "9月7日（周一）15:00" in done and "心理中心 201" in done
    [appt] = await appointments(world)
    assert (appt.student_id, appt.reason, appt.start_at) == (world.ids["s1"], "study",
                                                            sh(9, 7, 15))
    assert await world.push_texts("c1") == [
        "新预约：室友小吴 9月7日（周一）15:00（学业压力）。回复“今日预约”查看你的预约。"]
    # the booked slot is gone for everyone else
    other = await world.chat("s2").say("预约")
    assert "09-07 周一 15:00" not in other and "09-07 周一 14:00" in other


async def test_more_times_and_filters_narrow_the_list(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    chat = world.chat("s1")
    await chat.say("预约")
    more = await chat.say("更多时间")
    assert "1. 09-09 周三 14:00 中心孙老师" in more  # the second page
    await chat.say("筛选（老师/方式/日期）")
    men = await chat.say("只看男老师")
    assert "（男老师）" in men and "孙老师" not in men and "09-08 周二 09:00 中心周老师" in men
    await chat.say("筛选（老师/方式/日期）")
    await chat.say("不限条件")
    await chat.say("筛选（老师/方式/日期）")
    days = await chat.say("选日期")
    assert "9月10日 周四" in days
    thursday = await chat.say("9月10日 周四")
    assert "09-10 周四 09:00" in thursday and "09-07" not in thursday
    await chat.say("筛选（老师/方式/日期）")
    online = await chat.say("只看线上")
    assert "线上咨询" in online and "孙老师" not in online  # 孙老师 sees students offline only
    await chat.say("1")
    assert "线上" in await chat.say("跳过")
    [appt] = await appointments(world)
    assert appt.mode == "online" and appt.start_at == sh(9, 10, 9)


async def test_one_upcoming_appointment_per_student_enforced_by_the_database(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    assert "预约成功" in await book_first(world, "s1")
    mine = await world.chat("s1").say("预约")
    assert "你的咨询预约" in mine and "改约" in mine and "取消预约" in mine
    policy, now = world.network.policy, clock.now()
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
        assert student is not None
        again = await booking.book(s, policy, student, world.ids["c2"], sh(9, 8, 9), now)
    assert again.code == "has_upcoming"
    # below the service: the partial unique indexes refuse a second live row outright
    [appt] = await appointments(world)
    for who, counsellor, start in (
        ("s1", "c2", sh(9, 8, 9)),  # a second upcoming appointment for the student
        ("s2", "c1", appt.start_at),  # someone else in the same slot
    ):
        with pytest.raises(IntegrityError):
            async with db.session() as s:
                s.add(Appointment(student_id=world.ids[who],
                                  counsellor_id=world.ids[counsellor], start_at=start,
                                  end_at=start + timedelta(minutes=45), requested_at=now,
                                  created_at=now))
    async with db.session() as s:  # a cancelled row does not hold the slot
        s.add(Appointment(student_id=world.ids["s2"], counsellor_id=world.ids["c1"],
                          start_at=appt.start_at, end_at=appt.end_at,
                          status=AppointmentStatus.cancelled, requested_at=now, created_at=now))


async def test_cancel_and_reschedule_until_the_cutoff(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00, 周老师
    chat = world.chat("s1")
    await chat.say("我的预约")
    await chat.say("改约")
    listing = await chat.say("1")  # Monday 14:00 with 孙老师
    assert "改约成功" in listing and "9月7日（周一）14:00" in listing
    old, new = await appointments(world)
    assert old.status == "moved" and new.status == "booked" and new.moved_from == old.id
    assert new.requested_at == old.requested_at  # waiting time counts from the first ask
    assert "改约：室友小吴 从 9月8日（周二）09:00 改到 9月7日（周一）14:00" in \
        (await world.push_texts("c1"))[-1]
    # 12:01: under two hours before 14:00, no more changes online
    clock.set(sh(9, 7, 12, 1))
    late = await chat.say("取消预约")
    assert "无法在线取消或改约" in late and "改约" not in late.splitlines()[-1]
    async with db.session() as s:
        appt = await s.get(Appointment, new.id)
        assert appt is not None
        assert (await booking.cancel(s, world.network.policy, appt.id or 0,
                                     clock.now())).code == \
            "cutoff"
    # exactly at the cut-off it still works
    clock.set(sh(9, 7, 12, 0))
    await chat.say("取消预约")
    await chat.say("取消预约")
    assert "已取消预约" in await chat.say("确定取消")
    assert "取消了 9月7日（周一）14:00 的预约" in (await world.push_texts("c1"))[-1]
    assert "09-07 周一 14:00" in await world.chat("s2").say("预约")  # free again


async def test_two_students_tapping_one_slot_at_once_exactly_one_gets_it(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    other_db = Database(db_url)  # a second process: its own connections
    try:
        first = world.chat("s1")
        second = Dialog(other_db, settings, clock, "a-s2", network=world.network)
        for chat in (first, second):
            await chat.say("预约")
            await chat.say("1")  # both picked Monday 14:00
        answers = await asyncio.gather(first.say("跳过"), second.say("跳过"))
    finally:
        await other_db.dispose()
    assert sorted("预约成功" in a for a in answers) == [False, True]
    loser = next(a for a in answers if "预约成功" not in a)
    assert "这个时段刚被约走了" in loser and "09-07 周一 15:00" in loser  # with fresh slots
    holders = [a for a in await appointments(world) if a.start_at == sh(9, 7, 14)]
    assert len(holders) == 1


@pytest.mark.postgres_only
async def test_on_postgresql_the_unique_index_settles_a_true_race(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    policy, now, start = world.network.policy, clock.now(), sh(9, 7, 14)
    other_db = Database(db_url)

    async def second() -> booking.Outcome:
        async with other_db.session() as b:
            student = await b.get(Person, world.ids["s2"])
            assert student is not None
            return await booking.book(b, policy, student, world.ids["c1"], start, now)

    try:
        async with db.session() as a:
            student = await a.get(Person, world.ids["s1"])
            assert student is not None
            assert (await booking.book(a, policy, student, world.ids["c1"], start, now)).ok
            racer = asyncio.create_task(second())
            await asyncio.sleep(0.5)
            # the second booking saw the slot free (uncommitted) and now waits on the index
            assert not racer.done()
        outcome = await racer
    finally:
        await other_db.dispose()
    assert outcome.code == "taken" and not outcome.ok
    assert [a.student_id for a in await appointments(world)] == [world.ids["s1"]]
