"""Telegram out, over the wire: 429/403/400/5xx from the Bot API stand-in, fallback to WeChat,
per-chat and global rate limits, long texts split, the preferred channel for alerts."""

from __future__ import annotations

import asyncio
import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.dialog import Dialog
from tests.factories import add_person, bind, make_campus
from tests.telegram_stub import TelegramStub
from tests.telegram_user import TelegramUser, settle
from tests.wechat_stub import WeChatStub
from xinqiao.bot.app import SERVICES
from xinqiao.bot.notify import Notifier
from xinqiao.clock import FakeClock
from xinqiao.messages import Choice, Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.services.recipients import push_to_people
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, OutboxStatus

CHAT, OPENID = 777002, "o-wechat-lin"
ALERT = {"title": "危机预警", "fields": {"学生": "张三"}}


async def _person(db: Database, clock: FakeClock, *, preferred: str | None = "telegram") -> int:
    """A bound staff member with a Telegram chat and a WeChat openid."""
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "T01", "王老师", now=clock.now())
    await bind(db, pid, "telegram", str(CHAT), clock.now())
    await bind(db, pid, "wechat", OPENID, clock.now())
    async with db.session() as s:
        for ident in await s.exec(select(ChannelIdentity)):
            ident.preferred = ident.channel == preferred
            s.add(ident)
    return pid


async def _alert(db: Database, clock: FakeClock, pid: int, key: str) -> None:
    async with db.session() as s:
        reached = await push_to_people(s, [pid], key=key, reply=Reply("紧急：张三需要关注"),
                                       now=clock.now(), kind="alert", priority=Priority.alert,
                                       alert=ALERT)
    assert reached == [pid]


async def _push(db: Database, clock: FakeClock, key: str, text: str, *, chat: int = CHAT,
                kind: str = "reply", choices: tuple[Choice, ...] = ()) -> int:
    async with db.session() as s:
        row = await enqueue(s, key=key, channel="telegram", address=str(chat), kind=kind,
                            payload={"reply": Reply(text, choices).to_json(), "turn": 1},
                            now=clock.now())
    assert row.id is not None
    return row.id


async def _rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


async def _identity(db: Database, channel: str) -> ChannelIdentity:
    async with db.session() as s:
        return (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.channel == channel))).one()


def _notifier(client: TestClient[Any, Any]) -> Notifier:
    notifier: Notifier = client.app[SERVICES].notifier
    return notifier


async def test_429_is_retried_after_exactly_retry_after(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    client = await make_client(outbox_max_attempts=3, outbox_retry_hours=0)
    rid = await _push(db, clock, "r:1", "你好")
    tg.fail("sendMessage", 429, retry_after=3)
    notifier = _notifier(client)
    await notifier.drain_once()
    [row] = await _rows(db)
    assert (row.status, row.attempts) == (OutboxStatus.pending, 1)
    assert row.next_attempt_at == clock.now() + timedelta(seconds=3)
    clock.advance(seconds=2.9)
    assert await notifier.drain_once() == 0
    clock.advance(seconds=0.1)
    assert await notifier.drain_once() == 1
    first, second = tg.times(chat=CHAT)
    assert second - first == timedelta(seconds=3)
    assert [m.text for m in tg.chat(CHAT)] == ["你好"]
    # a chat that keeps answering 429 is bounded by the attempt budget
    await _push(db, clock, "r:2", "还在吗")
    tg.fail("sendMessage", 429, retry_after=1, times=None)
    for _ in range(5):
        await notifier.drain_once()
        clock.advance(seconds=1)
    rows = await _rows(db)
    assert rows[0].id == rid and rows[1].status == OutboxStatus.dead and rows[1].attempts == 3


async def test_403_marks_unreachable_and_the_alert_falls_back_to_wechat(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub,
    stub: WeChatStub,
) -> None:
    pid = await _person(db, clock)
    client = await make_client(wechat_api_base=stub.url)
    await _alert(db, clock, pid, "alert:1")
    tg.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    await settle(client)
    first, copy = await _rows(db)
    assert (first.channel, first.status) == ("telegram", OutboxStatus.failed)
    assert (copy.channel, copy.fallback_of, copy.status) == ("wechat", first.id,
                                                             OutboxStatus.sent)
    assert [m.touser for m in stub.sent] == [OPENID] and tg.sent == []
    assert not (await _identity(db, "telegram")).reachable
    await _alert(db, clock, pid, "alert:2")  # the next alert goes straight to WeChat
    assert (await _rows(db))[-1].channel == "wechat"
    # writing to the bot again makes Telegram reachable (and, being preferred, used) again
    await TelegramUser(client, tg, CHAT).say("/menu")
    assert (await _identity(db, "telegram")).reachable
    await _alert(db, clock, pid, "alert:3")
    await settle(client)
    assert (await _rows(db))[-1].channel == "telegram" and "紧急" in tg.chat(CHAT)[-1].text


async def test_chat_not_found_fails_and_falls_back_other_400s_fail_for_good(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub,
    stub: WeChatStub,
) -> None:
    pid = await _person(db, clock)
    client = await make_client(wechat_api_base=stub.url)
    tg.fail("sendMessage", 400, "Bad Request: can't parse entities")
    await _push(db, clock, "r:1", "你好")
    await settle(client)
    [bad] = await _rows(db)
    assert bad.status == OutboxStatus.failed and "parse entities" in (bad.last_error or "")
    assert (await _identity(db, "telegram")).reachable  # our mistake, not the chat's
    tg.fail("sendMessage", 400, "Bad Request: chat not found")
    await _alert(db, clock, pid, "alert:1")
    await settle(client)
    rows = await _rows(db)
    assert [(r.channel, r.status) for r in rows[1:]] == [
        ("telegram", OutboxStatus.failed), ("wechat", OutboxStatus.sent)]
    assert not (await _identity(db, "telegram")).reachable


@pytest.mark.parametrize("fault", ["500", "502 html", "reset"])
async def test_server_and_network_errors_are_retried_with_backoff(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub, fault: str
) -> None:
    client = await make_client()
    await _push(db, clock, "r:1", "你好")
    {"500": lambda: tg.fail("sendMessage", 500), "reset": lambda: tg.reset("sendMessage"),
     "502 html": lambda: tg.fail_http("sendMessage", 502)}[fault]()
    notifier = _notifier(client)
    await notifier.drain_once()
    [row] = await _rows(db)
    assert (row.status, row.attempts) == (OutboxStatus.pending, 1)
    assert timedelta(seconds=7.5) <= row.next_attempt_at - clock.now() <= timedelta(seconds=15)
    assert await notifier.drain_once() == 0
    clock.set(row.next_attempt_at)
    await notifier.drain_once()
    assert (await _rows(db))[0].status == OutboxStatus.sent
    assert [m.text for m in tg.chat(CHAT)] == ["你好"]


async def test_per_chat_rate_limit_holds_rows_without_spending_attempts(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    client = await make_client(telegram_chat_rate=1.0, telegram_chat_burst=1.0)
    for i in range(5):
        await _push(db, clock, f"r:{i}", f"第{i}条")
    await _push(db, clock, "other", "别的聊天", chat=CHAT + 1)
    notifier = _notifier(client)
    for _ in range(30):
        await notifier.drain_once()
        clock.advance(seconds=0.25)
    times = tg.times(chat=CHAT)
    assert len(times) == 5
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(times))
    assert [m.text for m in tg.chat(CHAT)] == [f"第{i}条" for i in range(5)]  # in order
    assert tg.times(chat=CHAT + 1)[0] == times[0]  # another chat is not held back
    assert all(r.status == OutboxStatus.sent and r.attempts == 1 for r in await _rows(db))


async def test_global_rate_limit_spreads_a_burst_over_many_chats(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    rate, burst, n = 30.0, 5.0, 60
    client = await make_client(telegram_global_rate=rate, telegram_global_burst=burst)
    for i in range(n):
        await _push(db, clock, f"bulk:{i}", "本周提醒", chat=CHAT + i, kind="reminder")
    notifier = _notifier(client)
    for _ in range(40):
        await notifier.drain_once()
        if len(tg.sent) == n:
            break
        clock.advance(seconds=1 / 6)
    times: list[datetime] = tg.times()
    assert len(times) == n and len({m.chat_id for m in tg.sent}) == n
    for i in range(n):  # a token bucket: at most burst + rate × span in any stretch of time
        for j in range(i, n):
            span = (times[j] - times[i]).total_seconds()
            assert j - i + 1 <= burst + rate * span + 1e-6
    assert (times[-1] - times[0]).total_seconds() >= (n - burst) / rate - 1e-6
    assert all(r.attempts == 1 for r in await _rows(db))


async def test_long_reply_is_split_and_resumes_after_a_failure_without_repeats(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    client = await make_client(telegram_chat_rate=1.0, telegram_chat_burst=1.0)
    lines = [f"第{i:03d}行：" + "心桥" * 30 + "🧑‍🤝‍🧑" for i in range(150)]
    text = "\n".join(lines)
    assert len(text) > 2 * 4096
    await _push(db, clock, "long", text, choices=(Choice("menu", "主菜单"),))
    notifier = _notifier(client)
    await notifier.drain_once()  # part 1 goes, part 2 is held by the per-chat limit
    clock.advance(seconds=1)
    tg.fail("sendMessage", 500)  # part 2 fails once
    await notifier.drain_once()
    [row] = await _rows(db)
    assert row.attempts == 1 and row.payload["telegram_parts_sent"] == 1
    await settle(client, patience=60)
    parts = tg.chat(CHAT)
    assert len(parts) == 3
    assert all(len(p.text.encode("utf-16-le")) // 2 <= 4096 for p in parts)
    assert "\n".join(p.text for p in parts) == text  # cut at line breaks, nothing lost
    assert [p.buttons for p in parts] == [(), (), (("主菜单", "1|menu"),)]
    assert (await _rows(db))[0].status == OutboxStatus.sent


async def test_preferred_channel_is_chosen_in_chat_and_honoured_for_alerts(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub,
    stub: WeChatStub,
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "T02", "陈老师", now=clock.now(), code="WXYZ6789")
    client = await make_client(wechat_api_base=stub.url)
    settings = client.app[SERVICES].settings
    wechat = Dialog(db, settings, clock, OPENID, channel="wechat")
    assert "绑定成功" in await wechat.say("绑定 T02 WXYZ6789")
    user = TelegramUser(client, tg, CHAT)
    asked = await user.say("/bind T02 WXYZ6789")  # the code is spent: WeChat must say yes
    assert "确认" in asked[-1].text
    assert "已确认" in await wechat.say("是")  # the second binding keeps WeChat preferred
    await _alert(db, clock, pid, "alert:1")
    assert (await _rows(db))[-1].channel == "wechat"
    clock.advance(minutes=1)
    await wechat.say("你好")  # WeChat is the most recent too; preference is what decides next
    whoami = await user.say("我的信息")
    assert "提醒发送到：微信" in whoami[-1].text
    done = await user.tap("提醒发到这里")
    assert "以后的提醒会发到这里（Telegram）" in done[-1].text
    await _alert(db, clock, pid, "alert:2")
    await settle(client)
    assert (await _rows(db))[-1].channel == "telegram"
    assert "紧急：张三需要关注" in tg.chat(CHAT)[-1].text
    assert "提醒发到这里" not in [b for b, _ in (await user.say("我的信息"))[-1].buttons]


async def test_wechat_unfollowed_marks_unreachable_until_the_person_writes_again(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub,
    stub: WeChatStub,
) -> None:
    pid = await _person(db, clock, preferred="wechat")
    client = await make_client(wechat_api_base=stub.url)
    stub.fail("message/custom/send", 43004)
    await _alert(db, clock, pid, "alert:1")
    await settle(client)
    assert not (await _identity(db, "wechat")).reachable
    assert [r.channel for r in await _rows(db)] == ["wechat", "telegram"]
    assert "紧急" in tg.chat(CHAT)[-1].text
    settings = client.app[SERVICES].settings
    await Dialog(db, settings, clock, OPENID, channel="wechat").say("你好")
    assert (await _identity(db, "wechat")).reachable


async def test_a_kick_sends_replies_without_waiting_for_the_poll(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    client = await make_client(outbox_poll_seconds=30.0)
    notifier = _notifier(client)
    stop = asyncio.Event()
    loop = asyncio.create_task(notifier.run(stop))
    await asyncio.sleep(0.05)  # the loop drained nothing and now waits up to 30 s
    await _push(db, clock, "r:1", "马上到")
    notifier.kick()
    for _ in range(200):
        if tg.sent:
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.wait_for(loop, 2)
    assert [m.text for m in tg.sent] == ["马上到"]
