"""安全计划: a student writes, resumes, reads and edits their plan; who else may read it."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import text
from sqlmodel import col, select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.access import REFUSAL
from xinqiao.services.retention import purge
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment, AppointmentStatus
from xinqiao.storage.care import SafetyPlan
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Person

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


async def _plans(world: World) -> list[SafetyPlan]:
    async with world.db.session() as s:
        return list(await s.exec(select(SafetyPlan).order_by(col(SafetyPlan.version))))


async def _audits(world: World, who: str) -> list[AuditEntry]:
    async with world.db.session() as s:
        rows = await s.exec(select(AuditEntry).where(
            AuditEntry.actor_person_id == world.ids[who]).order_by(col(AuditEntry.id)))
        return list(rows)


async def _write_plan(world: World) -> str:
    chat = world.chat("s1")
    first = await chat.say("安全计划")
    assert "一共 6 步" in first and "1. 预警信号" in first and "连着几天睡不好" in first
    assert "也可以直接写下你自己的话" in first and "跳过" in first
    assert "2. 自己就能做的事" in await chat.say(choice="睡不着")
    assert "3. 能让你暂时分分心" in await chat.say("1 3 给自己泡杯茶")
    assert "4. 可以开口求助的人" in await chat.say("跳过")
    step5 = await chat.say("妈妈 13800001111")
    # the professionals' step already holds the centre and the crisis lines
    assert "5. 专业的帮助" in step5 and "12356" in step5 and "心理健康教育中心" in step5
    assert "6. 让身边的环境更安全" in await chat.say(choice="我的咨询师")
    return await chat.say("2")


async def test_a_student_writes_a_plan_and_reads_it_back_in_one_message(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    done = await _write_plan(world)
    assert "你的安全计划写好了" in done and "第 1 版" in done
    assert "1. 预警信号：连着几天睡不好" in done
    assert "2. 自己可以做的事：做几次慢慢的深呼吸；去操场或校园里走走；给自己泡杯茶" in done
    assert "3. 能让我分心的人和地方：（未填写）" in done
    assert "4. 可以求助的人：妈妈，13800001111" in done
    assert "5. 专业人员和热线：我的咨询师；心理健康教育中心；全国心理援助热线 12356" in done
    assert "6. 让环境更安全：把刀片等尖锐物品收起来" in done
    assert "改第3步" in done
    [plan] = await _plans(world)
    assert plan.version == 1 and plan.person_id == world.ids["s1"]
    assert plan.steps["alone"] == ["深呼吸", "出去走走", "给自己泡杯茶"]
    async with db.session() as s:  # stored encrypted: the words are not in the column
        raw = (await s.exec(text("SELECT steps FROM safety_plan"))).one()[0]  # type: ignore[call-overload]
    assert raw.startswith("f1:") and "泡杯茶" not in raw
    # asked again, the plan is shown, not the form
    again = await world.chat("s1").say("安全计划")
    assert "【我的安全计划】（第 1 版" in again and "1. 预警信号" in again


async def test_a_half_written_plan_resumes_where_it_was_left(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("s1")
    await chat.say("安全计划")
    await chat.say(choice="睡不着")
    assert "3. 能让你暂时分分心" in await chat.say("听音乐")
    await chat.say("菜单")  # off to something else
    clock.advance(hours=5)
    offer = await chat.say("安全计划")
    assert "你上次填写《我的安全计划》到一半（已答 2 题）" in offer
    assert "3. 能让你暂时分分心" in await chat.say(choice="resume")
    assert await _plans(world) == []  # nothing is saved until the last step


async def test_editing_one_step_adds_a_version_and_keeps_the_history(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _write_plan(world)
    chat = world.chat("s1")
    clock.advance(days=2)
    asked = await chat.say("修改 3")
    assert asked.startswith("3. 能让你暂时分分心")
    edited = await chat.say("图书馆")
    assert "已更新你的安全计划" in edited and "第 2 版" in edited
    assert "3. 能让我分心的人和地方：去图书馆或自习室" in edited
    assert "1. 预警信号：连着几天睡不好" in edited  # the other steps are kept
    # a tap on the plan shown back edits too
    assert "6. 让身边的环境更安全" in await chat.say(choice="plan:edit:6")
    assert "第 3 版" in await chat.say("跳过")
    first, second, third = await _plans(world)
    assert "distract" not in first.steps and second.steps["distract"] == ["图书馆"]
    assert "environment" not in third.steps and second.steps["environment"]
    # typed as a command from anywhere
    assert (await world.chat("s1").say("安全计划 修改 1")).startswith("1. 预警信号")


async def test_the_counsellor_reads_it_audited_and_others_are_refused(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _write_plan(world)
    now = clock.now()
    async with db.session() as s:  # c1 has seen s1 in counselling; c2 has not
        s.add(Appointment(student_id=world.ids["s1"], counsellor_id=world.ids["c1"],
                          start_at=now - timedelta(days=3), end_at=now - timedelta(days=3),
                          status=AppointmentStatus.attended, requested_at=now, created_at=now))
    read = await world.chat("c1").say("安全计划 s1")
    assert "【室友小吴（s1）的安全计划】" in read and "连着几天睡不好" in read
    [entry] = [a for a in await _audits(world, "c1") if a.action == "safety_plan.read"]
    assert entry.allowed and entry.subject_person_id == world.ids["s1"]
    # the college's psychological counsellor and the centre lead may read it too
    assert "连着几天睡不好" in await world.chat("l2").say("安全计划 s1")
    assert "连着几天睡不好" in await world.chat("d1").say("安全计划 s1")
    # a centre colleague who never counselled her, and another student, may not
    for who in ("c2", "k1"):
        assert await world.chat(who).say("安全计划 s1") == REFUSAL + "\n1. 主菜单"
        [refused] = [a for a in await _audits(world, who) if a.action == "safety_plan.read"]
        assert not refused.allowed and refused.subject_person_id == world.ids["s1"]
    # the class advisor is stopped at the door, and that is audited as a safety-plan attempt
    reply = await world.chat("t1").say("安全计划 s1")
    assert "不在你的权限范围" in reply and "睡不好" not in reply
    [door] = await _audits(world, "t1")
    assert door.action == "flow.refused" and not door.allowed
    assert door.detail["kind"] == "safety_plan" and door.detail["asked"] == "s1"


async def test_the_crisis_reply_offers_the_plan_and_the_case_links_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _write_plan(world)
    chat = world.chat("s1")
    [reply] = await chat.send("我真的撑不下去了，不想活了")
    assert "12356" in reply.text
    assert [c.label for c in reply.choices] == ["查看我的安全计划", "主菜单"]
    shown = await chat.say(choice="flow:safety_plan")
    assert "【我的安全计划】" in shown and "连着几天睡不好" in shown
    # the case the crisis opened shows the plan; how to read it, to those who would be let in
    view = await world.chat("c1").say("个案 G1")
    assert "安全计划：第 1 版（09-07 更新），加入个案团队（如点「我来负责」）后可以查看" in view
    assert "安全计划 s1" not in view
    assert "查看请回复“安全计划 s1”" in await world.chat("d1").say("个案 G1")
    await world.chat("c1").say(choice="lead:1")
    view = await world.chat("c1").say("个案 G1")
    assert "安全计划：第 1 版（09-07 更新），查看请回复“安全计划 s1”" in view
    assert "连着几天睡不好" in await world.chat("c1").say("安全计划 s1")
    # a roommate reporting someone else's words is not offered a plan of her own
    [third] = await world.chat("i1").send("室友小吴刚才跟我说他不想活了")
    assert "写一份安全计划" not in [c.label for c in third.choices]


async def test_a_student_without_a_plan_hears_of_it_after_a_no_to_the_concern_question(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("s1")
    asked = await chat.say("活着好累，感觉自己就是家里的累赘")
    assert "有没有想过结束自己的生命" in asked
    [warm] = await chat.send(choice="concern:no")
    assert "写一份安全计划" in [c.label for c in warm.choices]
    started = await chat.say(choice="flow:safety_plan")
    assert "一共 6 步" in started


async def test_a_plan_is_purged_with_the_rest_once_its_student_has_long_left(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _write_plan(world)
    await world.chat("s1").say("修改 3")
    await world.chat("s1").say("图书馆")
    policy = load_policy().retention
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
        assert student is not None
        student.active, student.left_at = False, clock.now()
        s.add(student)
    clock.advance(days=policy.after_leaving_days - 1)
    async with db.session() as s:
        await purge(s, policy, clock.now())
    assert len(await _plans(world)) == 2  # not yet
    clock.advance(days=2)
    async with db.session() as s:
        counts = await purge(s, policy, clock.now())
    assert counts["people_left"] == 1 and await _plans(world) == []


async def test_a_plan_finished_after_a_resume_leaves_no_stale_draft(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    """安全计划 → 菜单 half-way → 继续上次 → finish: afterwards the plan is shown, never the
    draft question, and an edit keeps every earlier answer."""
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("s1")
    await chat.say("安全计划")
    await chat.say(choice="睡不着")
    await chat.say("听音乐")
    await chat.say("菜单")
    assert "到一半" in await chat.say("安全计划")
    assert "3. 能让你暂时分分心" in await chat.say(choice="resume")
    await chat.say("图书馆")
    await chat.say("妈妈 13800001111")
    await chat.say("跳过")
    assert "你的安全计划写好了" in await chat.say("2")
    await chat.say("菜单")
    again = await chat.say("安全计划")
    assert "到一半" not in again and "【我的安全计划】（第 1 版" in again
    edited = await chat.say("安全计划 修改 3")
    assert edited.startswith("3. 能让你暂时分分心")
    saved = await chat.say("室友")
    assert "第 2 版" in saved and "1. 预警信号：连着几天睡不好" in saved
    first, second = await _plans(world)
    assert second.steps["signs"] == first.steps["signs"] and second.steps["people"]


async def test_a_number_that_is_no_option_is_asked_again_not_saved_as_words(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("s1")
    await chat.say("安全计划")
    await chat.say("跳过")
    assert "3. 能让你暂时分分心" in await chat.say("1")
    again = await chat.say("5")  # four suggestions here
    assert "没有第 5 项" in again and "3. 能让你暂时分分心" in again and "和室友聊聊天" in again
    assert "没有第 9 项" in await chat.say("2 9")
    assert "4. 可以开口求助的人" in await chat.say("2")
    assert "5. 专业的帮助" in await chat.say("妈妈 13800001111")  # a number among words is kept
    await chat.say("跳过")
    done = await chat.say("跳过")
    assert "3. 能让我分心的人和地方：去图书馆或自习室" in done and "妈妈，13800001111" in done


async def test_a_student_with_a_plan_is_offered_to_read_it_and_can_ask_for_it_by_name(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await _write_plan(world)
    chat = world.chat("s1")
    await chat.say("菜单")
    mine = await chat.say("我的安全计划")  # the plan, not a disclosure
    assert "【我的安全计划】（第 1 版" in mine and "12356" not in mine.split("【")[0]
    await chat.say("菜单")
    assert "有没有想过结束自己的生命" in await chat.say("活着好累，感觉自己就是家里的累赘")
    [crisis] = await chat.send(choice="concern:yes")
    assert "12356" in crisis.text
    assert [c.label for c in crisis.choices] == ["查看我的安全计划", "主菜单"]
    shown = await chat.say(choice="flow:safety_plan")
    assert "【我的安全计划】" in shown and "连着几天睡不好" in shown
