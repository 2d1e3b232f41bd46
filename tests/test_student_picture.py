"""学生信息 学号: one student's picture for the staff who follow them, each line as far as the
reader's own grants reach, newest first, 20 lines a page, the whole view audited once."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from sqlmodel import col, select

from tests.booking_world import book_first, booking_world, sh
from tests.console_world import LINK
from tests.network_world import World
from xinqiao.bot.app import build_app
from xinqiao.clock import FakeClock
from xinqiao.services.access import REFUSAL
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry
from xinqiao.storage.reports import Escalation
from xinqiao.storage.screening import TierChange


async def _history(world: World) -> dict[str, int]:
    """s1's Monday: a dorm report, a positive PHQ-9, a booking she misses, crisis words."""
    clock = world.clock
    i1 = world.chat("i1")  # 09:00, working hours: the report goes to her class advisor t1
    for text in ("宿舍情况", "室友小吴", "晚上一直哭 WORDS-4R", "7", "不急，近期关注即可"):
        await i1.say(text)
    clock.set(sh(9, 7, 9, 30))
    s1 = world.chat("s1")  # PHQ-9 total 12: moderate, positive, the key tier
    for text in ["心理测评", "我已了解，同意开始", "PHQ-9 情绪状况筛查（患者健康问卷）",
                 *["几乎每天"] * 4, *["完全不会"] * 5]:
        await s1.say(text)
    await book_first(world, "s1")  # Monday 14:00 with 孙老师 (c1)
    clock.set(sh(9, 7, 14, 20))  # she does not come: a key-tier no-show opens an item
    desk = world.chat("c1")
    await desk.say("今日预约")
    await desk.say("14:00 室友小吴")
    await desk.say("爽约")
    assert "已记录爽约" in await desk.say("跳过")
    clock.set(sh(9, 7, 15, 0))
    await s1.say("我想自杀")  # a crisis item and a case
    async with world.db.session() as s:
        escs = {e.kind: e.id or 0 for e in await s.exec(select(Escalation))}
        case = (await s.exec(select(Case))).one()
    return {**escs, "case": case.id or 0}


async def _audits(world: World, who: str, after: int) -> list[AuditEntry]:
    async with world.db.session() as s:
        rows = await s.exec(select(AuditEntry).where(
            col(AuditEntry.id) > after, AuditEntry.actor_person_id == world.ids[who])
            .order_by(col(AuditEntry.id)))
        return list(rows)


async def _last_audit(world: World) -> int:
    async with world.db.session() as s:
        return (await s.exec(select(AuditEntry.id).order_by(col(AuditEntry.id).desc()))
                ).first() or 0


HEAD = "室友小吴（s1）\n学院：信息工程学院\n班级：软件2301\n宿舍：东1-101\n关注等级：危机关注\n\n"


async def test_the_centre_and_the_advisor_each_see_their_part_of_one_students_history(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    ids = await _history(world)
    clock.set(sh(9, 7, 16, 0))
    d_report, d_noshow, d_crisis, g = ids["dorm"], ids["noshow"], ids["crisis"], ids["case"]
    mark = await _last_audit(world)
    # her counsellor at the centre: the band (never the answers), the appointment she missed,
    # the items sent to the centre, the case, the tier's moves; not the report sent to t1
    assert await world.chat("c1").say("学生信息 s1") == HEAD + "\n".join([
        "安全计划：还没有",
        "经过（最新在前，只列你有权查看的记录）：",
        f"· 2026-09-07 15:00 D{d_crisis} 危机预警 · 未确认",
        f"· 2026-09-07 15:00 建立个案 G{g}",
        "· 2026-09-07 15:00 关注等级 重点关注 → 危机关注（规则自动，待复核）",
        f"· 2026-09-07 14:20 D{d_noshow} 重点关注学生咨询爽约 · 未确认",
        "· 2026-09-07 14:00 咨询预约（中心孙老师）· 爽约",
        "· 2026-09-07 09:30 测评 · PHQ-9 情绪状况筛查：中度抑郁相关症状（阳性）",
        "· 2026-09-07 09:30 关注等级 日常关注 → 重点关注（规则自动）",
        "1. 主菜单"])
    # her class advisor: the items sent to him (the dorm report among them) and the tier;
    # no screening, no appointment, no case, not even whether there is a safety plan
    assert await world.chat("t1").say("学生信息 s1") == HEAD + "\n".join([
        "经过（最新在前，只列你有权查看的记录）：",
        f"· 2026-09-07 15:00 D{d_crisis} 危机预警 · 未确认",
        "· 2026-09-07 15:00 关注等级 重点关注 → 危机关注（规则自动，待复核）",
        "· 2026-09-07 09:30 关注等级 日常关注 → 重点关注（规则自动）",
        f"· 2026-09-07 09:00 D{d_report} 有人反映：宿舍情况反映 · 未确认",
        "1. 主菜单"])
    # each reference opens where the line says
    assert "涉及同学：室友小吴" in await world.chat("t1").say(f"待办 D{d_report}")
    # the report's words never show in the picture
    for who in ("c1", "t1", "l2", "d1"):
        reply = await world.chat(who).say("学生信息 s1")
        assert "WORDS-4R" not in reply and "几乎每天" not in reply
    # one audit row per view, about her, as a picture read (the 待办 look is its own)
    reads = [(r.action, r.subject_person_id, r.allowed) for r in await _audits(world, "c1", mark)]
    assert reads == [("picture.read", world.ids["s1"], True)] * 2


async def test_an_advisor_of_another_class_and_a_student_are_refused_and_audited(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings, students=3)
    await _history(world)
    mark = await _last_audit(world)
    refused = await world.chat("t2").say("学生信息 s1")  # 软件2302's advisor
    assert refused == REFUSAL + "\n1. 主菜单"
    assert refused == await world.chat("t2").say("学生信息 nobody")  # the same as no such student
    student = await world.chat("s2").say("学生信息 s1")
    assert "不在你的权限范围" in student and "室友小吴" not in student and "经过" not in student
    assert [(r.action, r.subject_person_id, r.allowed, r.detail.get("kind"))
            for r in await _audits(world, "t2", mark)] == [
        ("picture.read", world.ids["s1"], False, "picture"),
        ("picture.read", None, False, "picture")]
    assert (await _audits(world, "t2", mark))[1].detail["asked"] == "nobody"
    assert [(r.action, r.allowed, r.detail.get("asked"))
            for r in await _audits(world, "s2", mark)] == [("flow.refused", False, "s1")]
    # a committee member of her class still finds who she is, never her picture
    k1 = await world.chat("k1").say("学生信息 s1")
    assert "东1-101" in k1 and "经过" not in k1 and "关注等级" not in k1


async def test_a_long_history_comes_twenty_lines_a_page_each_page_audited_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    start = sh(9, 1, 10, 0)
    async with db.session() as s:  # a month of tier moves decided by the centre lead
        for n in range(45):
            s.add(TierChange(person_id=world.ids["s1"], old="routine" if n % 2 else "key",
                             new="key" if n % 2 else "routine", reason="复核",
                             decided_by=world.ids["d1"], at=start + timedelta(hours=n)))
        await s.commit()
    mark = await _last_audit(world)
    d1 = world.chat("d1")
    first = await d1.say("学生信息 s1")
    lines = [x for x in first.splitlines() if x.startswith("· ")]
    assert len(lines) == 20 and "第 1/3 页" in first and first.endswith("2. 主菜单")
    down = "关注等级 重点关注 → 日常关注（中心钱主任）"
    assert lines[0] == f"· 2026-09-03 06:00 {down}"
    assert "点「更多」看更早的记录" in first and "1. 更多" in first
    second = await d1.say("更多")
    assert "第 2/3 页" in second and "室友小吴（s1）" not in second
    assert second.splitlines()[1] == f"· 2026-09-02 10:00 {down}"
    third = await d1.say(choice="more")  # the tap, as well as the word
    assert "第 3/3 页" in third and len([x for x in third.splitlines() if x.startswith("· ")]) == 5
    assert "更多" not in third and third.endswith("1. 主菜单")
    assert third.splitlines()[-2] == f"· 2026-09-01 10:00 {down}"
    pages = [(r.action, r.subject_person_id, r.detail.get("page"))
             for r in await _audits(world, "d1", mark)]
    assert pages == [("picture.read", world.ids["s1"], n) for n in (1, 2, 3)]
    # after the last page the conversation is free again
    assert "关注名单" in await d1.say("菜单")


async def test_practice_never_appears_in_the_picture(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    i1 = world.chat("i1")
    assert "【练习模式】已开始" in await i1.say("练习")
    for text in ("宿舍情况", "室友小吴", "晚上一直哭", "7"):
        await i1.say(text)
    assert "【练习】" in await i1.say("不急，近期关注即可")
    for who in ("t1", "d1"):
        reply = await world.chat(who).say("学生信息 s1")
        assert "经过：还没有你可以查看的记录。" in reply and "D" not in reply.split("经过")[1]


async def test_the_console_student_page_shows_the_same_picture_linked(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await booking_world(db, clock, settings)
    ids = await _history(world)
    for text in ("安全计划", "散步", *["跳过"] * 5):  # she writes a safety plan
        await world.chat("s1").say(text)
    clock.set(sh(9, 7, 16, 0))
    chat = await world.chat("c1").say("学生信息 s1")
    assert "安全计划：已填写（发送「安全计划 s1」查看）" in chat
    client = await aiohttp_client(build_app(settings, clock, background=False))
    found = LINK.search(await world.chat("c1").say("登录"))
    assert found is not None
    assert (await client.post("/console/login", data={"token": found.group(1)})).status == 200
    mark = await _last_audit(world)
    body = await (await client.get(f"/console/students/{world.ids['s1']}")).text()
    assert "<li>安全计划：已填写</li>" in body
    shown = re.findall(r"<time>([^<]+)</time> (?:<a href=\"([^\"]*)\">|<span>)([^<]+)<", body)
    # the chat's lines, in the chat's order, each item and case opening its own page
    assert [f"· {at} {text}" for at, _, text in shown] == \
        [x for x in chat.splitlines() if x.startswith("· ")]
    links = {text.split(" ")[0]: href for _, href, text in shown if href}
    assert links[f"D{ids['crisis']}"] == f"/console/items/{ids['crisis']}"
    assert links["建立个案"] == f"/console/cases/{ids['case']}"
    assert [(r.action, r.subject_person_id) for r in await _audits(world, "c1", mark)] == [
        ("attention.student", world.ids["s1"])]
