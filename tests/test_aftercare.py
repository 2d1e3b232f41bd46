"""关怀回访 after an incident: a case records an attempt, the centre starts a round for the dorm
and class, invitations name nobody, answers raise concern items, reminders and close on time."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, select

from tests.factories import add_person, bind
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.retention import RetentionPolicy
from xinqiao.services import retention
from xinqiao.settings import Settings
from xinqiao.storage.aftercare import AftercareInvitation, AftercareRound, CaseIncident
from xinqiao.storage.care import PracticeRun
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Role
from xinqiao.storage.reports import Escalation, EscalationRecipient, Report

WEDNESDAY = datetime(2026, 10, 14, 10, 0, tzinfo=SHANGHAI)
INVITED = ("i1", "k1", "r1", "m1")  # bound: two roommates in class, one from another class, m1


async def _school(db: Database, clock: FakeClock, settings: Settings) -> World:
    """The network world plus a roommate from another class (r1), a classmate in another dorm
    (m1) and a classmate who never bound a chat account (m2)."""
    world = await make_world(db, clock, settings, start=WEDNESDAY)
    now, campus = clock.now(), world.campus
    extra = [("r1", "隔壁班小林", {"klass_id": campus.other_klass_id}),
             ("m1", "同班小何", {"dorm_id": None}), ("m2", "同班小谢", {"dorm_id": None})]
    for ext, name, units in extra:
        pid = await add_person(db, campus, ext, name, Role.student, now=now,
                               **units)  # type: ignore[arg-type]
        if ext != "m2":
            await bind(db, pid, "console", f"a-{ext}", now)
        world.ids[ext] = pid
    return world


async def _attempt_recorded(world: World) -> int:
    """室友小吴 (s1) in crisis; 中心孙老师 leads the case and records an attempt."""
    await world.chat("s1").say("我不想活了")
    async with world.db.session() as s:
        case = (await s.exec(select(Case))).one()
    assert case.id is not None
    staff = world.chat("c1")
    await staff.say(f"个案 G{case.id}")
    await staff.say("我来负责")
    assert "记录哪一种事件结局" in await staff.say("事件结局")
    assert "发生日期" in await staff.say("自杀未遂")
    assert "补充说明" in await staff.say("昨天")
    done = await staff.say("已送医，生命体征平稳")
    assert "已记录事件结局：自杀未遂" in done and "事件结局：自杀未遂（10-13）" in done
    return case.id


async def _texts(world: World, who: str, words: str) -> list[str]:
    return [t for t in await world.push_texts(who) if words in t]


async def _items(world: World, kind: str) -> list[Escalation]:
    async with world.db.session() as s:
        return list(await s.exec(select(Escalation).where(Escalation.kind == kind)
                                 .order_by(col(Escalation.id))))


async def test_an_attempt_leads_to_a_round_that_names_nobody_and_is_followed_to_its_close(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await _school(db, clock, settings)
    number = await _attempt_recorded(world)
    async with db.session() as s:
        incident = (await s.exec(select(CaseIncident))).one()
    assert (incident.case_id, incident.kind) == (number, "attempt")
    assert incident.note == "已送医，生命体征平稳"
    async with db.engine.connect() as conn:
        raw = str((await conn.execute(text("SELECT note FROM case_incident"))).scalar_one())
    assert raw.startswith("f1:") and "送医" not in raw

    # the centre is offered a round, by case number only
    [offer] = await _texts(world, "c2", "关怀回访")
    assert f"个案 G{number} 记录了事件结局：自杀未遂" in offer and "室友小吴" not in offer
    assert await _texts(world, "d1", "关怀回访")  # the centre lead too
    assert not await _texts(world, "t1", "关怀回访")  # not the advisor

    # the confirmation counts, never names
    centre = world.chat("c2")
    asked = await centre.say("发起关怀回访")  # the offer's tap: the list of such cases
    assert f"个案 G{number}：未发起回访" in asked
    confirm = await centre.say(f"关怀回访 G{number}")
    assert "同宿舍 3 人、同班 2 人，共 5 人（其中 1 人尚未绑定，暂时联系不上）" in confirm
    assert not [n for n in ("信息员小周", "委员小郑", "隔壁班小林", "同班小何", "同班小谢")
                if n in confirm]
    started = await centre.say("确认发起")
    assert "已发起关怀回访，邀请 5 人" in started
    assert "同班：邀请 2 人，暂时联系不上 1 人，已回答 0 人" in started

    # roommates and classmates are invited; not the student, not staff; nothing names her
    for who in INVITED:
        [invite] = await _texts(world, who, "关怀问候")
        assert "室友小吴" not in invite and "s1" not in invite and "自杀" not in invite
        assert "12356" in invite
    for who in ("s1", "t1", "l2", "c1", "k2"):
        assert not await _texts(world, who, "关怀问候"), who

    # m1 is fine: nothing raised
    m1 = world.chat("m1")
    assert "1. 这几天你整体感觉怎么样" in await m1.say("关怀问候")
    await m1.say("挺好的")
    await m1.say("没有特别的变化")
    fine = await m1.say("暂时不用")
    assert "知道你还好我们就放心了" in fine and "12356" in fine
    assert await _items(world, "aftercare") == []

    # r1 wants to talk: an item for the college counsellor and the centre, booking offered
    r1 = world.chat("r1")
    assert "整体感觉怎么样" in await r1.say("好的，聊几句")  # the invitation's own tap
    await r1.say("有点难受")
    await r1.say("睡不好")
    talk = await r1.say("是，想聊聊")
    assert "老师会在工作时间联系你" in talk and "预约心理咨询" in talk and "12356" in talk
    [item] = await _items(world, "aftercare")
    assert item.subject_person_id == world.ids["r1"]
    async with db.session() as s:
        told = set((await s.exec(select(EscalationRecipient.person_id).where(
            EscalationRecipient.escalation_id == item.id))).all())
        report = await s.get(Report, item.report_id)
    assert {world.ids["l2"], world.ids["c1"], world.ids["c2"]} <= told
    assert world.ids["t1"] not in told and world.ids["s1"] not in told
    assert report is not None and report.answers["talk"] == "是，想聊聊"
    view = await world.chat("l2").say(f"待办 D{item.id}")
    assert "关怀回访" in view and "有点难受" in view and "室友小吴" not in view

    # k1's own words are crisis words: the crisis path, as anywhere
    k1 = world.chat("k1")
    await k1.say("关怀问候")
    await k1.say("很难受")
    crisis = await k1.say("我也不想活了")
    assert "12356" in crisis
    async with db.session() as s:
        about_k1 = (await s.exec(select(Report).where(
            Report.kind == "crisis", Report.subject_person_id == world.ids["k1"]))).all()
    assert about_k1

    # three days on, the silent are reminded once; those who answered are not
    clock.set(WEDNESDAY + timedelta(days=3, minutes=1))
    await world.sweep()
    assert len(await _texts(world, "i1", "还想听听你最近怎么样")) == 1
    assert len(await _texts(world, "k1", "还想听听你最近怎么样")) == 1
    for who in ("m1", "r1"):
        assert not await _texts(world, who, "还想听听你最近怎么样"), who

    status = await centre.say("回访情况")
    assert f"个案 G{number}：回访进行中" in status
    status = await centre.say(f"关怀回访 G{number}")
    for line in ("同宿舍：邀请 3 人，暂时联系不上 0 人，已回答 1 人，想聊聊 1 人，提出关切 1 项",
                 "同班：邀请 2 人，暂时联系不上 1 人，已回答 1 人，想聊聊 0 人，提出关切 0 项",
                 "合计：邀请 5 人，暂时联系不上 1 人，已回答 2 人，想聊聊 1 人，提出关切 1 项"):
        assert line in status
    assert not [n for n in ("信息员小周", "隔壁班小林", "同班小何", "睡不好") if n in status]

    # a week on, the round closes; the starter hears the counts; late answers are not taken
    clock.set(WEDNESDAY + timedelta(days=7, minutes=1))
    await world.sweep()
    [closed] = await _texts(world, "c2", "关怀回访已结束")
    assert "邀请 5 人，回答 2 人，提出关切 1 项" in closed
    assert "目前没有需要回答的关怀问候" in await world.chat("i1").say("关怀问候")
    async with db.session() as s:
        row = (await s.exec(select(AftercareRound))).one()
    assert row.status == "closed"
    async with db.engine.connect() as conn:
        stored = (await conn.execute(text(
            "SELECT answers FROM aftercare_invitation WHERE answers IS NOT NULL"))).scalars()
        raws = [str(r) for r in stored]
    assert len(raws) == 2 and all(r.startswith("f1:") and "low" not in r for r in raws)
    async with db.session() as s:
        audits = [(a.action, a.allowed) for a in (await s.exec(select(AuditEntry).where(
            col(AuditEntry.action).startswith("aftercare.")))).all()]
    assert ("aftercare.start", True) in audits and ("aftercare.read", True) in audits


async def test_only_the_centre_starts_a_round_and_only_after_an_attempt_or_a_death(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await _school(db, clock, settings)
    await world.chat("s1").say("我不想活了")
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
    centre = world.chat("c1")
    no_incident = await centre.say(f"关怀回访 G{case.id}")
    assert "还没有记录自杀未遂或死亡的事件结局" in no_incident
    assert "确认发起" not in no_incident
    await centre.say(f"个案 G{case.id}")
    await centre.say("事件结局")
    await centre.say("死亡")
    await centre.say("今天")
    await centre.say("不填写")
    for who in ("t1", "l1", "l2"):  # the college (advisor, lead, counsellor) is refused
        reply = await world.chat(who).say(f"关怀回访 G{case.id}")
        assert "不在你的权限范围内" in reply and "同宿舍" not in reply
    async with db.session() as s:
        refused = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "flow.refused", col(AuditEntry.allowed).is_(False)))).all()
        rounds = (await s.exec(select(AftercareRound))).all()
    assert {a.actor_person_id for a in refused if a.detail.get("kind") == "aftercare"} == \
        {world.ids["t1"], world.ids["l1"], world.ids["l2"]}
    assert rounds == []
    # a forged 确认发起 tap by a student goes nowhere either
    assert "同宿舍" not in await world.chat("i1").say(choice=f"go:{case.id}")
    async with db.session() as s:
        assert (await s.exec(select(AftercareRound))).all() == []


async def test_retention_removes_answers_after_the_report_text_period(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await _school(db, clock, settings)
    number = await _attempt_recorded(world)
    centre = world.chat("c1")
    await centre.say(f"关怀回访 G{number}")
    await centre.say("确认发起")
    m1 = world.chat("m1")
    for answer in ("关怀问候", "还可以", "跳过", "暂时不用"):
        await m1.say(answer)
    clock.set(WEDNESDAY + timedelta(days=8))
    await world.sweep()
    policy = RetentionPolicy(report_text_days=30)
    async with db.session() as s:
        assert (await retention.purge(s, policy, clock.now()))["aftercare"] == 0
    async with db.session() as s:
        counts = await retention.purge(s, policy, clock.now() + timedelta(days=31))
    assert counts["aftercare"] == 1
    async with db.session() as s:
        invite = (await s.exec(select(AftercareInvitation).where(
            AftercareInvitation.person_id == world.ids["m1"]))).one()
    assert invite.answers is None and invite.status == "answered"  # the count stays


async def test_a_practice_session_never_touches_an_aftercare_answer(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await _school(db, clock, settings)
    number = await _attempt_recorded(world)
    centre = world.chat("c1")
    await centre.say(f"关怀回访 G{number}")
    await centre.say("确认发起")
    k1 = world.chat("k1")
    assert "练习" in await k1.say("练习")
    for answer in ("关怀问候", "很难受", "跳过"):
        await k1.say(answer)
    assert "老师会在工作时间联系你" in await k1.say("是，想聊聊")
    [item] = await _items(world, "aftercare")  # a real item, not a 练习 preview
    assert item.subject_person_id == world.ids["k1"]
    async with db.session() as s:
        runs = (await s.exec(select(PracticeRun))).all()
        invite = (await s.exec(select(AftercareInvitation).where(
            AftercareInvitation.person_id == world.ids["k1"]))).one()
    assert runs == [] and invite.status == "answered" and invite.concern
