"""Crisis cases (五个一): opened by the crisis path, followed up daily, closed by staff."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.network_world import add_other_college_lead, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case, CaseNote
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Person
from xinqiao.storage.screening import TierChange

NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)


async def test_a_case_is_followed_up_until_staff_close_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await world.chat("s1").say("我不想活了")
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
    assert case.person_id == world.ids["s1"] and case.lead_person_id is None
    # the alert itself is handled (else it would climb and remind until acknowledged)
    assert "已结案" in await world.chat("c2").say("已处理 1 已联系学生，转为危机个案跟进")
    # next day nobody leads it yet: the centre is reminded to appoint someone
    clock.advance(days=1)
    assert await world.sweep() >= 1
    assert "还没有负责人" in (await world.push_texts("d1"))[-1]
    staff = world.chat("c1")
    listing = await staff.say("个案")
    assert f"#{case.id} 室友小吴" in listing and "待指定负责人" in listing
    await staff.say(f"查看 #{case.id}")
    assert "你已成为此个案的负责人" in await staff.say("我来负责")
    assert "干预计划" in await staff.say("写计划")
    await staff.say("孙老师今天面谈，联系家长，每日随访")
    clock.advance(days=1)
    await world.sweep()
    assert "今天需要随访" in (await world.push_texts("c1"))[-1]
    await staff.say(f"查看 #{case.id}")
    await staff.say("记录随访")
    await staff.say("情绪平稳，已按时服药")
    await staff.say("随访频率")
    assert "随访频率已更新" in await staff.say("每周")
    reminders = len(await world.push_texts("c1"))
    clock.advance(days=6)
    await world.sweep()
    assert len(await world.push_texts("c1")) == reminders  # weekly now: not yet
    clock.advance(days=1, hours=1)
    await world.sweep()
    assert len(await world.push_texts("c1")) == reminders + 1
    await staff.say(f"查看 #{case.id}")
    await staff.say("结案")
    await staff.say("复学评估通过，转为重点关注继续跟进")
    assert "已结案" in await staff.say("重点关注")
    async with db.session() as s:
        closed = await s.get(Case, case.id)
        student = await s.get(Person, world.ids["s1"])
        decision = (await s.exec(select(TierChange).order_by(col(TierChange.id).desc()))).first()
        kinds = (await s.exec(select(CaseNote.kind).where(CaseNote.case_id == case.id)
                              .order_by(col(CaseNote.id)))).all()
    assert closed is not None and closed.status == "closed" and closed.lead_person_id == \
        world.ids["c1"]
    assert student is not None and student.tier == "key"
    assert decision is not None and decision.decided_by == world.ids["c1"]
    assert kinds == ["opened", "lead", "plan", "followup", "cadence", "closed"]
    clock.advance(days=30)
    await world.sweep()
    assert len(await world.push_texts("c1")) == reminders + 1  # no reminders once closed


async def test_only_the_centre_and_the_students_college_see_a_case(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await add_other_college_lead(world)
    await world.chat("s1").say("想自杀")
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
    assert "没有进行中的个案" in await world.chat("x1").say("个案")
    assert "室友小吴" in await world.chat("l2").say("个案")
    assert "不在你的权限范围" in await world.chat("t1").say("个案")  # advisors: not the pool
    assert "不在你的权限范围" in await world.chat("s1").say("个案")
    async with db.session() as s:
        reads = (await s.exec(select(AuditEntry).where(AuditEntry.action == "case.read"))).all()
    assert reads == []  # listing is not reading; opening one is
    await world.chat("l2").say(f"查看 #{case.id}")
    async with db.session() as s:
        reads = (await s.exec(select(AuditEntry).where(AuditEntry.action == "case.read"))).all()
    assert [(r.actor_person_id, r.allowed) for r in reads] == [(world.ids["l2"], True)]
