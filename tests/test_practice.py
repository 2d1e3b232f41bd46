"""练习: practice reports reach only the practiser, never staff or figures; a real one is kept."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.factories import add_person
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.access import REFUSAL
from xinqiao.settings import Settings
from xinqiao.storage.care import PracticeRun, PracticeSession
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, OutboxMessage, Person, Role, Tier
from xinqiao.storage.reports import CheckIn, Escalation, Report, Timer

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
STAFF = ("t1", "t2", "k1", "l1", "l2", "c1", "c2", "d1")


async def _real_rows(world: World) -> list[object]:
    """Everything a real report or check-in would have written."""
    async with world.db.session() as s:
        found: list[object] = []
        for table in (Report, Escalation, Timer, CheckIn):
            found += list(await s.exec(select(table)))
        return found


async def _pushes(world: World) -> list[OutboxMessage]:
    async with world.db.session() as s:
        return list(await s.exec(select(OutboxMessage)))


async def _dorm_report(world: World, seen: str = "这周几乎不出门，晚上一直哭") -> str:
    chat = world.chat("i1")
    assert "是哪位室友" in await chat.say("宿舍情况")
    assert "观察到了什么" in await chat.say("室友小吴")
    await chat.say(seen)
    await chat.say("7")
    return await chat.say("不急，近期关注即可")


async def test_a_practice_report_reaches_only_the_practiser(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    started = await world.chat("i1").say("练习")
    assert "【练习模式】已开始" in started and "宿舍情况反映" in started and "退出练习" in started
    done = await _dorm_report(world)
    # what the advisor would have been pushed, labelled as practice, with a sample number
    assert done.startswith("【练习】这次没有发给任何老师")
    assert "班级辅导员会马上收到这样的提醒" in done
    assert "【心桥】D练习 宿舍情况反映（软件2301）\n" in done  # named as the real alert
    assert "请在 09-08 09:00 前确认，否则将升级至学院。" in done
    assert "晚上一直哭" not in done.split("你会收到")[0]  # alerts never carry the free text
    assert "你会收到：收到，谢谢你的细心。编号 D练习" in done and "这是真实情况，正式上报" in done
    # nothing real: no report, item, timer or check-in, no push to anyone, no tier
    assert await _real_rows(world) == [] and await _pushes(world) == []
    assert "没有" in await world.chat("t1").say("待办")
    async with db.session() as s:
        s1 = await s.get(Person, world.ids["s1"])
        runs = list(await s.exec(select(PracticeRun)))
    assert s1 is not None and s1.tier == Tier.routine
    assert [(r.person_id, r.kind, r.crisis_word) for r in runs] == [(world.ids["i1"], "dorm",
                                                                     False)]
    # the sweeper and the day's jobs find nothing to do either
    clock.set(datetime(2026, 9, 9, 9, 0, tzinfo=SHANGHAI))
    assert await world.sweep() == 0 and await _real_rows(world) == []


async def test_a_practice_check_in_counts_for_nothing(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    k1 = world.chat("k1")
    await k1.say("练习")
    done = await k1.say(choice="flow:checkin_none")  # the one-tap 本周无异常
    assert "【练习】" in done and "不会提醒任何老师，本周记为按时提交" in done
    assert await _real_rows(world) == []
    completion = await world.chat("l1").say("周报完成情况")
    assert "软件2301" in completion and "1/" not in completion.split("软件2301")[0]
    # out of practice, the same tap submits the week for real
    assert "已退出练习" in await k1.say("退出练习")
    assert "本周晴雨表已提交" in await k1.say(choice="flow:checkin_none")
    async with db.session() as s:
        assert len(list(await s.exec(select(CheckIn)))) == 1


async def test_crisis_words_in_practice_are_shown_and_one_word_makes_them_real(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("练习")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    said = await chat.say("她最近总说自己是累赘，不想活了")
    assert "【练习】你写到了可能危及生命的情况" in said and "12356" in said
    assert "回复“真实情况”" in said
    assert "3. 可能相关的情况" in said  # the report goes on
    assert await _real_rows(world) == [] and await _pushes(world) == []
    # it was real after all: one word files it as a crisis about her, and practice ends
    real = await chat.say("真实情况")
    assert "已按正式上报发出，练习已结束" in real and "已经通知心理中心" in real
    async with db.session() as s:
        [esc] = list(await s.exec(select(Escalation)))
        session = (await s.exec(select(PracticeSession))).one()
        crisis_run = (await s.exec(select(PracticeRun))).one()
    assert esc.kind == "crisis" and esc.subject_person_id == world.ids["s1"]
    assert session.end_reason == "real" and crisis_run.crisis_word
    for who in ("t1", "l1", "c1"):
        assert await world.push_texts(who), who
    # and the report she was writing is now a real one to finish
    assert "继续上次" in await chat.say("宿舍情况")


async def test_a_finished_practice_report_switches_to_real_in_one_tap(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await world.chat("i1").say("练习")
    await _dorm_report(world)
    real = await world.chat("i1").say(choice="flow:practice_real")
    assert "已按正式上报发出" in real and "编号 D1，老师会尽快跟进" in real
    [alert] = await world.push_texts("t1")
    assert "D1 宿舍情况反映" in alert
    # the next report is real without asking
    assert "【练习】" not in await _dorm_report(world, "又一次")


async def test_own_crisis_words_in_practice_take_the_real_path(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("练习")
    reply = await chat.say("其实我自己也不想活了")
    assert "【练习】" not in reply and "12356" in reply
    async with db.session() as s:
        [esc] = list(await s.exec(select(Escalation)))
    assert esc.kind == "crisis" and esc.subject_person_id == world.ids["i1"]


async def test_practice_ends_on_its_own_and_the_centre_sees_who_practised(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await world.chat("i1").say("练习")
    await _dorm_report(world)
    await world.chat("k1").say("练习")
    await world.chat("k1").say(choice="flow:checkin_none")
    clock.advance(minutes=61)  # an hour without practice: over
    assert "编号 D1" in await _dorm_report(world, "这次是真的")
    log = await world.chat("c1").say("练习记录")
    assert "信息工程学院：2 人练习过（共 3 名心理委员和信息员），共 2 次" in log
    assert "信息员小周（i1）1 次" in log and "委员小郑（k1）1 次" in log
    async with db.session() as s:
        audits = list(await s.exec(select(AuditEntry).where(
            AuditEntry.action == "practice_log.read").order_by(col(AuditEntry.id))))
    assert [(a.actor_person_id, a.allowed) for a in audits] == [(world.ids["c1"], True)]
    # a trainee sees only their own; an advisor is refused (and that is audited)
    own = await world.chat("k1").say("练习记录")
    assert "你的练习记录（近 180 天）：共练习 1 次，最近一次 09-07" in own
    assert "信息员小周" not in own and "人练习过" not in own
    assert await world.chat("t1").say("练习记录") == REFUSAL + "\n1. 主菜单"
    # a student who is no trainee is told what practice is for
    assert "给班级心理委员和宿舍信息员培训用" in await world.chat("s1").say("练习")


async def test_a_practice_form_that_outlives_its_session_is_still_not_filed(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    """The session runs out while a practice report is half filled: the trainee still thinks
    it is practice, so it must not reach staff behind their back — and one tap still makes it
    real."""
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("练习")
    clock.advance(minutes=58)
    assert "是哪位室友" in await chat.say("宿舍情况")
    assert "观察到了什么" in await chat.say("室友小吴")
    clock.advance(minutes=5)  # the hour runs out while the report is half written
    await chat.say("这周几乎不出门，晚上一直哭")
    await chat.say("7")
    done = await chat.say("不急，近期关注即可")
    assert "练习已经超时结束" in done and "【练习】这次没有发给任何老师" in done
    assert await _real_rows(world) == [] and await _pushes(world) == []
    # the next report, begun with no session running, is real and reaches the advisor
    assert "编号 D1" in await _dorm_report(world, "这次是真的")
    assert "D1" in await world.chat("t1").say("待办")


async def test_real_after_a_second_run_files_only_that_run(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    """练习 → a practice report → 再练一次 → a new report with a crisis sentence → 真实情况:
    only the crisis is real; the invented report of the first run never reaches an advisor."""
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("练习")
    await _dorm_report(world, "练习编的：室友天天打游戏到凌晨")
    assert "【练习模式】" in await chat.say(choice="flow:practice")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    assert "【练习】你写到了" in await chat.say("她说不想活了，已经写好遗书")
    real = await chat.say("真实情况")
    assert "已按正式上报发出" in real and "已经通知心理中心" in real
    async with db.session() as s:
        reports = list(await s.exec(select(Report)))
        [esc] = list(await s.exec(select(Escalation)))
    assert [r.kind for r in reports] == ["crisis"]
    assert f"编号 D{esc.id}" in real and real.count("编号") == 1
    pushed = "\n".join(await world.push_texts("t1"))
    assert "宿舍情况反映" not in pushed and "打游戏" not in pushed


async def test_the_practice_log_lists_colleges_where_nobody_practised(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await add_person(db, world.campus, "y1", "外院信息员", Role.student, Role.informant,
                     now=clock.now(), college_id=world.campus.other_college_id, klass_id=None,
                     dorm_id=None)
    k1 = world.chat("k1")
    await k1.say("练习")
    await k1.say(choice="flow:checkin_none")
    await k1.say(choice="flow:practice")
    await k1.say(choice="flow:checkin_none")
    log = await world.chat("c1").say("练习记录")
    assert "经济管理学院：0 人练习过（共 1 名心理委员和信息员），共 0 次" in log
    assert "信息工程学院：1 人练习过（共 3 名心理委员和信息员），共 2 次" in log
    assert "委员小郑（k1）2 次" in log
    own = await k1.say("练习记录")
    assert "共练习 2 次" in own and "共 3 名" not in own
    assert "还没有练习过" in await world.chat("i1").say("练习记录")
