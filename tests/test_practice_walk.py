"""练习 and 安全计划 as people find them: in their own menu, marked practice at every step, and
still practice when a run is picked up again after a pause."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
PRACTICE, PLAN = "上报练习", "我的安全计划"


async def _items(world: World) -> list[Escalation]:
    async with world.db.session() as s:
        return list(await s.exec(select(Escalation)))


async def test_practice_and_the_safety_plan_are_in_the_menu_and_help_of_their_roles(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    for who, practice, plan in (("i1", True, True), ("k1", True, True), ("s1", False, True),
                                ("t1", False, False), ("c1", False, False),
                                ("d1", False, False)):
        chat = world.chat(who)
        for shown in (await chat.say("菜单"), await chat.say("帮助")):
            assert (PRACTICE in shown) is practice, (who, shown)
            assert (PLAN in shown) is plan, (who, shown)
    # the entries are taps that start the flows
    informant = world.chat("i1")
    menu = await informant.send("菜单")
    [entry] = [c for c in menu[0].choices if c.label.startswith(PRACTICE)]
    assert "【练习模式】已开始" in await informant.say(choice=entry.key)
    assert "【练习模式】已开始" in await world.chat("k1").say(PRACTICE)  # typed as labelled
    student = world.chat("s1")
    helped = await student.send("帮助")
    [tap] = [c for c in helped[0].choices if c.label == PLAN]
    assert "安全计划" in await student.say(choice=tap.key)


async def test_every_step_of_a_practice_run_says_it_is_practice(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("练习")
    steps = [await chat.say("宿舍情况"), await chat.say("室友小吴"),
             await chat.say("这周几乎不出门"), await chat.say("返回上一题"),
             await chat.say("这周几乎不出门，晚上一直哭"), await chat.say("99"),
             await chat.say("7"), await chat.say("马上")]
    assert "没有第 99 项" in steps[5] and "需要多快处理" in steps[6]
    for step in steps:
        assert step.startswith("【练习】"), step
    assert (await chat.say("不急，近期关注即可")).startswith("【练习】这次没有发给任何老师")
    # a real report after 退出练习 carries no such mark at any step
    await chat.say("退出练习")
    real = [await chat.say("宿舍情况"), await chat.say("室友小吴"), await chat.say("不出门"),
            await chat.say("7")]
    assert not any("【练习】" in step for step in real), real
    assert "编号 D" in await chat.say("1")
    assert len(await _items(world)) == 1


async def test_a_practice_run_picked_up_after_a_pause_still_says_it_is_practice(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("i1")
    await chat.say("练习")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    clock.advance(minutes=45)  # the form waits 30 minutes; the session an hour
    offer = await chat.say("她这几天都不出门")
    assert offer.startswith("【练习】你上次填写《宿舍情况反映》到一半") and "继续上次" in offer
    again = await chat.say("继续上次")
    assert again.startswith("【练习】好的，我们接着来。") and "你观察到了什么" in again
    clock.advance(minutes=90)  # the session has ended meanwhile; the run is still practice
    offer = await chat.say("她这几天都不出门")
    assert offer.startswith("【练习】你上次填写")
    assert (await chat.say("继续上次")).startswith("【练习】")
    assert (await chat.say("她这几天都不出门")).startswith("【练习】3. 可能相关的情况")
    # she leaves it and comes back outside practice: the draft is still a practice one, but
    # starting over begins a real report, unmarked
    await chat.say("菜单")
    assert (await chat.say("宿舍情况")).startswith("【练习】你上次填写")
    fresh = await chat.say("重新开始")
    assert "【练习】" not in fresh and "是哪位室友" in fresh
    for answer in ("室友小吴", "不出门", "7"):
        assert "【练习】" not in await chat.say(answer)
    assert "编号 D" in await chat.say("1")
    assert len(await _items(world)) == 1
