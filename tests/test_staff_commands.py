"""Staff commands work from wherever a staff member is in the chat (issue 13, points 1–2).

The alert itself tells an advisor to open 待办 and then send 收到 N: both must do what they say,
whatever list or prompt the chat was at, and no typed command is ever taken as a note.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


async def _dorm_report(world: World, observed: str = "这周几乎不出门，晚上一直哭",
                       roommate: str = "室友小吴") -> int:
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say(roommate)
    await chat.say(observed)
    await chat.say("7")
    await chat.say("不急，近期关注即可")
    async with world.db.session() as s:
        ids = [e.id for e in (await s.exec(select(Escalation).order_by(
            col(Escalation.id)))).all()]  # the newest last: a table's row order is not
    assert ids and ids[-1] is not None
    return ids[-1]


async def _status(world: World, esc_id: int) -> str:
    async with world.db.session() as s:
        esc = await s.get(Escalation, esc_id)
        assert esc is not None
        return esc.status


async def test_the_alert_s_own_instructions_work_after_opening_the_queue(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc_id = await _dorm_report(world)
    alert = (await world.push_texts("t1"))[-1]
    assert f"收到 D{esc_id}" in alert and "待办" in alert
    advisor = world.chat("t1")
    assert f"D{esc_id}" in await advisor.say("待办")
    answer = await advisor.say(f"收到 {esc_id}")
    assert f"已确认 D{esc_id}" in answer
    assert await _status(world, esc_id) == "acked"
    # From the list again: 待办 N opens the item, 已处理 N 说明 closes it.
    await advisor.say("待办")
    detail = await advisor.say(f"待办 {esc_id}")
    assert "室友小吴" in detail and "晚上一直哭" in detail
    assert "已结案" in await advisor.say(f"已处理 {esc_id} 已沟通，情绪平稳")
    assert await _status(world, esc_id) == "resolved"


async def test_menu_words_and_other_commands_leave_a_list(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    esc_id = await _dorm_report(world)
    advisor = world.chat("t1")
    await advisor.say("待办")
    assert "辅导员王老师" in await advisor.say("我的信息")  # another flow's word, from the list
    assert "请选择你需要的服务" in await advisor.say("菜单")
    await advisor.say("待办")
    answer = await advisor.say(f"收到{esc_id}")  # no space, as people type it
    assert f"已确认 D{esc_id}" in answer
    # The centre's desk: 我的排班 then 今日预约 shows today's appointments, not the schedule.
    centre = world.chat("c1")
    await centre.say("我的排班")
    assert "今天" in await centre.say("今日预约")


async def test_a_command_typed_at_a_note_prompt_is_a_command_not_the_note(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    first = await _dorm_report(world)
    second = await _dorm_report(world, "和家里吵架后一直不说话", roommate="委员小郑")
    assert second != first
    advisor = world.chat("t1")
    assert "请用一句话" in await advisor.say(f"已处理 {first}")
    answer = await advisor.say(f"收到 {second}")
    assert f"已确认 D{second}" in answer
    assert await _status(world, first) == "open"  # not closed with the note "收到 N"
    assert await _status(world, second) == "acked"
    # A bare number or a command word at the prompt is asked again, never stored as the note.
    assert "请用一句话" in await advisor.say(f"已处理 {first}")
    assert "处理情况" in await advisor.say(str(second))
    assert await _status(world, first) == "open"
    assert "已结案" in await advisor.say("已电话联系家长，明天约谈")
    async with db.session() as s:
        esc = await s.get(Escalation, first)
    assert esc is not None and esc.resolution == "已电话联系家长，明天约谈"


async def test_an_answer_that_starts_with_a_command_word_stays_an_answer(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    # 预约 is a trigger word, but here it only starts the informant's sentence.
    assert "可能相关的情况" in await chat.say("预约了咨询但是没去，最近总是一个人")
