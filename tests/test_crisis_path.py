"""Crisis language anywhere: the reply, the alert and the routing, end to end in chat."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.network_world import make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, Person
from xinqiao.storage.reports import Escalation, Report

NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)  # 02:30, outside any working hours


async def test_a_student_in_crisis_is_answered_and_duty_staff_alerted_at_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings.model_copy(
        update={"centre_duty_phone": "0571-88888888"}), start=NIGHT)
    chat = world.chat("s1")
    answer = await chat.say("我真的撑不下去了，不想活了")
    assert "很担心你" in answer and "12356" in answer and "0571-88888888" in answer
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
        person = await s.get(Person, world.ids["s1"])
        pushes = (await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert esc.severity == "crisis" and esc.kind == "crisis"
    assert person is not None and person.tier == "crisis"
    alerted = {p.person_id for p in pushes}
    # the class advisor, the college and the centre
    assert alerted == {world.ids[w] for w in ("t1", "l1", "l2", "c1", "c2")}
    assert all(p.priority == 0 and "不想活" not in str(p.payload) for p in pushes)
    # "I was joking" closes nothing; a repeat does not flood staff with a second alert
    await chat.say("我开玩笑的")
    await chat.say("还是不想活了")
    async with db.session() as s:
        assert len((await s.exec(select(Escalation))).all()) == 1
        assert len((await s.exec(select(OutboxMessage))).all()) == 5
        assert (await s.get(Escalation, esc.id)).status == "open"  # type: ignore[union-attr]
    # the duty staff can read what was said, and that read is audited
    queue = world.chat("c1")
    await queue.say("待办")
    detail = await queue.say(f"查看 #{esc.id}")
    assert "撑不下去" in detail


async def test_everyday_intensifiers_are_just_conversation(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("s1")
    for text in ("笑死我了", "今天累死了", "热死了", "电脑又死机了", "饿死了"):
        assert "12356" not in await chat.say(text)
    async with db.session() as s:
        assert (await s.exec(select(Escalation))).all() == []


async def test_third_party_crisis_is_routed_to_the_named_roommates_college(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    answer = await world.chat("k2").say("室友小吴刚才跟我说他不想活了")  # k2 is in 软件2302
    assert "谢谢你告诉我" in answer
    async with db.session() as s:
        report = (await s.exec(select(Report))).one()
        esc = (await s.exec(select(Escalation))).one()
    assert report.subject_person_id == world.ids["s1"] and report.reporter_person_id == \
        world.ids["k2"]
    assert esc.college_id == world.campus.college_id
    assert report.answers["third_party"] is True


async def test_someone_not_yet_bound_still_gets_help_and_the_centre_is_told(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    from tests.dialog import Dialog
    from tests.network_world import INSTRUMENTS

    world = await make_world(db, clock, settings, start=NIGHT)
    stranger = Dialog(db, settings, clock, "o-stranger", channel="wechat",
                      network=world.network, instruments=INSTRUMENTS)
    assert "12356" in await stranger.say("i want to kill myself")
    assert len(await world.push_texts("c1")) == 1
    assert await world.push_texts("l1") == []  # no college known for a stranger


async def test_crisis_words_typed_as_a_report_answer_alert_and_are_kept(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    answer = await chat.say("他昨晚说不想活了")
    assert "谢谢你告诉我" in answer and "可能相关的情况" in answer  # alert, then the form goes on
    await chat.say("10")
    await chat.say("现在就需要处理")
    async with db.session() as s:
        reports = (await s.exec(select(Report).order_by(col(Report.id)))).all()
    assert [r.kind for r in reports] == ["crisis", "dorm"]
    assert reports[1].answers["observed"] == "他昨晚说不想活了"
    assert reports[0].subject_person_id == world.ids["s1"]  # the roommate picked in the form
