"""Crisis words reach the right student, pause a form, and staff can answer anyone (issue 13).

Point 3: inside a report about a roommate, crisis words with no subject are about the roommate.
Point 10: a person's own crisis words pause the form they were filling in; staff can write back
to whoever raised a crisis item, bound or not (回复 N 文字), and the answers come back.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import col, select

from tests.dialog import Dialog
from tests.network_world import INSTRUMENTS, World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.crisis import raise_crisis
from xinqiao.services.relay import RELAY_FLOW
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    AuditEntry,
    ChannelIdentity,
    ConversationState,
    OutboxMessage,
    Person,
)
from xinqiao.storage.reports import Escalation, Report

NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)


async def _tiers(world: World, *who: str) -> list[str]:
    async with world.db.session() as s:
        people = [await s.get(Person, world.ids[w]) for w in who]
    return [p.tier for p in people if p is not None]


@pytest.mark.parametrize("observed", ["最近总说自己是累赘", "她…说活着没意思",
                                      "这几天一直在念叨不想活了"])
async def test_crisis_words_in_a_dorm_report_are_about_the_roommate_not_the_informant(
    db: Database, clock: FakeClock, settings: Settings, observed: str
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    answer = await chat.say(observed)
    assert "谢谢你告诉我" in answer and "很担心你" not in answer
    assert "可能相关的情况" in answer  # the report goes on
    async with db.session() as s:
        crisis = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).one()
        cases = (await s.exec(select(Case))).all()
        esc = (await s.exec(select(Escalation))).one()
    assert crisis.subject_person_id == world.ids["s1"]
    assert crisis.reporter_person_id == world.ids["i1"]
    assert [c.person_id for c in cases] == [world.ids["s1"]]
    assert esc.subject_person_id == world.ids["s1"]
    assert await _tiers(world, "s1", "i1") == ["crisis", "routine"]


async def test_the_informant_s_own_words_in_the_report_are_still_theirs(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    answer = await chat.say("其实我自己也不想活了")
    assert "很担心你" in answer
    async with db.session() as s:
        crisis = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).one()
    assert crisis.subject_person_id == world.ids["i1"]


async def test_the_college_lead_sees_the_item_but_not_words_the_form_kept_from_them(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    await chat.say("她昨晚说活着没意思，还把药都攒起来了")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    lead = await world.chat("l1").say(f"待办 {esc.id}")
    assert "室友小吴" in lead and "攒起来" not in lead and "辅导员和心理老师" in lead
    assert "《宿舍情况反映》中的文字" in lead  # where the words were written
    counsellor = await world.chat("l2").say(f"待办 {esc.id}")  # 心理辅导员: a 心理老师
    assert "攒起来" in counsellor
    centre = await world.chat("c1").say(f"待办 {esc.id}")
    assert "攒起来" in centre


async def test_own_crisis_words_pause_the_form_which_can_be_resumed_later(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    replies = await chat.send("我自己也想自杀")
    assert len(replies) == 1  # the caring reply alone: no form question after it
    text = replies[0].text
    assert "12356" in text and "已经帮你保存好了" in text
    assert "学习方面" not in text and "在校" not in text
    # The next message is not taken as a check-in answer.
    assert "学习方面" not in await chat.say("40")
    resumed = await chat.say("晴雨表")
    assert "继续上次" in resumed
    async with db.session() as s:
        crisis = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).one()
    assert crisis.subject_person_id == world.ids["k1"]


async def test_staff_write_back_to_an_unbound_writer_and_read_the_answer(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    stranger = Dialog(db, settings, clock, "o-stranger", channel="wechat",
                      network=world.network, instruments=INSTRUMENTS)
    assert "12356" in await stranger.say("今晚就想从楼上跳下去")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    staff = world.chat("c1")
    sent = await staff.say(f"回复 {esc.id} 你好，我是心理中心的孙老师。你现在在哪里？安全吗？")
    assert "已发给" in sent and "12356" not in sent  # staff words are not a disclosure
    async with db.session() as s:
        out = (await s.exec(select(OutboxMessage).where(
            OutboxMessage.address == "o-stranger"))).all()
        audit = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "escalation.relay"))).all()
    assert len(out) == 1 and "你现在在哪里" in out[0].payload["reply"]["text"]
    assert out[0].channel == "wechat" and out[0].priority == 0
    assert len(audit) == 1 and audit[0].actor_person_id == world.ids["c1"]
    assert "转给老师" in await stranger.say("我在宿舍楼顶")
    back = (await world.push_texts("c1"))[-1]
    assert f"D{esc.id} 来信人回复：我在宿舍楼顶" in back
    # Someone who is not on the item cannot use it to message the writer.
    refused = await world.chat("t2").say(f"回复 {esc.id} 你好")
    assert "没有找到" in refused


async def test_a_relay_is_refused_with_its_reason_when_the_writer_cannot_be_reached(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    # A crisis raised by a screening answer, not a chat message: no chat account to write to.
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
        assert student is not None
        screened = await raise_crisis(s, world.network, about=student, reporter=student,
                                      source="screening:phq9", detail={}, now=clock.now())
        await s.commit()
    staff = world.chat("c1")
    assert f"D{screened.id} 不是来自聊天的危机预警" in await staff.say(f"回复 {screened.id} 你好")
    stranger = Dialog(db, settings, clock, "o-stranger", channel="wechat",
                      network=world.network, instruments=INSTRUMENTS)
    await stranger.say("今晚就想从楼上跳下去")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation).where(Escalation.id != screened.id))).one()
    await staff.say(f"已处理 {esc.id} 已联系来信人，安全")
    closed = await staff.say(f"回复 {esc.id} 你还好吗")
    assert f"D{esc.id} 已经结案，如需联系请新开一条" in closed
    async with db.session() as s:
        out = (await s.exec(select(OutboxMessage).where(
            OutboxMessage.address == "o-stranger"))).all()
    assert out == []  # nothing went to the writer


async def test_the_relay_window_closes_after_a_day(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    stranger = Dialog(db, settings, clock, "o-stranger", channel="wechat",
                      network=world.network, instruments=INSTRUMENTS)
    await stranger.say("i want to kill myself")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    await world.chat("c1").say(f"回复 {esc.id} 你好，我是心理中心的老师")
    before = len(await world.push_texts("c1"))
    clock.advance(hours=25)
    answer = await stranger.say("你好")
    assert "转给老师" not in answer
    assert len(await world.push_texts("c1")) == before


async def test_a_relay_to_someone_half_way_through_a_form_keeps_the_form(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    informant = world.chat("i1")
    await informant.say("宿舍情况")
    await informant.say("室友小吴")
    await informant.say("他刚才说不想活了，现在把自己锁在厕所里")  # third party: the form goes on
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    await world.chat("c1").say(f"回复 {esc.id} 谢谢你，我马上过来，请先敲门陪着他")
    assert "转给老师" in await informant.say("好的，门还锁着")
    assert "门还锁着" in (await world.push_texts("c1"))[-1]
    assert "请选择你需要的服务" in await informant.say("菜单")
    assert "继续上次" in await informant.say("宿舍情况")


async def test_resolving_an_item_that_is_not_yours_is_refused_before_asking_for_a_note(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await world.chat("s1").say("不想活了")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    assert "没有找到" in await world.chat("t2").say(f"已处理 {esc.id}")


async def test_a_third_party_reply_with_nobody_named_leaves_the_door_open_to_the_writer(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # The subject logic can read a writer's own burden words as about others ("没有我他们…");
    # when nobody is identified the reply says so: if it is about you, tell me.
    world = await make_world(db, clock, settings, start=NIGHT)
    answer = await world.chat("s1").say("有个朋友昨晚说想从楼上跳下去")
    assert "谢谢你告诉我" in answer and "如果你说的其实是你自己" in answer
    named = await world.chat("k2").say("室友小吴刚才跟我说他不想活了")
    assert "谢谢你告诉我" in named and "如果你说的其实是你自己" not in named


async def test_a_relay_keeps_only_what_the_engine_would_keep_of_the_writer_s_flow(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    stranger = Dialog(db, settings, clock, "o-stranger", channel="wechat",
                      network=world.network, instruments=INSTRUMENTS)
    await stranger.say("今晚就想从楼上跳下去")
    assert "学号" in await stranger.say("绑定")  # half-way through binding: not resumable
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    await world.chat("c1").say(f"回复 {esc.id} 你好，我是心理中心的老师")
    async with db.session() as s:
        identity = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.address == "o-stranger"))).one()
        state = await s.get(ConversationState, identity.id)
    assert state is not None and state.flow == RELAY_FLOW
    assert state.suspended == {}  # leaving for the menu would not keep a binding either
    assert "转给老师" in await stranger.say("我在宿舍")


async def test_a_classmate_named_in_a_check_in_is_the_one_in_danger(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    reply = await chat.say("室友小吴这几天一直说活着没意思，还说安眠药已经攒够了")
    assert "听到你这么说，我很担心你" not in reply  # not the writer's own crisis
    async with db.session() as s:
        crisis = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).one()
    assert crisis.subject_person_id == world.ids["s1"]
