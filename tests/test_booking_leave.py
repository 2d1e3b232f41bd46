"""A counsellor's leave: the student hears why, cannot keep the leave-day slot, and the
counsellor's list of new times keeps its numbers while times are ticked."""

from __future__ import annotations

from sqlmodel import col, select

from tests.booking_world import appointments, book_first, booking_world, sh, sweeper
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.booking import MoveProposal
from xinqiao.storage.db import Database


def number_of(reply: str, label: str) -> str:
    """The number a rendered reply gives the choice ``label``."""
    return next(line.split(".")[0] for line in reply.splitlines()
                if line.endswith(". " + label) or line.partition(". ")[2] == label)


async def test_a_leave_day_appointment_must_move_or_be_cancelled(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00, 周老师
    desk = world.chat("c2")
    await desk.say("我的排班")
    await desk.say("请假/停诊")
    await desk.say("9-8")
    noted = await desk.say("全天")
    assert "已有 1 个预约" in noted and "预约名单 9-8" in noted
    listing = await desk.say("预约名单 9-8")
    assert "9月8日的咨询预约 1 个" in listing
    assert "09:00 室友小吴 · 已预约 · 请假中，待调整" in listing
    await desk.say("09:00 室友小吴")
    first = await desk.say("调整时间（需学生同意）")
    assert "09-08" not in first  # the leave day offers no times
    back, send = number_of(first, "返回列表"), number_of(first, "发给学生选择（0 个）")
    ticked = await desk.say("1")
    assert number_of(ticked, "返回列表") == back
    assert number_of(ticked, "发给学生选择（1 个）") == send
    assert "✓ 09-10 周四 09:00" in ticked
    assert "原预约不变" in await desk.say(send)
    asked = (await world.push_texts("s1"))[-1]
    assert "周老师 那天请假" in asked and "因工作安排" not in asked
    assert "取消这次预约" in asked and "保留原时间" not in asked
    chat = world.chat("s1")
    shown = await chat.say("预约")
    assert "那天请假" in shown and "取消这次预约" in shown and "保留原时间" not in shown
    kept = await chat.say(choice="keep")  # an old button: the leave-day time cannot be kept
    assert "原来的时间没法保留了" in kept and "09-10 周四 09:00" in kept
    [appt] = await appointments(world)
    assert appt.status == "booked"
    assert "已取消这次预约" in await chat.say("取消这次预约")
    [appt] = await appointments(world)
    assert appt.status == "cancelled"
    assert "学生取消了 9月8日（周二）09:00 的预约（你请假的时间）" in (
        await world.push_texts("c2"))[-1]
    async with db.session() as s:
        assert (await s.exec(select(MoveProposal.status))).all() == ["declined"]


async def test_a_move_without_leave_still_keeps_and_the_lead_proposes_in_the_counsellors_name(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    await book_first(world, "s1", pick="4")  # Tuesday 09:00, 周老师
    lead = world.chat("d1")
    await lead.say("预约名单 9-8")
    await lead.say("09:00 室友小吴")
    await lead.say("调整时间（需学生同意）")
    await lead.say("1")
    await lead.say("发给学生选择（1 个）")
    asked = (await world.push_texts("s1"))[-1]
    assert "周老师 因工作安排" in asked and "保留原时间" in asked
    # leave taken afterwards: the student can no longer keep it; unanswered, the proposer hears
    desk = world.chat("c2")
    await desk.say("我的排班")
    await desk.say("请假/停诊")
    await desk.say("9-8")
    await desk.say("08:30-10:00")
    shown = await world.chat("s1").say("预约")
    assert "那天请假" in shown and "保留原时间" not in shown
    clock.set(sh(9, 8, 9))
    await sweeper(world).sweep_once()
    assert "仍在你请假的时间里" in (await world.push_texts("d1"))[-1]
    async with db.session() as s:
        states = (await s.exec(select(MoveProposal.status).order_by(col(MoveProposal.id)))).all()
    assert states == ["expired"]
