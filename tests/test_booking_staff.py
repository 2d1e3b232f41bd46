"""Counsellors in chat: marking outcomes with private notes, moves only with consent, referral."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import col, select

from tests.booking_world import appointments, book_first, booking_world, sh, sweeper
from xinqiao.clock import FakeClock
from xinqiao.handlers.booking.texts import mark_note
from xinqiao.services.booking import appointments as booking
from xinqiao.services.booking.counsellor_actions import mark
from xinqiao.settings import Settings
from xinqiao.storage.booking import AppointmentStatus, MoveProposal, Referral
from xinqiao.storage.cases import Case, CaseNote
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Person, Tier
from xinqiao.storage.reports import Escalation


async def test_a_no_show_frees_the_student_and_repeats_reach_the_centre(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1")  # Monday 14:00, 孙老师
    desk = world.chat("c1")
    today = await desk.say("今日预约")
    assert "今天的咨询预约 1 个" in today and "14:00 室友小吴 · 已预约" in today
    await desk.say("14:00 室友小吴")
    early = await desk.say("爽约")  # not started yet: no such button, the tap is ignored
    assert "调整时间（需学生同意）" in early and "已到访" not in early
    clock.set(sh(9, 7, 14, 20))
    await desk.say("今日预约")
    view = await desk.say("14:00 室友小吴")
    assert "已到访" in view and "爽约" in view
    assert "仅中心可见" in await desk.say("爽约")
    marked = await desk.say("电话未接通，下次先确认")
    assert "已记录爽约" in marked and "近 90 天爽约：1 次" in marked
    assert "这次预约已释放" in (await world.push_texts("s1"))[-1]
    [appt] = await appointments(world)
    assert appt.status == "no_show" and appt.marked_by == world.ids["c1"]
    async with db.engine.connect() as conn:  # the note is ciphertext at rest
        raw = (await conn.execute(sa.text("SELECT note FROM appointment"))).scalar_one()
    assert raw.startswith("f1:") and "电话" not in raw
    note = await desk.say("查看备注")
    assert "备注：电话未接通，下次先确认" in note
    async with db.session() as s:
        reads = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "booking.note.read"))).all()
    assert [(r.actor_person_id, r.subject_person_id) for r in reads] == [
        (world.ids["c1"], world.ids["s1"])]
    # the student may book again; a second no-show flags them to the centre lead
    assert "9月9日（周三）14:00" in await book_first(world, "s1", pick="4")
    clock.set(sh(9, 9, 15))
    async with db.session() as s:
        again = await booking.upcoming(s, world.ids["s1"], sh(9, 9, 13))
        c1 = await s.get(Person, world.ids["c1"])
        assert again is not None and c1 is not None
        message = mark_note(await mark(s, world.network.policy, again,
                                       AppointmentStatus.no_show, c1, clock.now()))
    assert "近期已爽约 2 次" in message
    assert "室友小吴 近 90 天已爽约 2 次" in (await world.push_texts("d1"))[-1]
    stats = await world.chat("d1").say("预约统计")
    assert "多次爽约需关注：1 人" in stats


async def test_a_counsellor_moves_an_appointment_only_with_the_students_consent(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00, 周老师
    desk = world.chat("c2")
    await desk.say("今日预约")
    await desk.say("未来 7 天")
    await desk.say("09-08 周二 09:00 室友小吴")
    options = await desk.say("调整时间（需学生同意）")
    assert "1. 09-08 周二 10:00" in options
    await desk.say("1")
    await desk.say("2")
    assert "原预约不变" in await desk.say("发给学生选择（2 个）")
    asked = (await world.push_texts("s1"))[-1]
    assert "9月8日（周二）10:00、9月8日（周二）11:00" in asked and "回复“预约”" in asked
    # declined: nothing moves
    chat = world.chat("s1")
    shown = await chat.say("预约")
    assert "保留原时间" in shown and "09-08 周二 11:00" in shown
    assert "保留原来的时间" in await chat.say("保留原时间")
    [appt] = await appointments(world)
    assert appt.status == "booked" and appt.start_at == sh(9, 8, 9)
    assert "学生希望保留 9月8日（周二）09:00 的原预约" in (await world.push_texts("c2"))[-1]
    # unanswered: it lapses, still nothing moves
    await desk.say("09-08 周二 09:00 室友小吴")
    await desk.say("调整时间（需学生同意）")
    await desk.say("1")
    await desk.say("发给学生选择（1 个）")
    clock.set(sh(9, 8, 9))
    await sweeper(world).sweep_once()
    assert "原预约保持不变" in (await world.push_texts("c2"))[-1]
    async with db.session() as s:
        states = (await s.exec(select(MoveProposal.status).order_by(col(MoveProposal.id)))).all()
    assert states == ["declined", "expired"]
    # accepted: the original is replaced by the chosen time
    clock.set(sh(9, 7, 10))
    await desk.say("09-08 周二 09:00 室友小吴")
    await desk.say("调整时间（需学生同意）")
    await desk.say("3")
    await desk.say("发给学生选择（1 个）")
    await chat.say("预约")
    assert "已调整" in await chat.say("1")
    old, new = await appointments(world)
    assert (old.status, new.status, new.moved_from) == ("moved", "booked", old.id)
    assert new.start_at == sh(9, 10, 9) and new.counsellor_id == world.ids["c2"]


async def test_referral_to_a_colleague_and_a_crisis_referral_to_hospital(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1")  # Monday 14:00, 孙老师
    clock.set(sh(9, 7, 15))
    desk = world.chat("c1")
    await desk.say("今日预约")
    await desk.say("14:00 室友小吴")
    await desk.say("已到访")
    await desk.say("跳过")
    await desk.say("转介")
    await desk.say("中心其他老师")
    assert "补充一句转介说明" in await desk.say("中心周老师")
    assert "已记录转介" in await desk.say("适合长期个体咨询")
    assert "转介：中心孙老师 将 室友小吴 转介给你" in (await world.push_texts("c2"))[-1]
    assert "由 中心周老师 继续咨询" in (await world.push_texts("s1"))[-1]
    await desk.say("转介")
    await desk.say("医院（危机转介）")
    await desk.say("市精神卫生中心")
    done = await desk.say("有自伤计划，已联系家长陪同就诊")
    assert "已纳入危机个案" in done
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
        student = await s.get(Person, world.ids["s1"])
        referrals = (await s.exec(select(Referral).order_by(col(Referral.id)))).all()
    assert case.person_id == world.ids["s1"] and student is not None and student.tier == "crisis"
    assert [(r.kind, r.crisis, r.case_id) for r in referrals] == [
        ("counsellor", False, None), ("hospital", True, case.id)]
    assert referrals[1].hospital == "市精神卫生中心"
    await desk.say("记录转介结果")
    assert "已记录转介结果" in await desk.say("已就诊，门诊随访")
    async with db.session() as s:
        kinds = (await s.exec(select(CaseNote.kind).where(CaseNote.case_id == case.id)
                              .order_by(col(CaseNote.id)))).all()
        done_ref = await s.get(Referral, referrals[1].id)
    assert kinds == ["opened", "referral", "referral_outcome"]
    assert done_ref is not None and done_ref.outcome == "已就诊，门诊随访"


async def test_students_and_other_roles_cannot_reach_the_counsellor_desk(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1")
    assert "不在你的权限范围" in await world.chat("s1").say("今日预约")
    assert "不在你的权限范围" in await world.chat("l1").say("预约统计")
    # another counsellor does not see 孙老师's appointment; the centre lead does
    assert "今天没有咨询预约" in await world.chat("c2").say("今日预约")
    assert "14:00 室友小吴" in await world.chat("d1").say("今日预约")
    menu = await world.chat("c1").say("菜单")
    assert "咨询排班与预约" in menu


async def test_a_key_tier_no_show_alerts_counsellor_and_college_counsellor_for_24h(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
        assert student is not None
        student.tier = Tier.key
        s.add(student)
        await s.commit()
    await book_first(world, "s1")  # Monday 14:00, 孙老师 (c1)
    clock.set(sh(9, 7, 14, 20))
    desk = world.chat("c1")
    await desk.say("今日预约")
    await desk.say("14:00 室友小吴")
    await desk.say("爽约")
    marked = await desk.say("跳过")
    assert "已记录爽约" in marked and "已开启跟进事项" in marked
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    assert (esc.kind, esc.subject_person_id, esc.status) == ("noshow", world.ids["s1"], "open")
    assert esc.due_at == sh(9, 8, 14, 20)  # 24 hours to follow up
    for who in ("c1", "l2"):  # their counsellor and the college counsellor, at once
        assert any(f"D{esc.id} 重点关注学生咨询爽约" in t for t in await world.push_texts(who))
    assert await world.push_texts("l1") == [] and await world.push_texts("t1") == []
    view = await world.chat("l2").say(f"待办 {esc.id}")
    assert "涉及同学：室友小吴" in view and "来源：咨询预约爽约" in view
    assert "咨询老师：中心孙老师" in view and "跟进期限：09-08 14:20" in view
    clock.set(sh(9, 8, 14, 20))  # nobody followed up: the centre lead hears of it
    await sweeper(world).sweep_once()
    assert any(f"D{esc.id}" in t for t in await world.push_texts("d1"))


async def test_a_routine_tier_no_show_raises_no_alert(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1")
    clock.set(sh(9, 7, 14, 20))
    async with db.session() as s:
        [appt] = await appointments(world)
        c1 = await s.get(Person, world.ids["c1"])
        assert c1 is not None
        await mark(s, world.network.policy, appt, AppointmentStatus.no_show, c1, clock.now())
        await s.commit()
        assert (await s.exec(select(Escalation))).all() == []
