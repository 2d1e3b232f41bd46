"""Reports climbing the chain with a fake clock: deadlines, working hours, holidays, ack."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlmodel import col, select

from tests.factories import add_person
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, OutboxMessage
from xinqiao.storage.reports import Escalation, EscalationStep, Report, Timer

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


async def _dorm_report(world: World, urgency: str, factors: str = "7") -> int:
    return (await _dorm_report_reply(world, urgency, factors))[0]


async def _dorm_report_reply(world: World, urgency: str, factors: str = "7") -> tuple[int, str]:
    chat = world.chat("i1")
    first = await chat.say("宿舍情况")
    assert "是哪位室友" in first and "室友小吴" in first
    assert "观察到了什么" in await chat.say("室友小吴")
    await chat.say("这周几乎不出门，晚上一直哭")
    await chat.say(factors)
    done = await chat.say(urgency)
    assert "收到" in done
    async with world.db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    assert esc.id is not None
    return esc.id, done


async def _steps(world: World) -> list[tuple[str, int]]:
    async with world.db.session() as s:
        rows = await s.exec(select(EscalationStep).order_by(col(EscalationStep.id)))
        return [(r.action, r.level) for r in rows]


async def test_unacknowledged_dorm_report_climbs_in_working_hours(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc_id = await _dorm_report(world, "不急，近期关注即可")
    advisor = await world.push_texts("t1")
    assert len(advisor) == 1 and f"D{esc_id} 宿舍情况反映" in advisor[0]
    assert "晚上一直哭" not in advisor[0]  # alerts never carry the report's free text
    assert await world.push_texts("l1") == []
    # the committee sees that a report was filed, not what or about whom
    assert await world.push_texts("k1") == [
        "本班有一条新的宿舍情况反映已转给辅导员跟进（内容仅辅导员和心理老师可见）。"]
    # 8 working hours from Mon 09:00 (08–12, 14–18) end Tue 09:00, not Mon 17:00
    clock.set(datetime(2026, 9, 8, 8, 59, tzinfo=SHANGHAI))
    assert await world.sweep() == 0
    clock.set(datetime(2026, 9, 8, 9, 0, tzinfo=SHANGHAI))
    assert await world.sweep() == 1
    assert len(await world.push_texts("l1")) == 1 and len(await world.push_texts("l2")) == 1
    assert "已升级至学院" in (await world.push_texts("t1"))[-1]
    assert await world.push_texts("c1") == []
    # the college acknowledges: the climb stops (until its 72 working hours to resolve run out)
    assert "已确认" in await world.chat("l1").say(f"收到 {esc_id}")
    clock.set(datetime(2026, 9, 16, 9, 0, tzinfo=SHANGHAI))
    await world.sweep()
    assert await world.push_texts("c1") == []
    assert await _steps(world) == [("opened", 0), ("notified", 0), ("notified", 1), ("acked", 1)]
    # the advisor and the other college member hear that it is taken care of
    assert "已由 学院李书记 确认" in (await world.push_texts("t1"))[-1]


async def test_public_holiday_does_not_count_as_working_time(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # Wed 30 Sep 16:00: 2 h that day, 1–7 Oct is National Day, so 6 more h on Thu 8 Oct
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 9, 30, 16, 0, tzinfo=SHANGHAI))
    await _dorm_report(world, "不急，近期关注即可")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    assert esc.due_at == datetime(2026, 10, 8, 16, 0, tzinfo=SHANGHAI)
    clock.set(datetime(2026, 10, 5, 12, 0, tzinfo=SHANGHAI))
    assert await world.sweep() == 0 and await world.push_texts("l1") == []
    clock.set(datetime(2026, 10, 8, 16, 0, tzinfo=SHANGHAI))
    assert await world.sweep() == 1 and len(await world.push_texts("l1")) == 1
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    # and the college's 8 working hours run Thu 16–18 and Fri 08–12, 14–16
    assert esc.due_at == datetime(2026, 10, 9, 16, 0, tzinfo=SHANGHAI)


async def test_soon_counts_clock_minutes_around_the_clock(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 9, 12, 22, 30, tzinfo=SHANGHAI))  # Saturday
    await _dorm_report(world, "尽快，今天之内")
    clock.advance(minutes=60)
    assert await world.sweep() == 1
    assert len(await world.push_texts("l1")) == 1


async def test_crisis_goes_to_college_and_centre_at_once(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    _, done = await _dorm_report_reply(world, "不急，近期关注即可", factors="10")  # self-harm
    assert "110" in done and "12356" in done  # the informant gets the crisis lines too
    for who in ("t1", "l1", "l2", "c1", "c2"):  # the advisor too, but never alone
        pushes = await world.pushes(who)
        assert len(pushes) == 1 and pushes[0].kind == "crisis" and pushes[0].priority == 0
    clock.advance(minutes=10)
    assert await world.sweep() == 1
    assert len(await world.push_texts("d1")) == 1  # centre lead after ten minutes
    async with db.session() as s:
        report = (await s.exec(select(Report))).one()
    assert report.severity == "crisis" and report.factors == ["self_harm"]


async def test_last_level_is_reminded_then_flagged(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _dorm_report(world, "现在就需要处理")  # urgent: college+centre 15 min, lead 15 min
    clock.advance(minutes=15)
    await world.sweep()
    for _ in range(3):  # repeat_last = 3
        clock.advance(minutes=15)
        assert await world.sweep() == 1
    clock.advance(minutes=15)
    assert await world.sweep() == 1
    # the chain is exhausted: the centre lead and the centre staff (no rota: all) get it once
    assert len(await world.push_texts("d1")) == 5
    for who in ("c1", "c2"):
        assert "【心桥·无人确认】" in (await world.push_texts(who))[-1]
    steps = [a for a, _ in await _steps(world)]
    assert steps.count("reminded") == 3 and steps[-1] == "exhausted"


async def test_a_restart_mid_climb_neither_loses_nor_repeats(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _dorm_report(world, "尽快，今天之内")
    clock.advance(minutes=61)
    # a new process: fresh policy, network and sweeper objects on the same database
    restarted = Network(load_policy())
    assert await world.sweep(network=restarted) == 1
    assert await world.sweep(network=restarted) == 0  # the same deadline never fires twice
    assert await world.sweep() == 0
    assert len(await world.push_texts("l1")) == 1
    async with db.session() as s:
        fired = (await s.exec(select(Timer).where(col(Timer.fired_at).is_not(None)))).all()
    assert len(fired) == 1


async def test_two_sweepers_fire_each_deadline_once(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    # Six roommates: reports about one student would join a single item instead.
    names = ["室友甲", "室友乙", "室友丙", "室友丁", "室友戊", "室友己"]
    for n, name in enumerate(names):
        await add_person(db, world.campus, f"r{n}", name, now=clock.now())
    chats = [world.chat("i1") for _ in range(1)]
    for n in range(6):  # six reports from the informant
        chat = chats[0]
        await chat.say("宿舍情况")
        await chat.say(names[n])
        await chat.say(f"情况 {n}")
        await chat.say("7")
        await chat.say("尽快，今天之内")
    clock.advance(minutes=61)
    other = Database(db_url)  # the second process has its own connection pool
    try:
        results = await asyncio.gather(world.sweep(), world.sweep(db=other))
    finally:
        await other.dispose()
    assert sum(results) == 6
    async with db.session() as s:
        notified = (await s.exec(select(EscalationStep).where(
            EscalationStep.action == "notified", EscalationStep.level == 1))).all()
    assert len(notified) == 6
    assert len(await world.push_texts("l1")) == 6


async def test_only_recipients_may_acknowledge_and_refusals_are_audited(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc_id = await _dorm_report(world, "不急，近期关注即可")
    assert "没有找到你可以处理的" in await world.chat("t2").say(f"收到 {esc_id}")
    assert "没有找到你可以处理的" in await world.chat("c1").say(f"收到 {esc_id}")
    assert "已确认" in await world.chat("t1").say(f"收到 {esc_id}")
    async with db.session() as s:
        audits = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "escalation.ack").order_by(col(AuditEntry.id)))).all()
    assert [a.allowed for a in audits] == [False, False, True]
    assert audits[0].subject_person_id == world.ids["s1"]
    # an informant's own report is not theirs to close
    assert "没有找到你可以处理的" in await world.chat("i1").say(f"已处理 {esc_id} 好了")


async def test_queue_shows_details_and_resolves_with_a_note(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc_id = await _dorm_report(world, "不急，近期关注即可")
    chat = world.chat("t1")
    queue = await chat.say("待办")
    assert f"D{esc_id} 宿舍情况反映" in queue and "待确认" in queue
    detail = await chat.say(f"查看 #{esc_id}")
    assert "室友小吴" in detail and "晚上一直哭" in detail
    assert "请用一句话" in await chat.say("已处理，结案")
    assert "已结案" in await chat.say("已约谈，情绪平稳，下周再看")
    async with db.session() as s:
        esc = await s.get(Escalation, esc_id)
        reads = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "report.read"))).all()
    assert esc is not None and esc.status == "resolved"
    assert esc.resolution == "已约谈，情绪平稳，下周再看"
    assert len(reads) == 1 and reads[0].subject_person_id == world.ids["s1"]
    assert "目前没有待处理" in await chat.say("待办")
    async with db.session() as s:
        alerts = (await s.exec(select(OutboxMessage))).all()
    assert all("晚上一直哭" not in str(a.payload) for a in alerts)


async def test_crisis_words_in_a_staff_note_describe_the_student_not_the_writer(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc_id = await _dorm_report(world, "不急，近期关注即可")
    advisor = world.chat("t1")
    done = await advisor.say(f"已处理 {esc_id} 他说过不想活了，已陪同去心理中心并通知家长")
    assert "已结案" in done and "12356" not in done
    async with db.session() as s:
        crises = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).all()
        esc = await s.get(Escalation, esc_id)
    assert crises == [] and esc is not None and esc.status == "resolved"
    # The same words from a student (here the informant, who is a student) are a disclosure.
    assert "12356" in await world.chat("i1").say("已处理 1 我也不想活了")
    async with db.session() as s:
        crises = (await s.exec(select(Report).where(col(Report.kind) == "crisis"))).all()
    assert len(crises) == 1 and crises[0].reporter_person_id == world.ids["i1"]
