"""待办 items read D7 and 个案 cases G12: both forms, lettered and bare, work in every command.

Before, both were "#N": a crisis message opens item 1 and case 1 at once, and "#1" named either.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)


async def _dorm_report(world: World) -> tuple[int, str]:
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    await chat.say("这周几乎不出门，晚上一直哭")
    await chat.say("7")
    done = await chat.say("不急，近期关注即可")
    async with world.db.session() as s:
        [esc] = (await s.exec(select(Escalation))).all()
    assert esc.id is not None
    return esc.id, done


async def _status(world: World, esc_id: int) -> str:
    async with world.db.session() as s:
        esc = await s.get(Escalation, esc_id)
        assert esc is not None
        return esc.status


async def test_items_are_d_numbers_in_pushes_lists_and_every_command(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    n, done = await _dorm_report(world)
    assert f"编号 D{n}" in done
    alert = (await world.push_texts("t1"))[-1]
    assert alert.startswith(f"【心桥】D{n} 宿舍情况反映") and f"回复“收到 D{n}”确认" in alert
    assert "#" not in alert
    advisor = world.chat("t1")
    assert f"D{n} 宿舍情况反映" in await advisor.say("待办")
    assert "室友小吴" in await advisor.say(f"待办 d{n}")
    wrong = await advisor.say(f"收到 G{n}")  # a case number given to an item command
    assert f"G{n} 是个案编号，回复“个案 G{n}”查看" in wrong
    assert await _status(world, n) == "open"
    assert f"已确认 D{n}" in await advisor.say(f"收到D{n}")  # no space, as people type it
    lead = world.chat("d1")
    assert f"· D{n} 宿舍情况反映" in await lead.say("全校待办")
    centre = world.chat("c1")
    assert f"D{n} 是待办事项编号，回复“待办 D{n}”查看" in await centre.say(f"个案 D{n}")
    assert "是个案编号" in await centre.say("回复 G3 你好")
    assert f"D{n}" in await centre.say(f"回复 D{n} 你好")
    # full-width letters and digits; a typed reference at the note prompt is not the note
    assert f"请用一句话写下 D{n} 的处理情况" in await advisor.say(f"已处理 Ｄ{chr(0xFF10 + n)}")
    assert "处理情况" in await advisor.say(f"D{n}")
    assert await _status(world, n) == "acked"
    assert f"D{n} 已结案" in await advisor.say("已沟通，情绪平稳")


async def test_cases_are_g_numbers_and_an_item_and_a_case_of_the_same_number_stay_apart(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await world.chat("s1").say("我不想活了")
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
        [esc] = (await s.exec(select(Escalation))).all()
    assert case.id == esc.id == 1  # the same number: the letter tells them apart
    assert f"【心桥】D{esc.id} 危机预警" in (await world.push_texts("c2"))[-1]
    staff = world.chat("c1")
    listing = await staff.say("个案")
    assert f"G{case.id} 室友小吴" in listing and f"查看 G{case.id}" in listing
    assert f"个案 G{case.id}：室友小吴" in await staff.say(f"查看 g{case.id}")  # typed
    assert f"个案 G{case.id}：室友小吴" in await staff.say(f"个案 G{case.id}")
    assert f"个案 G{case.id}：室友小吴" in await staff.say(f"个案 {case.id}")  # bare: still
    assert f"G{case.id} 是个案编号" in await staff.say(f"待办 G{case.id}")
    # bare 收到 1 is the item (the command says which kind), never the case
    assert f"已确认 D{esc.id}" in await world.chat("c2").say(f"收到 {esc.id}")
    college = world.chat("l1")
    await college.say(f"个案 G{case.id}")
    await college.say("结案")
    await college.say("情绪平稳，已恢复上课")
    assert f"已提交个案 G{case.id} 的结案申请" in await college.say("日常关注")
    push = (await world.push_texts("c1"))[-1]
    assert f"申请结束个案 G{case.id}" in push and f"回复“同意结案 G{case.id}”" in push
    assert f"已同意，个案 G{case.id} 已结案" in await staff.say(f"同意结案 g{case.id}")
