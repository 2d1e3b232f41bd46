"""Concern-level words: asked directly, each answer (or silence) acted on (issue 14, 2–3)."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import col, select

from tests.dialog import Dialog, labels
from tests.network_world import INSTRUMENTS, World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Escalation
from xinqiao.storage.screening import ScreeningResult

NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)
CONCERN = "活着好累，感觉自己就是家里的累赘"
STAFF = ("l1", "l2", "c1", "c2")


async def _escalations(world: World) -> list[Escalation]:
    async with world.db.session() as s:
        return list((await s.exec(select(Escalation).order_by(col(Escalation.id)))).all())


async def _staff_pushes(world: World) -> int:
    return sum([len(await world.push_texts(w)) for w in STAFF])


async def _asked(world: World, who: str = "s1") -> Dialog:
    chat = world.chat(who)
    replies = await chat.send(CONCERN)
    assert len(replies) == 1
    question = replies[0]
    assert "有没有想过结束自己的生命" in question.text and "12356" in question.text
    assert labels(question) == ["有", "没有", "不想说"]
    assert await _escalations(world) == [] and await _staff_pushes(world) == 0
    return chat


@pytest.mark.parametrize("answer", ["有", "不想说", "有时候会"])
async def test_yes_or_a_refusal_takes_the_crisis_path(
    db: Database, clock: FakeClock, settings: Settings, answer: str
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = await _asked(world)
    reply = await chat.say(answer)
    assert "很担心你" in reply and "12356" in reply
    [esc] = await _escalations(world)
    assert esc.kind == "crisis" and esc.subject_person_id == world.ids["s1"]
    assert {w for w in STAFF if await world.push_texts(w)} == set(STAFF)
    async with db.session() as s:
        person = await s.get(Person, world.ids["s1"])
    assert person is not None and person.tier == "crisis"


async def test_no_gets_a_warm_offer_and_a_concern_item_for_the_centre(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = await _asked(world)
    replies = await chat.send("没有啊")
    assert "谢谢你告诉我" in replies[-1].text and "12356" in replies[-1].text
    assert labels(replies[-1])[:2] == ["预约心理咨询", "呼吸练习"]
    [esc] = await _escalations(world)
    assert esc.kind == "concern" and esc.severity == "routine"
    assert await world.push_texts("l1") == []  # the college is not alerted at night for this
    queue = await world.chat("c1").say("待办")
    assert f"D{esc.id}" in queue and "关切跟进" in queue
    async with db.session() as s:
        person = await s.get(Person, world.ids["s1"])
    assert person is not None and person.tier == "routine"
    # The ten-minute wait is over once answered: silence later raises nothing.
    clock.advance(minutes=11)
    await world.sweep()
    assert [e.kind for e in await _escalations(world)] == ["concern"]


async def test_no_answer_within_ten_minutes_takes_the_crisis_path(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = await _asked(world)
    clock.advance(minutes=9)
    await world.sweep()
    assert await _escalations(world) == []
    clock.advance(minutes=1)
    await world.sweep()
    [esc] = await _escalations(world)
    assert esc.kind == "crisis" and esc.subject_person_id == world.ids["s1"]
    assert await _staff_pushes(world) == 4
    # An answer after that is thanked, and changes nothing.
    assert "已经在关注" in await chat.say("没有")
    assert [e.kind for e in await _escalations(world)] == ["crisis"]


async def test_something_else_typed_asks_again(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = await _asked(world)
    again = await chat.send("嗯……")
    assert labels(again[-1]) == ["有", "没有", "不想说"]
    assert "谢谢你告诉我" in await chat.say("2")  # 2 = 没有, by number as on WeChat


async def test_a_second_concern_within_a_day_is_a_crisis_at_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = await _asked(world)
    await chat.say("没有")
    clock.advance(hours=5)
    reply = await chat.say("真的觉得人生没有意义")
    assert "很担心你" in reply
    assert [e.kind for e in await _escalations(world)] == ["concern", "crisis"]
    # While the crisis item is open, concern words go straight to the crisis path.
    clock.advance(hours=30)
    assert "很担心你" in await world.chat("s1").say("活着好累")


async def test_a_concern_after_a_positive_screening_is_a_crisis(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    async with db.session() as s:
        s.add(ScreeningResult(person_id=world.ids["s1"], instrument="phq9",
                              instrument_version="1", answers={}, total=16,
                              band="moderately_severe", tier="key", positive=True,
                              created_at=clock.now()))
        await s.commit()
    assert "很担心你" in await world.chat("s1").say(CONCERN)
    assert [e.kind for e in await _escalations(world)] == ["crisis"]


async def test_a_concern_after_a_report_about_the_same_student_is_a_crisis(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    informant = world.chat("i1")  # 信息员小周 reports on her roommate 室友小吴 (s1)
    await informant.say("宿舍情况")
    await informant.say("室友小吴")
    await informant.say("最近总是一个人发呆，饭也不怎么吃")
    await informant.say("11")
    await informant.say("不急，近期关注即可")
    clock.advance(hours=3)
    assert "很担心你" in await world.chat("s1").say(CONCERN)
    assert [e.kind for e in await _escalations(world)] == ["dorm", "crisis"]


async def test_a_concern_typed_mid_form_pauses_the_form(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    question = await chat.say(CONCERN)  # typed where a number was asked
    assert "有没有想过" in question and "学习方面" not in question
    assert "谢谢你告诉我" in await chat.say("没有")
    assert "继续上次" in await chat.say("晴雨表")


@pytest.mark.parametrize("reply", ["在等车", "去打水"])
async def test_an_ordinary_short_reply_mid_form_is_not_asked_about(
    db: Database, clock: FakeClock, settings: Settings, reply: str
) -> None:
    # Where someone is or what they are doing, typed where the form waits for an answer: the
    # form carries on, nobody is asked whether they have thought of ending their life.
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    answer = await chat.say(reply)
    assert "请输入一个数字" in answer and "本周在校人数" in answer
    assert "有没有想过" not in answer and "12356" not in answer
    assert await _escalations(world) == [] and await _staff_pushes(world) == 0


async def test_an_unbound_writer_is_asked_too_and_silence_reaches_the_centre(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    stranger = Dialog(db, settings, clock, "o-stranger", channel="wechat",
                      network=world.network, instruments=INSTRUMENTS)
    assert "有没有想过" in await stranger.say("活着好累")
    clock.advance(minutes=10)
    await world.sweep()
    [esc] = await _escalations(world)
    assert esc.kind == "crisis" and len(await world.push_texts("c1")) == 1
