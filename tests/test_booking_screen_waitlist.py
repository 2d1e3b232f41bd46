"""A student the centre placed on the waitlist after a positive screen is told so, in words of
the centre; one who joined it themselves keeps the waitlist's own words.

Found walking the demo school: the held session's offer showed 退出候补, a queue the student
never joined, and 这个时间不行 answered 你仍在候补中.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from tests.booking_world import appointments, booking_world, sh, sweeper
from tests.conftest import BACKENDS, PG_DATA_KEY, PG_URL
from tests.network_world import World, make_world
from tests.pg_databases import create_database, drop_database
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.booking import appointments as booking
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.booking import WaitlistEntry
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import Person

EVENING = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # a Monday evening
HELD = "10月13日（周二）09:00"
PLACED = ("心理中心已为你排进咨询候补：有时段空出来会第一时间通知你、为你留着，咨询免费、保密；"
          "不想排了随时回复“退出候补”。")


async def _positive_phq9(world: World, who: str = "s1") -> str:
    chat = world.chat(who)
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(5):
        await chat.say("一半以上的天数")
    for _ in range(3):
        await chat.say("完全不会")
    return await chat.say("完全不会")


async def _entries(world: World) -> list[tuple[int, str, str]]:
    async with world.db.session() as s:
        rows = await s.exec(select(WaitlistEntry).order_by(col(WaitlistEntry.id)))
        return [(e.student_id, e.status, e.origin) for e in rows]


async def test_a_held_session_speaks_of_the_centre_and_passing_says_what_happens_next(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings, start=EVENING)
    assert f"心理中心已为你留了 {HELD} 的咨询时段，免费、保密" in await _positive_phq9(world)
    chat = world.chat("s1")
    [offer] = await chat.send("预约")
    assert offer.text == f"心理中心为你留了 {HELD} 的咨询时段，免费、保密。要预约这个时间吗？"
    assert [c.label for c in offer.choices] == [
        "预约这个时间", "这个时间不行", "暂时不需要", "主菜单"]
    [passed] = await chat.send("这个时间不行")
    assert passed.text == f"好的，这个时间不为你留了。{PLACED}", passed.text
    assert [c.label for c in passed.choices] == ["看看其他时间", "退出候补", "主菜单"]
    assert await _entries(world) == [(world.ids["s1"], "waiting", "screen")]
    # the time passed on is anyone's again: 学生2号 takes it, and s1 cannot hold it too
    listing = await chat.say("看看其他时间")
    assert "可以预约的时间" in listing and "10-13 周二 09:00" in listing
    await chat.say("主菜单")
    async with db.session() as s:
        s2 = await s.get(Person, world.ids["s2"])
        assert s2 is not None
        assert (await booking.book(s, world.network.policy, s2, world.ids["c2"], sh(10, 13, 9),
                                   clock.now())).ok
    [appt] = await appointments(world)
    assert appt.student_id == world.ids["s2"]
    # the way out the sentence named, typed from anywhere
    assert "已退出候补" in await chat.say("退出候补")
    assert await _entries(world) == [(world.ids["s1"], "left", "screen")]


async def test_stepping_back_from_a_held_session_reads_as_the_centre_letting_go(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings, start=EVENING)
    await _positive_phq9(world)
    chat = world.chat("s1")
    await chat.say("预约")
    [left] = await chat.send("暂时不需要")
    assert left.text == "好的，不再为你留时间了。想聊的时候随时回复“预约”，咨询免费、保密。"
    assert "候补" not in left.text
    assert await _entries(world) == [(world.ids["s1"], "left", "screen")]
    assert "10-13 周二 09:00" in await world.chat("s2").say("预约")  # the time is released


async def test_a_held_session_that_lapses_tells_the_student_once_what_the_centre_does_now(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings, start=EVENING)
    await _positive_phq9(world)
    clock.set(sh(10, 13, 6, 59))  # held until two hours before it starts
    assert await sweeper(world).sweep_once() == 0
    clock.set(sh(10, 13, 7, 0))
    assert await sweeper(world).sweep_once() == 1
    told = [t for t in await world.push_texts("s1") if "保留时间" in t]
    assert told == [f"为你留的 {HELD} 的咨询时段已过了保留时间。{PLACED}"]
    assert await _entries(world) == [(world.ids["s1"], "waiting", "screen")]
    assert "可以预约的时间" in await world.chat("s1").say("预约")
    await world.chat("s1").say("主菜单")
    # a time freed later is held for them; letting that one lapse does not repeat the sentence
    policy = world.network.policy
    async with db.session() as s:
        s2 = await s.get(Person, world.ids["s2"])
        assert s2 is not None
        booked = await booking.book(s, policy, s2, world.ids["c2"], sh(10, 13, 10), clock.now())
        assert booked.ok and booked.appointment is not None
    async with db.session() as s:
        assert (await booking.cancel(s, policy, booked.appointment.id, clock.now())).ok
    assert "候补到了！10月13日（周二）10:00" in (await world.push_texts("s1"))[-1]
    clock.set(sh(10, 13, 8, 0))
    assert await sweeper(world).sweep_once() == 1
    assert [t for t in await world.push_texts("s1") if "保留时间" in t] == told
    assert await _entries(world) == [(world.ids["s1"], "waiting", "screen")]


async def test_with_no_session_to_hold_the_student_is_told_the_centre_placed_them(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=EVENING)  # no counsellor on duty
    done = await _positive_phq9(world)
    assert f"这几天的咨询时段暂时都约满了，中心老师会尽快为你安排时间。{PLACED}" in done, done
    assert await _entries(world) == [(world.ids["s1"], "waiting", "screen")]
    told = [t for t in await world.push_texts("c1") if "测评结果阳性" in t]
    assert len(told) == 1 and "学号 s1" in told[0]  # the centre is still told, once
    chat = world.chat("s1")
    [nothing] = await chat.send("预约")
    assert "你已在心理中心为你排的咨询候补中，有时段空出来会第一时间通知你。" in nothing.text
    assert [c.label for c in nothing.choices] == ["换个条件", "退出候补", "主菜单"]
    assert "已退出候补" in await chat.say("退出候补")
    assert await _entries(world) == [(world.ids["s1"], "left", "screen")]
    assert "你现在不在候补中" in await chat.say("退出候补")


async def test_a_student_who_joined_the_waitlist_themselves_keeps_its_words_after_a_screen(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await booking_world(db, clock, settings, students=7)  # Monday 09:00
    override = tmp_path / "policy.toml"
    override.write_text("[booking]\nhorizon_days = 2\n", encoding="utf-8")
    world.network = Network(load_policy(override))
    policy = world.network.policy
    async with db.session() as s:  # every session with 孙老师 in the horizon is taken
        for n, at in enumerate((sh(9, 7, 14), sh(9, 7, 15), sh(9, 7, 16), sh(9, 9, 14),
                                sh(9, 9, 15), sh(9, 9, 16)), start=2):
            student = await s.get(Person, world.ids[f"s{n}"])
            assert student is not None
            assert (await booking.book(s, policy, student, world.ids["c1"], at,
                                       clock.now())).ok
    chat = world.chat("s1")
    await chat.say("预约")
    await chat.say("筛选（老师/方式/日期）")
    assert "可以加入候补，有时段空出来会第一时间通知你" in await chat.say("只看女老师")
    assert "已加入候补（女老师）" in await chat.say("加入候补")
    # a positive screen then holds 周老师's Tuesday 09:00 on the entry they made themselves
    assert "心理中心已为你留了 9月8日（周二）09:00 的咨询时段" in await _positive_phq9(world)
    [offer] = await chat.send("预约")
    assert offer.text == "9月8日（周二）09:00 有一个时段为你保留着。要预约这个时间吗？"
    assert [c.label for c in offer.choices] == [
        "预约这个时间", "这个时间不行", "退出候补", "主菜单"]
    [passed] = await chat.send("这个时间不行")
    assert passed.text == "好的，你仍在候补中，下次有时段空出来再通知你。"
    assert await _entries(world) == [(world.ids["s1"], "waiting", "student")]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_migration_0027_reads_existing_waitlist_entries_as_the_student_s_own(
    backend: str, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "postgresql":
        monkeypatch.setenv("XINQIAO_DATA_KEYS", PG_DATA_KEY)
        url = await create_database(PG_URL)
    else:
        monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    db = Database(url)
    try:
        await upgrade(db, "0026")
        now = clock.now() if backend == "postgresql" else clock.now().isoformat()
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO school (id, code, name) VALUES (1, 'd', 'x')"))
            await conn.execute(text(
                "INSERT INTO person (id, school_id, external_id, name, activation_code, tier,"
                " active, created_at, updated_at) VALUES (1, 1, 'S1', '甲', 'C', 'routine',"
                " :yes, :now, :now)"), {"yes": True, "now": now})
            await conn.execute(text(
                "INSERT INTO booking_waitlist (student_id, status, created_at, expires_at, token)"
                " VALUES (1, 'waiting', :now, :now, 0)"), {"now": now})
        await upgrade(db)
        async with db.session() as s:
            [entry] = (await s.exec(select(WaitlistEntry))).all()
        assert (entry.student_id, entry.status, entry.origin) == (1, "waiting", "student")
    finally:
        await db.dispose()
        if backend == "postgresql":
            await drop_database(PG_URL, url)
