"""Words typed to move through the bot are not disclosures; a safety plan may name the means."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
QUESTION = "有没有想过结束自己的生命"


async def _items(world: World) -> list[Escalation]:
    async with world.db.session() as s:
        return list(await s.exec(select(Escalation)))


async def test_list_and_step_words_are_not_asked_about(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("s1")
    for word in ("更多", "不用了", "结束"):  # a list's next page, declining an offer, an exercise
        assert QUESTION not in await chat.say(word), word
    # a short reply typed while a flow waits for an answer answers it
    await chat.say("安全计划")
    assert QUESTION not in await chat.say("菜单")
    await chat.say("预约")
    assert QUESTION not in await chat.say("都弄完了")
    assert await _items(world) == []
    # the same few words on their own, with no flow waiting, are still asked about
    assert QUESTION in await world.chat("i1").say("都弄完了")


async def test_a_safety_plan_names_the_means_without_raising_an_alarm(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("s1")
    await chat.say("安全计划")
    for _ in range(5):
        await chat.say("跳过")
    done = await chat.say("把绳子扔了，药交给妈妈保管")
    assert "你的安全计划写好了" in done and "把绳子扔了，药交给妈妈保管" in done
    assert await _items(world) == [] and await world.pushes("t1") == []


async def test_plain_words_of_dying_in_a_safety_plan_still_reach_the_centre(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    chat = world.chat("s1")
    await chat.say("安全计划")
    reply = await chat.say("我现在就想自杀")
    assert "12356" in reply
    assert [e.severity for e in await _items(world)] == ["crisis"]
