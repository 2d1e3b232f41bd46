"""Closing the escalation loop (issue 13, items 5–7): nobody acknowledges, nobody can be
reached, or an acknowledged item is forgotten. Conversations on a fake clock; pushes asserted
through the outbox."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import delete, update
from sqlmodel import col, select

from tests.network_world import World, add_other_college_lead, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.campaigns import DutyShift
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, Person
from xinqiao.storage.reports import Escalation, EscalationStep

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
UNACKNOWLEDGED_LEVELS = "否则将标记为“无人确认”，并转心理中心负责人和值班老师。"


async def _report(world: World, about: str, urgency: str, factors: str = "7") -> int:
    """The informant files a dorm report about a roommate; returns its escalation id."""
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    assert "观察到了什么" in await chat.say(about)
    await chat.say("这周几乎不出门")
    await chat.say(factors)
    assert "收到" in await chat.say(urgency)
    async with world.db.session() as s:
        esc = (await s.exec(select(Escalation).order_by(col(Escalation.id).desc()))).first()
    assert esc is not None and esc.id is not None
    return esc.id


async def _steps(world: World, esc_id: int) -> list[tuple[str, int, str | None]]:
    async with world.db.session() as s:
        rows = await s.exec(select(EscalationStep).where(EscalationStep.escalation_id == esc_id)
                            .order_by(col(EscalationStep.id)))
        return [(r.action, r.level, r.note) for r in rows]


async def _set_identity(world: World, who: str, *, reachable: bool | None = None) -> None:
    """Unbind ``who`` (reachable None) or mark their account (un)reachable."""
    async with world.db.session() as s:
        match = col(ChannelIdentity.person_id) == world.ids[who]
        if reachable is None:
            await s.exec(delete(ChannelIdentity).where(match))
        else:
            await s.exec(update(ChannelIdentity).where(match).values(reachable=reachable))


async def test_an_item_nobody_acknowledges_goes_to_the_centre_lead_and_duty_and_stays_on_top(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    async with db.session() as s:  # today only 中心孙老师 (c1) is on crisis duty
        s.add(DutyShift(person_id=world.ids["c1"], starts_at=MONDAY_9 - timedelta(hours=1),
                        ends_at=MONDAY_9 + timedelta(hours=12), created_at=MONDAY_9))
    older = await _report(world, "室友小吴", "现在就需要处理")  # urgent: college+centre, lead
    clock.advance(minutes=1)
    esc = await _report(world, "委员小郑", "现在就需要处理")
    assert esc != older
    clock.set(MONDAY_9 + timedelta(minutes=16))
    assert await world.sweep() == 2  # both climb to the centre lead
    assert "已确认" in await world.chat("l1").say(f"收到 {older}")
    lead = [t for t in await world.push_texts("d1") if f"D{esc} " in t]
    assert len(lead) == 1 and "否则将升级" not in lead[-1]
    # the last level: reminded 3 times, never "escalate"
    assert "请在 09-07 09:31 前确认，否则将再次提醒。" in lead[-1]
    for _ in range(3):
        clock.advance(minutes=15)
        await world.sweep()  # (#older's stale ack deadline fires too, doing nothing)
    reminders = (await world.push_texts("d1"))[-3:]
    assert len(reminders) == 3 and all("否则将升级" not in r for r in reminders)
    assert reminders[-1].endswith(f"前确认，{UNACKNOWLEDGED_LEVELS}\n回复“收到 D{esc}”确认，"
                                  f"回复“待办 D{esc}”查看详情。")
    # 10:16: the chain has run out. The centre lead and the staff on duty get it at once.
    clock.advance(minutes=15)
    assert await world.sweep() == 1
    alert = (await world.push_texts("d1"))[-1]
    assert alert == (f"【心桥·无人确认】D{esc} 宿舍情况反映（软件2301）\n紧急程度：紧急\n"
                     "已走完全部升级层级，至今无人确认，现转给心理中心负责人和值班老师。\n"
                     f"回复“收到 D{esc}”确认，回复“待办 D{esc}”查看详情。\n"
                     "确认之前每 1 小时提醒一次。")
    assert (await world.push_texts("c1"))[-1] == alert
    assert alert not in await world.push_texts("c2")  # not on duty
    # It heads every queue holding it, marked 无人确认, ahead of the older item.
    for who in ("d1", "c1"):
        queue = (await world.chat(who).say("待办")).splitlines()
        assert queue[0].endswith("（无人确认的在最前，危机和紧急的在前，其余最早的在前）：")
        assert queue[1].startswith(f"⚠D{esc} 宿舍情况反映 · 紧急 · 无人确认")
        assert queue[2].startswith(f"D{older} 宿舍情况反映 · 紧急 · 跟进中")
    detail = await world.chat("d1").say(f"待办 {esc}")  # the item itself says so too
    assert "当前在：心理中心负责人和值班老师；状态：无人确认" in detail
    assert "下次提醒：09-07 11:16" in detail and "待确认" not in detail
    # Reminded every hour (the urgent chain's remind_every) until someone acknowledges.
    clock.advance(hours=1)
    assert await world.sweep() == 1
    again = (await world.push_texts("d1"))[-1]
    assert again.startswith(f"【心桥·无人确认·再次提醒】D{esc} 宿舍情况反映（软件2301）")
    assert "自 09-07 10:16 起仍无人确认，请尽快处理。" in again
    assert (await world.push_texts("c1"))[-1] == again
    assert "已确认" in await world.chat("l1").say(f"收到 {esc}")  # anyone it reached may
    seen = len(await world.push_texts("d1"))
    clock.advance(hours=3)
    await world.sweep()
    assert len(await world.push_texts("d1")) == seen
    assert "无人确认" not in await world.chat("c1").say("待办")
    assert [a for a, _, _ in await _steps(world, esc)][-4:] == [
        "reminded", "exhausted", "reminded", "acked"]


async def test_the_first_level_s_alert_names_the_class_as_the_later_levels_do(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc = await _report(world, "室友小吴", "不急，近期关注即可")
    (advisor,) = await world.push_texts("t1")
    assert advisor.splitlines()[0] == f"【心桥】D{esc} 宿舍情况反映（软件2301）"
    clock.set(MONDAY_9 + timedelta(days=1, hours=1))  # nobody acknowledged: the college has it
    await world.sweep()
    (college,) = await world.push_texts("l1")
    assert college.splitlines()[0] == f"【心桥】D{esc} 宿舍情况反映（软件2301）"


@pytest.mark.parametrize(("state", "why"), [
    (None, "班级辅导员尚未绑定"), (False, "班级辅导员的账号暂时无法送达")])
async def test_a_level_nobody_can_reach_is_skipped_at_once_and_the_next_hears_why(
    db: Database, clock: FakeClock, settings: Settings, state: bool | None, why: str
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _set_identity(world, "t1", reachable=state)  # the class advisor cannot be reached
    esc = await _report(world, "室友小吴", "不急，近期关注即可")
    # not after the advisor's 8 working hours: the college has it now, and knows why
    college = await world.push_texts("l1")
    assert college == [f"【心桥】D{esc} 宿舍情况反映（软件2301）\n紧急程度：常规\n"
                       f"（{why}，已直接转给你）\n"
                       "请在 09-08 09:00 前确认，否则将升级至心理中心。\n"
                       f"回复“收到 D{esc}”确认，回复“待办 D{esc}”查看详情。"]
    assert len(await world.push_texts("l2")) == 1
    assert await _steps(world, esc) == [("opened", 0, None), ("skipped", 0, why),
                                        ("notified", 1, None)]


async def test_the_daily_coverage_check_names_who_an_alert_would_not_reach(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await add_other_college_lead(world)
    await _set_identity(world, "t1")  # the advisor of 软件2301 never bound
    await _set_identity(world, "k1", reachable=False)  # the committee member unfollowed
    await _set_identity(world, "i1", reachable=False)  # so did the informant
    await world.start_jobs()  # started at 09:00: today's 08:30 check runs now, once
    await world.sweep()
    college = await world.push_texts("l1")
    assert college == ["【心桥·联络检查】信息工程学院有 3 处联系不上，预警可能送不到：\n"
                       "· 东1-101 信息员 信息员小周：账号无法送达\n"
                       "· 软件2301 心理委员 委员小郑：账号无法送达\n"
                       "· 软件2301 班级辅导员 辅导员王老师：未绑定\n"
                       "请提醒他们在公众号完成绑定（或重新关注），或在名册中补上人选。"]
    centre = await world.push_texts("d1")
    assert len(centre) == 1 and centre[0].startswith("【心桥·联络检查】全校有 3 处联系不上")
    assert "信息工程学院：\n· 东1-101 信息员" in centre[0]
    assert await world.push_texts("x1") == []  # the other college has no gaps
    assert await world.push_texts("c1") == []
    # daily: the next workday's plan checks again (the advisor bound meanwhile)
    async with db.session() as s:
        pid = world.ids["t1"]
        s.add(ChannelIdentity(channel="console", address="a-t1", person_id=pid,
                              bound_at=clock.now(), created_at=clock.now()))
    clock.set(datetime(2026, 9, 8, 8, 30, tzinfo=SHANGHAI))
    await world.sweep()
    again = await world.push_texts("l1")
    assert len(again) == 2 and "2 处联系不上" in again[1] and "王老师" not in again[1]


async def test_a_college_lead_who_left_is_a_gap_not_the_college_s_coverage(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await add_other_college_lead(world)
    await _set_identity(world, "t1")  # the advisor of 软件2301 never bound
    async with db.session() as s:  # 李书记 left the school; the roster marked him inactive
        await s.exec(update(Person).where(col(Person.id) == world.ids["l1"])
                     .values(active=False))
    await world.start_jobs()  # started at 09:00: today's 08:30 check runs now, once
    await world.sweep()
    assert await world.push_texts("l1") == []  # nothing to someone who left
    [centre] = await world.push_texts("d1")
    assert centre.startswith("【心桥·联络检查】全校有 2 处联系不上")
    assert "信息工程学院：\n· 学院：没有学院负责人\n· 软件2301 班级辅导员 辅导员王老师：未绑定" \
        in centre


async def test_an_acknowledged_crisis_not_resolved_in_a_day_reminds_then_climbs(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc = await _report(world, "室友小吴", "不急，近期关注即可", factors="10")  # crisis
    acked = await world.chat("l1").say(f"收到 {esc}")
    assert f"已确认 D{esc}，升级已停止。请在 09-08 09:00 前处理完" in acked
    before = len(await world.push_texts("l1"))
    clock.set(datetime(2026, 9, 8, 8, 59, tzinfo=SHANGHAI))
    await world.sweep()  # (the crisis case's own follow-up timers run meanwhile)
    assert len(await world.push_texts("l1")) == before
    clock.set(datetime(2026, 9, 8, 9, 0, tzinfo=SHANGHAI))
    await world.sweep()
    reminder = (await world.push_texts("l1"))[before:]
    assert reminder == [f"【心桥·待结案提醒】D{esc} 宿舍情况反映（软件2301）\n紧急程度：危机\n"
                        "你已确认跟进，但未在期限内结案。\n"
                        f"请回复“已处理 D{esc} 处理情况”结案；仍在跟进请回复“收到 D{esc}”。\n"
                        "请在 09-08 09:10 前回复，否则将升级至心理中心负责人。"]
    assert await world.push_texts("d1") == []
    # ten minutes on (the level's ack_within) it climbs like an unacknowledged item
    clock.advance(minutes=10)
    assert await world.sweep() == 1
    lead = await world.push_texts("d1")
    assert len(lead) == 1 and "（学院李书记确认后未在期限内结案，已直接转给你）" in lead[0]
    assert "已升级至心理中心负责人" in (await world.push_texts("l1"))[-1]
    assert "已确认" in await world.chat("d1").say(f"收到 {esc}")
    assert [a for a, _, _ in await _steps(world, esc)][-4:] == [
        "acked", "lapsed", "notified", "acked"]


async def test_an_acknowledged_routine_item_has_72_working_hours(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc = await _report(world, "室友小吴", "不急，近期关注即可")
    # 72 working hours from Mon 09:00 are nine office days: Fri 18 Sep 09:00
    assert "请在 09-18 09:00 前处理完" in await world.chat("t1").say(f"收到 {esc}")
    clock.set(datetime(2026, 9, 18, 8, 59, tzinfo=SHANGHAI))
    await world.sweep()
    assert all("待结案提醒" not in t for t in await world.push_texts("t1"))
    clock.set(datetime(2026, 9, 18, 9, 0, tzinfo=SHANGHAI))
    assert await world.sweep() == 1
    assert "【心桥·待结案提醒】" in (await world.push_texts("t1"))[-1]
    assert await world.push_texts("l1") == []
