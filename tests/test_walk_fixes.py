"""What walking every role of the demo school turned up (issue 16, the helper's own walk)."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import col, select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import CheckIn, Escalation, Report

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


async def _urgent(world: World, who: str, student: str) -> str:
    chat = world.chat(who)
    await chat.say("随时报")
    await chat.say(student)
    await chat.say("图书馆三楼")
    await chat.say("和同学起了冲突，情绪很激动")
    return await chat.say("否")


async def _last_report(world: World) -> Report:
    async with world.db.session() as s:
        report = (await s.exec(select(Report).order_by(col(Report.id).desc()))).first()
    assert report is not None
    return report


async def test_staff_name_a_student_they_serve_and_the_report_is_about_that_student(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    assert "已上报" in await _urgent(world, "l1", "室友小吴")  # the college lead: by name
    report = await _last_report(world)
    assert report.subject_person_id == world.ids["s1"]
    detail = await world.chat("l1").say("待办 " + str((await _items(world))[-1]))
    assert "室友小吴（" in detail and "不在名单中" not in detail
    assert "已上报" in await _urgent(world, "c1", "k2")  # the centre: by 学号, whole school
    assert (await _last_report(world)).subject_person_id == world.ids["k2"]
    # an advisor's reach is their classes: a student of another class stays a typed name
    assert "已上报" in await _urgent(world, "t1", "委员小冯")
    other = await _last_report(world)
    assert other.subject_person_id is None and other.subject_name == "委员小冯"


async def _items(world: World) -> list[int]:
    async with world.db.session() as s:
        return [e.id or 0 for e in await s.exec(select(Escalation).order_by(col(Escalation.id)))]


async def test_a_second_check_in_on_sunday_amends_this_week_not_next(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # Friday's was sent late on Sunday; 本周无异常 tapped again the same Sunday was stored as
    # next Friday's check-in, five days early, and next week's reminder never came.
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 11, 1, 10, 0, tzinfo=SHANGHAI))  # Sunday
    chat = world.chat("k1")
    await chat.say("晴雨表")
    assert "本周晴雨表已提交" in await chat.say("1")
    await chat.say("晴雨表")
    assert "已更新本周的晴雨表" in await chat.say("1")
    async with db.session() as s:
        [checkin] = (await s.exec(select(CheckIn))).all()
    assert checkin.period == date(2026, 10, 30) and checkin.versions == 2
    # from Monday on, the coming Friday is what a check-in counts for
    clock.set(datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI))
    await chat.say("晴雨表")
    assert "本周晴雨表已提交，" in await chat.say("1")
    async with db.session() as s:
        rows = (await s.exec(select(CheckIn).order_by(col(CheckIn.period)))).all()
    assert [r.period for r in rows] == [date(2026, 10, 30), date(2026, 11, 6)]
