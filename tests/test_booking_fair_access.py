"""Fair access (issue 20 part 3): crisis-kept sessions, the waitlist's order, positive screens."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlmodel import select

from tests.booking_world import appointments, booking_world, sh
from tests.dialog import Dialog
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.scheduler.calendar_jobs import booking_jobs
from xinqiao.scheduler.jobs import Jobs
from xinqiao.services.booking import appointments as booking
from xinqiao.services.booking.referrals import refer
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.booking import WaitlistEntry
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person, Tier

EVENING = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # a Monday evening


def _policy(world: World, tmp_path: Path, text: str) -> None:
    override = tmp_path / "policy.toml"
    override.write_text(f"[booking]\n{text}\n", encoding="utf-8")
    world.network = Network(load_policy(override))


async def _listing(world: World, who: str) -> str:
    """Every time the student is shown (paging with 更多时间)."""
    chat = world.chat(who)
    shown = await chat.say("预约")
    pages = [shown]
    while "更多时间" in pages[-1] and len(pages) < 8:
        pages.append(await chat.say("更多时间"))
    await chat.say("主菜单")
    return "\n".join(pages)


async def test_a_crisis_slot_is_kept_from_students_taken_by_a_crisis_referral_then_released(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await booking_world(db, clock, settings, students=3)  # Monday 09:00
    _policy(world, tmp_path, "crisis_slots_per_day = 1\nhorizon_days = 3")
    policy = world.network.policy
    # Monday's kept 14:00 opened on Sunday 17:00; Tuesday 09:00 and Wednesday 14:00 are kept.
    listing = await _listing(world, "s1")
    assert "09-07 周一 14:00" in listing and "09-08 周二 10:00" in listing
    assert "09-08 周二 09:00" not in listing and "09-09 周三 14:00" not in listing
    async with db.session() as s:
        s1 = await s.get(Person, world.ids["s1"])
        assert s1 is not None
        tried = await booking.book(s, policy, s1, world.ids["c2"], sh(9, 8, 9), clock.now())
    assert (tried.ok, tried.code) == (False, "gone")
    # 孙老师 refers s2 to 周老师 as a crisis: s2 gets Tuesday's kept 09:00
    async with db.session() as s:
        by, s2, to = [await s.get(Person, world.ids[w]) for w in ("c1", "s2", "c2")]
        assert by is not None and s2 is not None and to is not None
        await refer(s, by, s2, clock.now(), to_counsellor=to, crisis=True, policy=policy)
    [appt] = await appointments(world)
    assert (appt.student_id, appt.counsellor_id, appt.start_at) == (
        world.ids["s2"], world.ids["c2"], sh(9, 8, 9))
    assert any("为你预约了 9月8日（周二）09:00" in t for t in await world.push_texts("s2"))
    assert "9月8日（周二）09:00" in await world.chat("s2").say("我的预约")
    # centre staff book s3 (代约) into Wednesday's kept 14:00 with 孙老师
    staff = world.chat("c1")
    assert "没有找到学号" in await staff.say("代约 s99")
    offered = await staff.say("s3")
    assert "09-09 周三 14:00 中心孙老师 · 危机时段" in offered, offered
    assert "09-08 周二 10:00 中心周老师\n" in offered  # an ordinary one, unmarked
    done = await staff.say("09-09 周三 14:00 中心孙老师 · 危机时段")
    assert "已为学生3号（s3）预约 9月9日（周三）14:00" in done, done
    assert any("为你预约了 9月9日（周三）14:00" in t for t in await world.push_texts("s3"))
    assert "不在你的权限范围" in await world.chat("s1").say("代约 s3")
    # Thursday's kept 09:00 opens to everyone on Wednesday at 17:00
    clock.set(sh(9, 9, 16, 59))
    assert "09-10 周四 09:00" not in await _listing(world, "s1")
    clock.set(sh(9, 9, 17, 0))
    assert "09-10 周四 09:00" in await _listing(world, "s1")


async def test_a_kept_session_nobody_took_goes_to_the_waitlist_when_it_opens(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await booking_world(db, clock, settings, students=6)  # Monday 09:00
    _policy(world, tmp_path, "crisis_slots_per_day = 1\nhorizon_days = 2")
    policy = world.network.policy
    async with db.session() as s:  # 孙老师's open sessions are all taken (Wednesday 14:00 kept)
        for who, at in (("s2", sh(9, 7, 14)), ("s3", sh(9, 7, 15)), ("s4", sh(9, 7, 16)),
                        ("s5", sh(9, 9, 15)), ("s6", sh(9, 9, 16))):
            student = await s.get(Person, world.ids[who])
            assert student is not None
            assert (await booking.book(s, policy, student, world.ids["c1"], at,
                                       clock.now())).ok
    chat = world.chat("s1")
    await chat.say("预约")
    await chat.say("筛选（老师/方式/日期）")
    assert "暂时没有空闲的咨询时段" in await chat.say("只看女老师")
    assert "已加入候补" in await chat.say("加入候补")
    jobs = Jobs(db, clock, booking_jobs(BookingTimers(policy)))
    clock.set(sh(9, 8, 16, 59))
    # Monday 17:00 opened Tuesday's kept 09:00 (周老师: not what s1 waits for); the morning list
    assert await jobs.run_between(sh(9, 7, 9), clock.now()) == 2
    assert not any("候补到了" in t for t in await world.push_texts("s1"))
    clock.set(sh(9, 8, 17, 0))
    assert await jobs.run_between(sh(9, 8, 16, 59), clock.now()) == 1
    assert "候补到了！9月9日（周三）14:00" in (await world.push_texts("s1"))[-1]
    assert "预约成功" in await chat.say("预约") + await chat.say("预约这个时间")


async def test_the_waitlist_offers_a_freed_slot_to_a_key_tier_student_before_an_earlier_one(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await booking_world(db, clock, settings, students=5)
    _policy(world, tmp_path, "horizon_days = 1")
    policy = world.network.policy
    async with db.session() as s:  # Monday's three sessions with 孙老师 are taken
        for who, hour in (("s2", 14), ("s3", 15), ("s4", 16)):
            student = await s.get(Person, world.ids[who])
            assert student is not None
            assert (await booking.book(s, policy, student, world.ids["c1"], sh(9, 7, hour),
                                       clock.now())).ok
        key = await s.get(Person, world.ids["s5"])
        assert key is not None
        key.tier = Tier.key
        s.add(key)
    for who in ("s1", "s5"):  # s1 (routine) joins first, s5 (key tier) an hour later
        chat: Dialog = world.chat(who)
        await chat.say("预约")
        await chat.say("筛选（老师/方式/日期）")
        assert "暂时没有空闲的咨询时段" in await chat.say("只看女老师")
        assert "已加入候补" in await chat.say("加入候补")
        clock.advance(hours=1)
    await world.chat("s3").say("我的预约")
    await world.chat("s3").say("取消预约")
    await world.chat("s3").say("确定取消")
    assert "候补到了！9月7日（周一）15:00" in (await world.push_texts("s5"))[-1]
    assert not any("候补到了" in t for t in await world.push_texts("s1"))
    async with db.session() as s:
        entries = {e.student_id: e.status for e in await s.exec(select(WaitlistEntry))}
    assert entries == {world.ids["s1"]: "waiting", world.ids["s5"]: "offered"}
    # s5 passes: the routine student who waited longest is next
    await world.chat("s5").say("预约")
    assert "仍在候补" in await world.chat("s5").say("这个时间不行")
    assert "候补到了！9月7日（周一）15:00" in (await world.push_texts("s1"))[-1]


async def _positive_phq9(world: World) -> str:
    chat = world.chat("s1")
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(5):
        await chat.say("一半以上的天数")
    for _ in range(3):
        await chat.say("完全不会")
    return await chat.say("完全不会")


async def test_a_positive_screen_is_offered_a_session_within_three_working_days(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings, start=EVENING)
    done = await _positive_phq9(world)
    assert "已为你留了 10月13日（周二）09:00 的咨询时段" in done, done
    # nobody else sees the held session; the student takes it with two taps
    assert "10-13 周二 09:00" not in await _listing(world, "s2")
    assert "心理中心为你留了 10月13日（周二）09:00" in await world.chat("s1").say("预约")
    assert "预约成功" in await world.chat("s1").say("预约这个时间")
    [appt] = await appointments(world)
    assert (appt.student_id, appt.start_at) == (world.ids["s1"], sh(10, 13, 9))
    assert not any("测评结果阳性" in t for t in await world.push_texts("c1"))


async def test_a_positive_screen_with_no_session_in_the_window_tells_the_centre_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=EVENING)  # no counsellor on duty
    done = await _positive_phq9(world)
    assert "中心老师会尽快为你安排时间" in done
    for staff in ("c1", "c2"):  # the centre staff on duty (no rota: all of them)
        told = [t for t in await world.push_texts(staff) if "测评结果阳性" in t]
        assert len(told) == 1 and "学号 s1" in told[0] and "到 10月15日都没有" in told[0]
        assert "代约 s1" in told[0]
    assert not any("测评结果阳性" in t for t in await world.push_texts("s1"))


async def test_the_held_session_s_tap_waits_at_the_end_of_the_follow_up_questions(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # Item 9 answered: the result said 点“预约心理老师”确认 but the ASQ's questions came next and
    # its end offered only 主菜单 — the promised tap was never there.
    world = await booking_world(db, clock, settings, start=EVENING)
    chat = world.chat("s1")
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(5):
        await chat.say("一半以上的天数")
    for _ in range(3):
        await chat.say("完全不会")
    result = await chat.send("好几天")
    assert "已为你留了 10月13日（周二）09:00 的咨询时段" in result[0].text
    assert "答完接下来的几个问题后，点“预约心理老师”确认即可" in result[0].text
    for _ in range(3):
        await chat.say("否")
    end = await chat.send("否")
    assert "《ASQ 安全状况简短问卷》完成" in end[-1].text
    assert [c.label for c in end[-1].choices] == ["预约心理老师", "主菜单"]
    held = await chat.say(choice=end[-1].choices[0].key)
    assert "心理中心为你留了 10月13日（周二）09:00" in held
    assert "预约成功" in await chat.say("预约这个时间")
    [appt] = await appointments(world)
    assert (appt.student_id, appt.start_at) == (world.ids["s1"], sh(10, 13, 9))
