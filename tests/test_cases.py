"""Crisis cases (五个一): opened by the crisis path, followed up daily, closed by staff."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.network_world import World, add_other_college_lead, make_world
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
    assert f"G{case.id} 室友小吴" in listing and "待指定负责人" in listing
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


async def _audits(world: World, since: int) -> list[str]:
    async with world.db.session() as s:
        rows = (await s.exec(select(AuditEntry).where(col(AuditEntry.id) > since)
                             .order_by(col(AuditEntry.id)))).all()
    return [r.action for r in rows]


async def _last_audit(world: World) -> int:
    async with world.db.session() as s:
        last = (await s.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()))).first()
    return last.id if last is not None and last.id is not None else 0


async def test_closing_a_crisis_case_needs_the_centre_to_sign_off(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await world.chat("s1").say("我不想活了")
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
    before = await _last_audit(world)
    lead = world.chat("l1")
    await lead.say(f"个案 {case.id}")
    await lead.say("结案")
    await lead.say("情绪平稳，已恢复上课")
    asked = await lead.say("日常关注")
    assert "等待心理中心老师确认" in asked
    async with db.session() as s:
        still = await s.get(Case, case.id)
        student = await s.get(Person, world.ids["s1"])
    assert still is not None and still.status == "open"
    assert student is not None and student.tier == "crisis"  # not lowered by the college
    assert await _audits(world, before) == ["case.read", "case.close.request"]
    push = (await world.pushes("c1"))[-1]
    assert f"申请结束个案 G{case.id}" in push.payload["reply"]["text"]
    [[key, label]] = push.payload["reply"]["choices"]
    assert label == "查看并确认"
    # the centre member taps the push, sees the request and agrees with one tap
    centre = world.chat("c1")
    listing = await centre.say(choice=key)
    assert f"G{case.id} 室友小吴：学院李书记 申请结案" in listing and "结案后：日常关注" in listing
    before = await _last_audit(world)
    assert "已结案" in await centre.say(f"同意 G{case.id}")
    async with db.session() as s:
        closed = await s.get(Case, case.id)
        student = await s.get(Person, world.ids["s1"])
        change = (await s.exec(select(TierChange).order_by(col(TierChange.id).desc()))).first()
    assert closed is not None and closed.status == "closed"
    assert student is not None and student.tier == "routine"
    assert change is not None and change.decided_by == world.ids["l1"]
    assert await _audits(world, before) == ["case.close.approved"]
    assert "已由心理中心 中心孙老师 同意" in (await world.push_texts("l1"))[-1]


async def test_the_centre_can_decline_and_the_team_is_edited_in_chat(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await world.chat("s1").say("想自杀")
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
    lead = world.chat("l1")
    await lead.say(f"个案 {case.id}")
    await lead.say("我来负责")
    team = await lead.say("团队")
    assert "学院李书记（负责人）" in team and "添加成员" in team
    assert "工号" in await lead.say("添加成员")
    before = await _last_audit(world)
    added = await lead.say("l2")
    assert "已把 学院心理辅导员赵老师 加入团队" in added
    assert await _audits(world, before) == ["case.team.add"]
    assert "只能加入老师" in (await lead.say("添加成员"), await lead.say("s1"))[1]
    removed = await lead.say("移除 学院心理辅导员赵老师")
    assert "已把 学院心理辅导员赵老师 移出团队" in removed
    await lead.say("返回个案")
    await lead.say("结案")
    await lead.say("家长已接回家")
    await lead.say("重点关注")
    assert "不同意结案" in (await world.push_texts("c2"))[-1]
    declined = await world.chat("c2").say(f"不同意结案 {case.id}")
    assert "继续跟进" in declined
    async with db.session() as s:
        still = await s.get(Case, case.id)
        student = await s.get(Person, world.ids["s1"])
    assert still is not None and still.status == "open"
    assert student is not None and student.tier == "crisis"
    assert "暂未同意结束个案" in (await world.push_texts("l1"))[-1]
    # a centre member's own close is the centre's decision
    centre = world.chat("c1")
    await centre.say(f"个案 {case.id}")
    await centre.say("结案")
    await centre.say("复学评估通过")
    assert "已结案" in await centre.say("重点关注")
