"""What the bot reflects back to free words: a place or a bare verb is not a trouble."""

from __future__ import annotations

from datetime import datetime

from tests.dialog import Dialog, labels
from tests.network_world import INSTRUMENTS, World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.content.service import Content
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # a Monday evening
CONTENT = Content(None, "https://bot.example.edu.cn")
ROOMMATES = "和室友之间闹得不愉快"
SLEEP = "睡不好真的很磨人"


def chat(world: World, who: str) -> Dialog:
    """One of the world's people, with articles and exercises on."""
    return Dialog(world.db, world.settings, world.clock, f"a-{who}", network=world.network,
                  instruments=INSTRUMENTS, content=CONTENT)


async def test_saying_where_you_are_gets_no_roommate_quarrel_reflected_back(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    where = await student.send("我在宿舍")
    assert ROOMMATES not in where[-1].text and "室友" not in where[-1].text
    assert "约心理老师聊聊" in labels(where[-1])  # still heard, with a way to talk
    resting = await student.send("我在宿舍睡觉")
    assert ROOMMATES not in resting[-1].text and SLEEP not in resting[-1].text


async def test_a_real_roommate_or_sleep_complaint_is_still_reflected(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    student = chat(world, "s1")
    noisy = await student.send("宿舍太吵了，天天有人半夜打游戏")
    assert ROOMMATES in noisy[-1].text
    assert "读读《和室友相处的小技巧》" in labels(noisy[-1])
    snoring = await student.send("室友天天打呼噜")
    assert ROOMMATES in snoring[-1].text
    restless = await student.send("晚上总是睡不踏实")
    assert SLEEP in restless[-1].text
