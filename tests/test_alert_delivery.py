"""Escalation alerts through the outbox to a WeChat API stand-in with injected failures."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from tests.factories import bind
from tests.network_world import World, make_world
from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import ConsoleSender, Notifier
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

STAFF = ("l1", "l2", "c1", "c2")


async def _crisis_report(world: World, text: str, about: str = "室友小吴") -> None:
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say(about)
    await chat.say(text)
    await chat.say("10")  # talk of death or self-harm
    await chat.say("现在就需要处理")


async def _drain(world: World, notifier: Notifier, rounds: int = 8) -> None:
    for _ in range(rounds):  # retries back off: let fake minutes pass between drains
        await notifier.drain_once()
        world.clock.advance(minutes=5)


async def test_crisis_alerts_survive_busy_and_expired_token_and_fall_back(
    db: Database, clock: FakeClock, settings: Settings, stub: WeChatStub
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 9, 7, 23, 30, tzinfo=SHANGHAI))
    for who in STAFF:
        await bind(db, world.ids[who], "wechat", f"o-{who}", clock.now())
        await bind(db, world.ids[who], "telegram", f"tg-{who}", clock.now())
    cfg = settings.model_copy(update={"wechat_api_base": stub.url,
                                      "wechat_api_timeout_seconds": 2.0})
    telegram: list[str] = []
    async with WeChatAPI(db, cfg, clock) as api:
        notifier = Notifier(db, clock, cfg, {"wechat": WeChatSender(api, cfg),
                                             "telegram": ConsoleSender(telegram.append,
                                                                       channel="telegram")})
        await _crisis_report(world, "他这几天一直很低落")
        stub.fail("message/custom/send", -1, times=1)  # system busy
        stub.fail("message/custom/send", 42001, times=1)  # the token expired meanwhile
        await _drain(world, notifier)
        delivered = Counter(m.touser for m in stub.sent)
        assert delivered == Counter({f"o-{w}": 1 for w in STAFF})  # each once, none lost
        assert all("很低落" not in m.raw for m in stub.sent)  # never the report's words
        # next time one recipient's WeChat window has closed (45015): that alert goes to
        # their Telegram instead, once; the others still get theirs on WeChat
        stub.sent.clear()
        await _crisis_report(world, "又一次", about="委员小郑")  # another student: a new item
        stub.fail("message/custom/send", 45015, times=1)
        await _drain(world, notifier)
        reached = Counter(m.touser for m in stub.sent)
        assert sum(reached.values()) == 3 and set(reached.values()) == {1}
        assert len(telegram) == 1 and "D2" in telegram[0]
