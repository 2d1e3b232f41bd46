"""The weekly class check-in: one tap, amendments, concerns, and classes that don't submit."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from sqlmodel import col, select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.jobs import JobRun
from xinqiao.storage.reports import CheckIn, Escalation, Report, Timer

FRIDAY_0000 = datetime(2026, 10, 30, 0, 0, tzinfo=SHANGHAI)  # an ordinary week, due Fri 17:00


async def _plan(world: World) -> None:
    await world.start_jobs()


async def test_one_tap_nothing_to_report_counts_as_submitted(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=datetime(2026, 10, 28, 10, 0,
                                                                  tzinfo=SHANGHAI))
    chat = world.chat("k1")
    first = await chat.say("晴雨表")
    assert "本周无异常（一键提交）" in first
    assert "已提交" in await chat.say("1")
    async with db.session() as s:
        row = (await s.exec(select(CheckIn))).one()
    assert row.nothing_to_report and row.period == date(2026, 10, 30)
    # a second one in the same week amends the first and keeps the history
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    await chat.say("45")
    for _ in range(5):
        await chat.say("跳过")
    assert "已更新本周" in await chat.say("跳过")  # no student of concern
    async with db.session() as s:
        row = (await s.exec(select(CheckIn))).one()
        reports = (await s.exec(select(Report).order_by(col(Report.id)))).all()
    assert row.versions == 2 and not row.nothing_to_report
    assert len(reports) == 2 and reports[1].supersedes == reports[0].id
    assert row.report_id == reports[1].id and reports[1].answers["present"] == 45


async def test_a_week_where_one_class_does_not_submit(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    await _plan(world)
    clock.set(datetime(2026, 10, 30, 0, 5, tzinfo=SHANGHAI))
    assert await world.sweep() == 0  # the daily job: due timers for both classes, at 17:00
    clock.set(datetime(2026, 10, 30, 10, 0, tzinfo=SHANGHAI))
    await world.chat("k1").say("晴雨表")
    await world.chat("k1").say("1")  # class 1 submits; class 2 does not
    clock.set(datetime(2026, 10, 30, 17, 0, tzinfo=SHANGHAI))
    # both classes' due timers (the 03:30 purge and 08:30 coverage check ran as jobs)
    assert await world.sweep() == 2
    assert await world.push_texts("k1") == []
    reminder = await world.push_texts("k2")
    assert len(reminder) == 1 and "晴雨表未提交" in reminder[0]
    clock.set(datetime(2026, 10, 31, 16, 59, tzinfo=SHANGHAI))
    await world.sweep()
    assert await world.push_texts("t2") == []
    clock.set(datetime(2026, 10, 31, 17, 0, tzinfo=SHANGHAI))  # +24 h: the class advisor
    await world.sweep()
    assert len(await world.push_texts("t2")) == 1 and await world.push_texts("t1") == []
    clock.set(datetime(2026, 11, 1, 17, 0, tzinfo=SHANGHAI))  # +48 h: the college
    await world.sweep()
    assert "晴雨表未提交" in (await world.push_texts("l1"))[0]
    # Monday: the committee member finally submits; it counts for Friday and closes it
    clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    await world.chat("k2").say("晴雨表")
    await world.chat("k2").say("本周无异常")
    async with db.session() as s:
        late = (await s.exec(select(CheckIn).where(
            CheckIn.klass_id == world.campus.other_klass_id))).one()
        esc = (await s.exec(select(Escalation))).one()
    assert late.period == date(2026, 10, 30) and esc.status == "resolved"
    clock.set(datetime(2026, 11, 5, 9, 0, tzinfo=SHANGHAI))
    await world.sweep()
    college = [t for t in await world.push_texts("l1") if "月报" not in t]  # 11-02: Oct's
    assert len(college) == 2 and "11-02 09:00 补交" in college[1]  # told it arrived, no more


async def test_nothing_falls_due_on_a_public_holiday(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 2, 0, 0, tzinfo=SHANGHAI))  # a Friday
    await _plan(world)
    clock.set(datetime(2026, 10, 2, 0, 5, tzinfo=SHANGHAI))
    await world.sweep()
    async with db.session() as s:
        due = (await s.exec(select(Timer).where(Timer.kind == "checkin.due"))).all()
        plans = (await s.exec(select(JobRun.scheduled_for)
                              .where(JobRun.job == "checkin.open"))).all()
    assert due == [] and plans == [datetime(2026, 10, 2, 0, 5, tzinfo=SHANGHAI)]


async def test_students_of_concern_reach_the_advisor_or_the_crisis_path(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 28, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    await chat.say("44")
    for _ in range(5):
        await chat.say("跳过")
    assert "这位同学的情况" in await chat.say("室友小吴")
    await chat.say("3 4")  # grades dropped, break-up
    await chat.say("重点关注")
    await chat.say("是")
    await chat.say("信息员小周")
    await chat.say("10")  # talk of death or self-harm
    assert "还有其他" in await chat.say("危机关注（需要马上处理）")
    done = await chat.say("否")
    assert "已提交" in done and "12356" in done
    async with db.session() as s:
        escs = (await s.exec(select(Escalation).order_by(col(Escalation.id)))).all()
    assert [(e.severity, e.subject_person_id) for e in escs] == [
        ("routine", world.ids["s1"]), ("crisis", world.ids["i1"])]
    # the key-tier student and the crisis: the advisor hears of both
    assert len(await world.push_texts("t1")) == 2
    assert len(await world.push_texts("c1")) == 1  # the crisis: the centre at once


async def test_monthly_reports_are_generated_on_the_first_working_day(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    from xinqiao.storage.reports import MonthlyReport

    # 1–7 October 2026 are National Day holidays: the first working day is Thursday the 8th
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 7, 0, 0, tzinfo=SHANGHAI))
    await _plan(world)
    clock.set(datetime(2026, 10, 8, 9, 0, tzinfo=SHANGHAI))
    while await world.sweep():
        pass
    async with db.session() as s:
        reports = (await s.exec(select(MonthlyReport))).all()
    assert [(r.month, r.confirmed_at) for r in reports] == [
        (date(2026, 9, 1), None), (date(2026, 9, 1), None)]  # both colleges
    ready = await world.push_texts("l1")
    assert len(ready) == 1 and "月报" in ready[0]
    confirm = world.chat("l1")
    assert "确认提交" in await confirm.say("月报")


async def test_key_periods_tighten_the_cadence_and_say_so(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # 2026-09 is the freshmen month in the default policy: due on Tuesdays and Fridays
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 9, 15, 0, 0, tzinfo=SHANGHAI))  # Tuesday
    await _plan(world)
    clock.set(datetime(2026, 9, 15, 17, 0, tzinfo=SHANGHAI))
    while await world.sweep():
        pass
    reminder = await world.push_texts("k1")
    assert len(reminder) == 1 and "重点时段" in reminder[0] and "09-15" in reminder[0]


async def test_a_sunday_due_day_falls_due_except_on_a_public_holiday(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    override = tmp_path / "policy.toml"
    override.write_text("[checkin]\ndue_weekdays = [7]\ndue_time = \"20:00\"\nkey_periods = []\n",
                        encoding="utf-8")
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 11, 1, 0, 0, tzinfo=SHANGHAI))  # a Sunday
    world.network = Network(load_policy(override))
    await _plan(world)
    clock.set(datetime(2026, 11, 1, 0, 5, tzinfo=SHANGHAI))
    await world.sweep()
    clock.set(datetime(2026, 11, 1, 20, 0, tzinfo=SHANGHAI))
    await world.sweep()
    reminder = await world.push_texts("k1")
    assert len(reminder) == 1 and "晴雨表未提交" in reminder[0] and "11-01" in reminder[0]
    # National Day week: Sunday 2026-10-04 is a day off of the holiday, so nothing is due.
    assert not world.network.is_due(date(2026, 10, 4))
    assert world.network.is_due(date(2026, 11, 8))


async def test_the_committee_member_is_told_the_number_of_what_she_flagged(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # As an informant's dorm report names its D-number, so does a check-in for each student.
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 28, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    await chat.say("44")
    for _ in range(5):
        await chat.say("跳过")
    await chat.say("室友小吴")
    await chat.say("3 4")
    await chat.say("重点关注")
    await chat.say("是")
    await chat.say("信息员小周")
    await chat.say("10")
    await chat.say("危机关注（需要马上处理）")
    done = await chat.say("否")
    async with db.session() as s:
        routine, crisis = (await s.exec(select(Escalation).order_by(col(Escalation.id)))).all()
    assert f"你标记了需要马上处理的情况（编号 D{crisis.id}），学院和心理中心已收到" in done
    assert f"你提到需要关注的同学已转给老师跟进，编号 D{routine.id}。" in done
    # the numbers are the ones staff act on
    assert f"D{crisis.id}" in "\n".join(await world.push_texts("c1"))


@pytest.mark.parametrize("written", ["38人", "38 人", "３８", "３８人", "共38人", "38个人",
                                     "三十八人"])
async def test_a_headcount_is_taken_as_people_write_it(
    db: Database, clock: FakeClock, settings: Settings, written: str
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 28, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    assert "学习方面" in await chat.say(written)
    for _ in range(5):
        await chat.say("跳过")
    assert "已提交" in await chat.say("跳过")
    async with db.session() as s:
        report = (await s.exec(select(Report))).one()
    assert report.answers["present"] == 38


@pytest.mark.parametrize("written", ["三四十", "30-40", "很多", "38.5", "四百"])
async def test_what_is_no_headcount_is_asked_again_saying_how(
    db: Database, clock: FakeClock, settings: Settings, written: str
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 28, 10, 0, tzinfo=SHANGHAI))
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    again = await chat.say(written)
    assert "本周在校人数" in again and "学习方面" not in again
    assert ("例如 38（写成“38人”也可以）" in again) or ("不大于 300" in again)
