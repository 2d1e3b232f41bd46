"""Managing schedules (file import, chat) and the centre's booking statistics."""

from __future__ import annotations

import os
from datetime import date, time
from pathlib import Path

from click.testing import CliRunner, Result
from sqlmodel import col, select

from tests.booking_world import book_first, booking_world, sh
from tests.roster_files import write_csv, write_xlsx
from xinqiao.bot.cli import main
from xinqiao.clock import FakeClock
from xinqiao.handlers.booking.texts import week_stats_text
from xinqiao.policy.calendar import WorkingCalendar
from xinqiao.services.booking import appointments as booking
from xinqiao.services.booking.counsellor_actions import mark
from xinqiao.services.booking.duty_import import import_schedule
from xinqiao.services.booking.slots import generate
from xinqiao.services.booking.stats import week_stats
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment, AppointmentStatus, CounsellorProfile, DutyPattern
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person

HEADER = ["工号", "姓名", "星期", "开始", "结束", "时长", "地点", "方式", "性别", "生效日期",
          "截止日期"]


async def _patterns(db: Database, pid: int) -> list[tuple[int, str, str, str | None]]:
    async with db.session() as s:
        rows = await s.exec(select(DutyPattern).where(DutyPattern.counsellor_id == pid)
                            .order_by(col(DutyPattern.weekday), col(DutyPattern.valid_from)))
        return [(p.weekday, f"{p.start:%H:%M}", p.valid_from.isoformat(),
                 p.valid_until.isoformat() if p.valid_until else None) for p in rows]


async def test_schedule_import_replaces_a_counsellors_patterns_for_its_dates(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await booking_world(db, clock, settings)
    file = write_csv(tmp_path / "schedule.csv", [
        HEADER,
        ["c1", "中心孙老师", "周二、周四", "14:00", "16:00", "50", "心理中心 301", "线上", "女",
         "2026-10-01", "2026-10-31"],
        ["c2", "中心周老师", "星期八", "09:00", "10:00", "", "", "", "", "", ""],
        ["c2", "中心周老师", "周五", "09:00", "10:00", "", "", "", "", "", ""],
        ["k1", "委员小郑", "周一", "09:00", "10:00", "", "", "", "", "", ""],
        ["c1", "中心孙老师", "周六", "10:00", "09:00", "", "", "", "", "", ""],
    ])
    before = await _patterns(db, world.ids["c2"])
    report = await import_schedule(db, file, world.network.policy, clock.now())
    bad = dict(report.errors)
    assert sorted(bad) == [2, 3, 4, 5, 6]
    assert "unknown weekday" in bad[3] and "skipped: row 3" in bad[4]
    assert "not centre staff" in bad[5] and "must be after 开始" in bad[6]
    assert "skipped: row 6" in bad[2]  # c1 has a bad row too: left as it was
    assert report.counsellors == 0
    assert await _patterns(db, world.ids["c2"]) == before
    # without the bad rows c1's October is replaced; September and November keep Mon/Wed
    write_csv(file, [HEADER, ["c1", "中心孙老师", "周二、周四", "14:00", "16:00", "50",
                              "心理中心 301", "线上", "女", "2026-10-01", "2026-10-31"]])
    for _ in range(2):  # importing the same file again changes nothing more
        report = await import_schedule(db, file, world.network.policy, clock.now())
        assert report.errors == [] and report.counsellors == 1 and report.created == 2
    assert await _patterns(db, world.ids["c1"]) == [
        (1, "14:00", "2026-09-01", "2026-09-30"), (1, "14:00", "2026-11-01", None),
        (2, "14:00", "2026-10-01", "2026-10-31"), (3, "14:00", "2026-09-01", "2026-09-30"),
        (3, "14:00", "2026-11-01", None), (4, "14:00", "2026-10-01", "2026-10-31")]
    async with db.session() as s:
        patterns = list(await s.exec(select(DutyPattern).where(
            DutyPattern.counsellor_id == world.ids["c1"])))
        profile = await s.get(CounsellorProfile, world.ids["c1"])
    slots = generate([world.ids["c1"]], patterns, [], WorkingCalendar(), date(2026, 10, 12),
                     date(2026, 10, 13))
    assert [f"{x.start.astimezone(sh(1, 1).tzinfo):%m-%d %H:%M}" for x in slots] == [
        "10-13 14:00", "10-13 15:05"]  # 50 minutes, 15 minutes' break; Monday is gone
    assert slots[0].place == "心理中心 301" and slots[0].mode == "online"
    assert profile is not None and profile.gender == "female" and profile.modes == "online"


def test_schedule_import_and_booking_stats_from_the_command_line(tmp_path: Path) -> None:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("XINQIAO_")}
    env["XINQIAO_DATABASE_URL"] = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def xq(*args: str) -> Result:
        return runner.invoke(main, list(args), env=env, catch_exceptions=False)

    assert xq("demo").exit_code == 0
    file = write_xlsx(tmp_path / "schedule.xlsx", [
        HEADER, ["C9001", "唐心怡", "周一、周三", time(14, 0), time(17, 0), 45, "心理中心 201",
                 "线下", "女", date(2026, 9, 1), date(2027, 1, 15)],
        ["C9009", "顾明远", "周一", "9:00", "10:00"]])  # the centre lead sees no clients
    loaded = xq("schedule", "import", str(file))
    assert loaded.exit_code == 1  # a bad row: reported, the rest loaded
    assert "1 counsellors: 2 weekly patterns loaded" in loaded.stdout  # the demo's replaced
    assert "; 1 bad rows" in loaded.stdout
    assert "row 3: 工号 C9009 is not centre staff" in loaded.stderr
    stats = xq("booking", "stats", "--week", "2026-09-09")
    assert stats.exit_code == 0, stats.stderr
    assert stats.stdout.startswith("预约统计 2026-09-07 至 2026-09-13")
    assert "（本周没有预约）" in stats.stdout and "爽约率：—" in stats.stdout
    assert "--week must look like" in xq("booking", "stats", "--week", "next").stderr


async def test_counsellors_manage_their_own_schedule_in_chat(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="1")  # Monday 14:00
    desk = world.chat("c1")
    home = await desk.say("我的排班")
    assert "中心孙老师 的排班（女老师 · 心理中心 201 · 线下面谈）" in home
    assert "每周一 14:00-17:00，每次 45 分钟" in home
    await desk.say("添加每周排班")
    await desk.say("周五")
    assert "没看懂" in await desk.say("下午两点")
    await desk.say("14:00-16:00")
    assert "每周五 14:00-16:00" in await desk.say("60 分钟")
    await desk.say("请假/停诊")
    await desk.say("9-7")
    left = await desk.say("全天")
    assert "09-07 请假 全天" in left and "已有 1 个预约" in left
    await desk.say("加班/临时排班")
    await desk.say("2026-09-12")
    assert "09-12 加班 10:00-11:00" in await desk.say("10:00-11:00")
    await desk.say("资料（性别/地点/方式）")
    await desk.say("女")
    await desk.say("心理中心 305")
    assert "心理中心 305 · 线下或线上" in await desk.say("线下或线上")
    listing = await world.chat("s2").say("预约")
    assert "09-07 周一" not in listing  # on leave (s1's booking stands until handled)
    assert "09-11 周五 14:00 中心孙老师" in await world.chat("s2").say("更多时间")
    lead = world.chat("d1")
    assert "中心孙老师" in await lead.say("我的排班")
    assert "每周五 14:00-16:00" in await lead.say("中心孙老师")


async def test_weekly_stats_count_load_no_shows_and_waiting_time(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings, students=3)
    policy = world.network.policy
    async with db.session() as s:
        people: dict[str, Person] = {}
        for key in ("s1", "s2", "s3", "c1"):
            found = await s.get(Person, world.ids[key])
            assert found is not None
            people[key] = found
        booked = {}
        for who, counsellor, start in (("s1", "c1", sh(9, 7, 14)), ("s2", "c1", sh(9, 7, 15)),
                                       ("s3", "c2", sh(9, 8, 9))):
            outcome = await booking.book(s, policy, people[who], world.ids[counsellor], start,
                                         clock.now())
            assert outcome.appointment is not None
            row = await s.get(Appointment, outcome.appointment.id)
            assert row is not None
            booked[who] = row
        assert (await booking.cancel(s, policy, booked["s3"].id or 0, clock.now())).ok
        later = sh(9, 7, 16)
        await mark(s, policy, booked["s1"], AppointmentStatus.attended, people["c1"], later)
        await mark(s, policy, booked["s2"], AppointmentStatus.no_show, people["c1"], later)
        stats = await week_stats(s, policy, date(2026, 9, 10))
    assert stats.monday == date(2026, 9, 7)
    assert [(c.name, c.load, c.attended, c.no_show, c.cancelled) for c in stats.counsellors] == [
        ("中心周老师", 0, 0, 0, 1), ("中心孙老师", 2, 1, 1, 0)]
    assert stats.noshow_rate == 0.5 and stats.waits == (sh(9, 7, 14) - sh(9, 7, 9),)
    text = week_stats_text(stats)
    assert "中心孙老师 | 2 | 1 | 1 | 0 | 0" in text and "爽约率：50%" in text
    assert "首次咨询等待：中位 0.2 天" in text
    shown = await world.chat("c1").say("预约统计")
    assert "中心孙老师 | 2 | 1 | 1 | 0 | 0" in shown
    assert "（本周没有预约）" in await world.chat("c1").say("上一周")
