"""Nothing about a student with an open item goes nowhere; 待办 shows every item, urgent first."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.escalation.engine import Subject
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage
from xinqiao.storage.reports import Escalation, EscalationReport, Report, Severity

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


async def _escalations(world: World) -> list[Escalation]:
    async with world.db.session() as s:
        return list((await s.exec(select(Escalation).order_by(col(Escalation.id)))).all())


async def _unlinked_reports(world: World, person_id: int) -> list[Report]:
    """Reports about the student that neither opened nor joined any item."""
    async with world.db.session() as s:
        reports = (await s.exec(select(Report).where(
            Report.subject_person_id == person_id))).all()
        opened = set((await s.exec(select(Escalation.report_id))).all())
        joined = set((await s.exec(select(EscalationReport.report_id))).all())
    return [r for r in reports if r.id not in opened | joined]


async def _crisis_item(world: World) -> Escalation:
    await world.chat("s1").say("我不想活了")
    [item] = await _escalations(world)
    return item


async def test_a_real_crisis_report_about_a_student_with_an_open_crisis_item_joins_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    item = await _crisis_item(world)
    await world.chat("t1").say(f"收到 D{item.id}")  # the advisor now holds it
    clock.advance(hours=1)
    informant = world.chat("i1")
    await informant.say("宿舍情况")
    await informant.say("室友小吴")
    said = await informant.say("她昨晚说不想活了，把药都攒起来了")
    assert "通知" in said  # the third-party crisis reply
    [only] = await _escalations(world)  # no second item: the report joined D1
    assert only.id == item.id
    assert await _unlinked_reports(world, world.ids["s1"]) == []
    pushes = await world.push_texts("t1")
    assert any(f"D{item.id} 有新的情况" in p and "宿舍情况反映" in p for p in pushes)
    assert not any("攒起来" in p for p in pushes)  # never the words themselves
    await informant.say("10")  # self-harm ticked
    assert "收到" in await informant.say("现在就需要处理")  # the report itself is filed
    assert [e.id for e in await _escalations(world)] == [item.id]
    assert await _unlinked_reports(world, world.ids["s1"]) == []
    view = await world.chat("t1").say(f"待办 D{item.id}")
    assert "共 3 份反映" in view
    assert "来源：危机预警（《宿舍情况反映》中的文字） · 09-07 10:00" in view
    assert "来源：宿舍情况反映 · 09-07 10:00" in view


async def test_the_students_own_second_crisis_message_joins_her_open_item(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    item = await _crisis_item(world)
    before = len(await world.push_texts("c1"))
    clock.advance(hours=2)
    await world.chat("s1").say("我真的好累，不想活了")
    assert [e.id for e in await _escalations(world)] == [item.id]
    assert await _unlinked_reports(world, world.ids["s1"]) == []
    news = (await world.push_texts("c1"))[before:]
    assert any(f"D{item.id} 有新的情况" in p and "聊天消息" in p for p in news)
    view = await world.chat("c1").say(f"待办 D{item.id}")
    assert "来源：危机预警（聊天消息） · 09-07 09:00" in view
    assert "来源：危机预警（聊天消息） · 09-07 11:00" in view


async def _dorm_report(world: World, factor: str) -> Escalation:
    informant = world.chat("i1")
    await informant.say("宿舍情况")
    await informant.say("室友小吴")
    await informant.say("这周几乎不出门")
    await informant.say(factor)
    assert "收到" in await informant.say("不急，近期关注即可")
    [item] = await _escalations(world)
    return item


async def test_concern_words_with_a_crisis_grade_report_item_open_are_a_crisis_joining_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    item = await _dorm_report(world, "10")  # self-harm ticked: a crisis-grade item
    assert item.severity == "crisis"
    clock.advance(hours=25)  # past the 24-hour memory of reports
    assert "很担心你" in await world.chat("s1").say("活着好累")  # no ASQ first: crisis at once
    assert [e.id for e in await _escalations(world)] == [item.id]
    assert await _unlinked_reports(world, world.ids["s1"]) == []


async def test_a_concern_answered_no_joins_the_students_open_item(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    item = await _dorm_report(world, "4")  # break-up: a routine item
    clock.advance(hours=25)
    chat = world.chat("s1")
    assert "有没有想过" in await chat.say("活着好累")
    await chat.say("没有")
    assert [e.id for e in await _escalations(world)] == [item.id]  # no separate 关切跟进
    assert await _unlinked_reports(world, world.ids["s1"]) == []
    async with db.session() as s:
        news = [m for m in (await s.exec(select(OutboxMessage))).all()
                if f"D{item.id} 有新的情况" in m.payload["reply"]["text"]]
    assert news and all("活着好累" not in str(m.payload) for m in news)


async def _routine(world: World, n: int) -> None:
    async with world.db.session() as s:
        await world.network.escalations.open(s, Subject(
            f"test:routine:{n}", "dorm", "宿舍情况反映", world.campus.college_id,
            world.campus.klass_id), Severity.routine, world.clock.now())
        await s.commit()


async def test_the_queue_puts_crisis_first_and_pages_through_every_item(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    for n in range(10):
        await _routine(world, n)
        clock.advance(minutes=1)
    crisis = await _crisis_item_after(world)
    advisor = world.chat("t1")
    first = await advisor.say("待办")
    assert "你有 11 项待处理" in first
    lines = [ln for ln in first.splitlines() if ln.lstrip("⚠").startswith("D")]
    assert lines[0].lstrip("⚠").startswith(f"D{crisis.id} ")  # the newest crisis on top
    assert "更多" in first
    second = await advisor.say("更多")  # typed: pages, never a disclosure
    more = [ln for ln in second.splitlines() if ln.lstrip("⚠").startswith("D")]
    shown = {ln.lstrip("⚠").split()[0] for ln in lines + more}
    assert shown == {f"D{e.id}" for e in await _escalations(world)}
    assert "听到你这么说" not in second and len(await world.push_texts("d1")) == 0
    third = await advisor.say(choice="queue_page:0")  # the tap back to the first page
    assert f"D{crisis.id} " in third


async def _crisis_item_after(world: World) -> Escalation:
    await world.chat("s1").say("我不想活了")
    return (await _escalations(world))[-1]
