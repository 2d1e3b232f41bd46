"""A push's choices answer by number, as a reply's do (found walking the centre's roles).

WeChat shows a pushed message's choices as numbered lines: "1" typed after the push must mean
the push's first choice, not the main menu's — unless the person is in the middle of a form.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database

NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)


async def _close_requested(world: World) -> int:
    await world.chat("s1").say("我不想活了")
    async with world.db.session() as s:
        case = (await s.exec(select(Case))).one()
    assert case.id is not None
    lead = world.chat("l1")
    await lead.say(f"个案 {case.id}")
    await lead.say("结案")
    await lead.say("情绪平稳，已恢复上课")
    assert "等待心理中心老师确认" in await lead.say("日常关注")
    return case.id


async def test_a_number_typed_after_a_push_means_the_push_s_choice(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    case_id = await _close_requested(world)
    assert "查看并确认" in str((await world.pushes("c1"))[-1].payload)
    listing = await world.chat("c1").say("1")
    assert f"G{case_id}" in listing and "申请结案" in listing


async def test_a_push_does_not_take_the_numbers_of_a_form_in_progress(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    centre = world.chat("c1")
    first = await centre.say("紧急上报")  # the urgent report asks who it is about first
    assert "1." in first
    await _close_requested(world)
    answer = await centre.say("1")  # answers the form's question, not the push
    assert "申请结案" not in answer
