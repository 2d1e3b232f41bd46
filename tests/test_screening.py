"""Screenings in chat: consent, one item at a time, scoring, follow-ups, the crisis path."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.dialog import Dialog
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Escalation
from xinqiao.storage.screening import Consent, ScreeningResult, TierChange

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # a Monday evening


async def _begin(world: World, who: str = "s1") -> tuple[Dialog, str]:
    chat = world.chat(who)
    first = await chat.say("心理测评")
    assert "保密有一个例外" in first and "不是诊断" in first
    picked = await chat.say("我已了解，同意开始")
    assert "想做哪一项测评" in picked
    return chat, await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")


async def _results(world: World) -> list[ScreeningResult]:
    async with world.db.session() as s:
        return list(await s.exec(select(ScreeningResult).order_by(col(ScreeningResult.id))))


async def test_declining_consent_records_the_decline_and_nothing_else(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat = world.chat("s1")
    await chat.say("心理测评")
    assert "随时可以回来" in await chat.say("暂不参加")
    async with db.session() as s:
        consents = (await s.exec(select(Consent))).all()
    assert [c.accepted for c in consents] == [False]
    assert consents[0].version.startswith("2026-09.")
    assert await _results(world) == []
    assert "保密有一个例外" in await chat.say("心理测评")  # asked again next time


async def test_low_phq9_is_scored_without_diagnosis_and_nothing_raised(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, first = await _begin(world)
    assert "过去两周" in first and "\n1. " in first and "完全不会" in first
    for _ in range(8):
        await chat.say("1")  # 完全不会
    done = await chat.say("完全不会")
    assert "完成" in done and "诊断" in done
    [result] = await _results(world)
    assert (result.total, result.band, result.tier, result.positive) == (0, "minimal",
                                                                        "routine", False)
    async with db.session() as s:
        assert (await s.exec(select(TierChange))).all() == []
        assert (await s.exec(select(Escalation))).all() == []


async def test_positive_phq9_raises_to_key_and_invites_to_book(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, _ = await _begin(world)
    for _ in range(5):
        await chat.say("一半以上的天数")  # 2 × 5 = 10
    for _ in range(3):
        await chat.say("完全不会")
    done = await chat.say("完全不会")
    assert "预约" in done
    [result] = await _results(world)
    assert (result.total, result.band, result.tier) == (10, "moderate", "key")
    async with db.session() as s:
        person = await s.get(Person, world.ids["s1"])
        change = (await s.exec(select(TierChange))).one()
    assert person is not None and person.tier == "key"
    assert (change.old, change.new, change.decided_by) == ("routine", "key", None)
    assert "automatic" in change.reason


async def test_item_nine_leads_to_asq_and_an_acute_answer_to_the_crisis_path(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, _ = await _begin(world)
    for _ in range(8):
        await chat.say("好几天")
    follow = await chat.say("好几天")  # item 9: thoughts of being better off dead
    assert "接下来几个问题关于你最近的想法" in follow and follow.count("接下来") == 1
    await chat.say("是")  # ASQ q1
    for _ in range(3):
        await chat.say("否")
    crisis = await chat.say("是")  # q5, acuity: thoughts of killing yourself right now
    assert "12356" in crisis and "110" in crisis and "很担心你" in crisis
    results = await _results(world)
    assert [(r.instrument, r.acute) for r in results] == [("phq9", False), ("asq", True)]
    async with db.session() as s:
        esc = (await s.exec(select(Escalation).where(Escalation.kind == "crisis"))).one()
        person = await s.get(Person, world.ids["s1"])
        change = (await s.exec(select(TierChange).where(TierChange.new == "crisis"))).one()
    assert esc.severity == "crisis" and esc.subject_person_id == world.ids["s1"]
    assert person is not None and person.tier == "crisis" and change.pending_review
    for who in ("l1", "c1"):  # college and centre at once (the centre had item 9's outreach)
        texts = [t for t in await world.push_texts(who) if "危机预警" in t]
        assert len(texts) == 1
        assert "想" not in texts[0].split("\n", 1)[1]  # nothing of the answers in the alert
    assert await world.push_texts("i1") == [] and await world.push_texts("k1") == []


async def test_asq_all_no_is_negative_and_skips_the_acuity_question(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, _ = await _begin(world)
    for _ in range(8):
        await chat.say("完全不会")
    await chat.say("几乎每天")
    for _ in range(3):
        await chat.say("否")
    done = await chat.say("否")
    assert "12356" not in done
    results = await _results(world)
    assert [(r.instrument, r.positive) for r in results] == [("phq9", False), ("asq", False)]
    assert set(results[1].answers) == {"q1", "q2", "q3", "q4"}


async def test_leave_and_resume_and_back(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, _ = await _begin(world)
    await chat.say("好几天")
    await chat.say("好几天")
    third = await chat.say("返回")  # change the second answer
    assert third.startswith("2.")
    await chat.say("几乎每天")
    await chat.say("菜单")  # leave half-way
    offer = await chat.say("心理测评")
    assert "还没做完" in offer
    resumed = await chat.say("继续上次")
    assert "3." in resumed
    for _ in range(7):
        await chat.say("完全不会")
    [result] = await _results(world)
    assert result.answers["q1"] == 1 and result.answers["q2"] == 3 and result.total == 4


async def _item_nine(world: World, chat: Dialog) -> str:
    for _ in range(8):
        await chat.say("一半以上的天数")
    return await chat.say("几乎每天")  # item 9: total 19, ASQ next


async def _outreach(world: World) -> Escalation:
    async with world.db.session() as s:
        return (await s.exec(select(Escalation).where(Escalation.kind == "screening"))).one()


async def test_item_nine_reaches_a_counsellor_at_once_and_an_abandoned_asq_is_urgent(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, _ = await _begin(world)
    assert "接下来几个问题" in await _item_nine(world, chat)
    esc = await _outreach(world)
    assert (esc.severity, esc.subject_person_id) == ("soon", world.ids["s1"])
    for who in ("c1", "c2"):  # the centre's counsellors at once, never the answers
        [alert] = await world.push_texts(who)
        assert f"D{esc.id} 测评提示自伤念头" in alert and "几乎每天" not in alert
    assert await world.push_texts("t1") == [] and await world.push_texts("l1") == []
    assert "心理测评 PHQ9（第 9 题提示自伤念头）" in await world.chat("c1").say(f"待办 {esc.id}")
    await chat.say("否")  # ASQ q1, then the student walks away mid-screener
    clock.advance(minutes=20)
    await chat.say("主菜单")
    clock.advance(minutes=9)
    await world.sweep()
    assert (await _outreach(world)).severity == "soon"  # not yet: 29 minutes
    clock.advance(minutes=2)  # 31 minutes after item 9: the form idle time has passed
    await world.sweep()
    esc = await _outreach(world)
    assert esc.severity == "urgent" and esc.status == "open"
    for who in ("l1", "l2"):  # now the college too, as crisis-priority alerts
        [push] = await world.pushes(who)
        assert "ASQ 未完成" in push.payload["reply"]["text"] and push.priority == 0
    assert "ASQ 未完成" in (await world.push_texts("c1"))[-1]


async def test_a_student_still_answering_the_asq_is_not_counted_as_abandoning(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, _ = await _begin(world)
    await _item_nine(world, chat)
    for _ in range(3):
        clock.advance(minutes=25)  # slow, but never idle for the form idle time
        await chat.say("否")
        await world.sweep()
    assert (await _outreach(world)).severity == "soon"
    clock.advance(minutes=25)
    assert "12356" not in await chat.say("否")  # ASQ negative
    clock.advance(hours=2)
    await world.sweep()
    esc = await _outreach(world)
    assert esc.severity == "soon" and esc.status == "open"  # the outreach itself still stands
    assert await world.push_texts("l1") == []


async def test_refusing_the_asq_makes_the_outreach_urgent_at_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    chat, _ = await _begin(world)
    await _item_nine(world, chat)
    stopped = await chat.say("不想做了")
    assert "老师会尽快联系你" in stopped and "12356" in stopped
    esc = await _outreach(world)
    assert esc.severity == "urgent"
    assert any("ASQ 拒答" in t for t in await world.push_texts("l1"))
    # an acute ASQ another day hands the student over to the crisis item
    clock.advance(days=1)
    await chat.say("心理测评")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    await _item_nine(world, chat)
    await chat.say("是")
    for _ in range(3):
        await chat.say("不想回答")
    assert "12356" in await chat.say("是")
    async with db.session() as s:
        escs = (await s.exec(select(Escalation).order_by(col(Escalation.id)))).all()
    assert [(e.kind, e.status) for e in escs] == [("screening", "resolved"), ("crisis", "open")]
