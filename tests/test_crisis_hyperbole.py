"""A feeling "so strong I want to die" (气到想死): asked about, not alerted (issue 14, round 6).

With no other crisis signal the degree complement "X得/到想死" gets the direct question and
12356; 有 or silence still reaches the crisis path. A plain wish to die, or the construction
beside a method, still alerts at once.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlmodel import col, select

from tests.dialog import labels
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.crisis_language.detector import CrisisDetector
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)
STAFF = ("l1", "l2", "c1", "c2")
RULES = CrisisDetector(learned=False)


async def _escalations(world: World) -> list[Escalation]:
    async with world.db.session() as s:
        return list((await s.exec(select(Escalation).order_by(col(Escalation.id)))).all())


async def _staff_pushes(world: World) -> int:
    return sum([len(await world.push_texts(w)) for w in STAFF])


@pytest.mark.parametrize("text", ["气到想死", "烦得想死", "难受得想死", "排位又输了，气得我想死"])
async def test_a_feeling_so_strong_one_wants_to_die_is_asked_not_alerted(
    db: Database, clock: FakeClock, settings: Settings, text: str
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    replies = await world.chat("s1").send(text)
    assert len(replies) == 1
    assert "有没有想过结束自己的生命" in replies[0].text and "12356" in replies[0].text
    assert labels(replies[0]) == ["有", "没有", "不想说"]
    assert await _escalations(world) == [] and await _staff_pushes(world) == 0


async def test_yes_after_the_question_takes_the_crisis_path(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("s1")
    await chat.send("气到想死")
    reply = await chat.say("有")
    assert "很担心你" in reply and "12356" in reply
    [esc] = await _escalations(world)
    assert esc.kind == "crisis" and esc.subject_person_id == world.ids["s1"]
    assert {w for w in STAFF if await world.push_texts(w)} == set(STAFF)


async def test_silence_after_the_question_takes_the_crisis_path(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await world.chat("s1").send("难受得想死")
    clock.advance(minutes=9)
    await world.sweep()
    assert await _escalations(world) == []
    clock.advance(minutes=1)
    await world.sweep()
    [esc] = await _escalations(world)
    assert esc.kind == "crisis" and await _staff_pushes(world) == 4


@pytest.mark.parametrize("text", [
    "我想死",
    "难受得想死，药都准备好了",  # the construction beside the means at hand
    "气到想死，其实我是真的想死",  # the construction beside a plain wish
    "我觉得想死",  # 觉得 is no degree complement
    "烦得想死的心都有了",  # the wish itself is the object
])
async def test_a_wish_to_die_is_alerted_at_once(
    db: Database, clock: FakeClock, settings: Settings, text: str
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    reply = await world.chat("s1").say(text)
    assert "很担心你" in reply and "12356" in reply
    [esc] = await _escalations(world)
    assert esc.kind == "crisis" and esc.subject_person_id == world.ids["s1"]
    assert {w for w in STAFF if await world.push_texts(w)} == set(STAFF)


def test_the_rules_read_the_construction_as_a_weak_veiled_signal() -> None:
    hit = RULES.check("气到想死")
    assert hit is not None and hit.rule_id == "veiled.feeling_to_die" and hit.level == "concern"
    # Delight and tiredness stay intensifiers; another rule in the message wins.
    assert RULES.check("好吃到想死") is None and RULES.check("累得想死") is None
    strong = RULES.check("烦得想死，我不想活了")
    assert strong is not None and strong.level == "crisis"
