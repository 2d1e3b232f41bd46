"""`待办 N` shows what a responder needs; a second report about a student joins the open item."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Person
from xinqiao.storage.reports import Escalation

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


async def _phone(world: World, who: str, phone: str) -> None:
    async with world.db.session() as s:
        person = await s.get(Person, world.ids[who])
        assert person is not None
        person.phone = phone
        s.add(person)
        await s.commit()


async def _dorm_report(world: World, urgency: str) -> None:
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    await chat.say("这周几乎不出门，晚上一直哭")
    await chat.say("4")  # break-up
    assert "收到" in await chat.say(urgency)


async def _checkin_about_roommate(world: World) -> str:
    chat = world.chat("k1")
    await chat.say("晴雨表")
    await chat.say("有情况需要报告")
    await chat.say("44")
    for _ in range(5):
        await chat.say("跳过")
    await chat.say("室友小吴")
    await chat.say("3 4")  # grades dropped, break-up
    await chat.say("重点关注")
    return await chat.say("否")


async def _escalations(world: World) -> list[Escalation]:
    async with world.db.session() as s:
        return list((await s.exec(select(Escalation).order_by(col(Escalation.id)))).all())


async def test_item_view_names_the_student_source_reporter_and_deadline(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _phone(world, "s1", "13800001111")
    await _phone(world, "i1", "13900002222")
    await _dorm_report(world, "不急，近期关注即可")
    [esc] = await _escalations(world)
    advisor = world.chat("t1")
    view = await advisor.say(f"待办 {esc.id}")
    assert "涉及同学：室友小吴（软件2301，东1-101），电话 13800001111" in view
    assert "来源：宿舍情况反映 · 09-07 09:00" in view
    assert "反映人：信息员小周（软件2301，东1-101），电话 13900002222" in view
    assert "相关情况：失恋或感情受挫" in view
    assert "确认期限：09-08 09:00（尚无人确认）" in view
    clock.advance(minutes=20)
    assert "已确认" in await advisor.say(choice=f"ack:{esc.id}")  # the tap under the view
    view = await advisor.say(f"待办 {esc.id}")
    assert "已确认：辅导员王老师（09-07 09:20）" in view and "确认期限" not in view
    async with db.session() as s:
        reads = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "roster.read"))).all()
    # each look at the reporter's identity is audited, about the reporter
    assert {r.subject_person_id for r in reads} == {world.ids["i1"]} and len(reads) == 2


async def test_a_checkin_flag_shows_the_classmate_factors_and_suggested_tier(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 28, 10, 0, tzinfo=SHANGHAI))
    assert "已提交" in await _checkin_about_roommate(world)
    [esc] = await _escalations(world)
    view = await world.chat("t1").say(f"待办 {esc.id}")
    assert "涉及同学：室友小吴" in view
    assert "晴雨表关注同学：室友小吴" in view
    assert "相关情况：学业成绩明显下滑、失恋或感情受挫" in view
    assert "委员建议：重点关注" in view
    assert "反映人：委员小郑" in view and "来源：班级心理晴雨表 · 10-28 10:00" in view


async def test_a_second_report_joins_the_open_item_and_its_recipients_are_told(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _dorm_report(world, "不急，近期关注即可")
    clock.advance(hours=1)
    await _checkin_about_roommate(world)
    escs = await _escalations(world)
    assert len(escs) == 1 and escs[0].subject_person_id == world.ids["s1"]
    first = escs[0].id
    pushes = await world.push_texts("t1")
    assert len(pushes) == 2 and "又收到一份关于该生的反映" in pushes[1]
    assert f"D{first}" in pushes[1] and "晚上一直哭" not in pushes[1]
    view = await world.chat("t1").say(f"待办 {first}")
    assert "共 2 份反映" in view
    assert "来源：宿舍情况反映 · 09-07 09:00" in view
    assert "来源：班级心理晴雨表 · 09-07 10:00" in view and "委员建议：重点关注" in view


async def test_other_open_items_about_the_student_are_linked(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _dorm_report(world, "现在就需要处理")  # urgent: college and centre
    clock.advance(minutes=5)
    await world.chat("s1").say("我不想活了")  # a crisis about the same student: its own item
    dorm, crisis = await _escalations(world)
    staff = world.chat("c1")
    view = await staff.say(f"待办 {crisis.id}")
    assert "来源：危机预警（聊天消息） · 09-07 09:05" in view
    assert f"该生另有未结事项：D{dorm.id} 宿舍情况反映（回复“待办 D{dorm.id}”查看）" in view
    assert f"查看 D{dorm.id}" in view
    back = await staff.say(f"查看 #{dorm.id}")
    assert f"D{dorm.id} 宿舍情况反映" in back and f"D{crisis.id} 危机预警" in back
