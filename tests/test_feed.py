"""One entry point: the same message through WeChat's and Telegram's adapters is stored once
per channel and answered alike; the feed keeps its promises for every caller."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.dialog import Dialog
from tests.factories import add_person, bind, make_campus
from tests.telegram_stub import TelegramStub, text_update
from tests.telegram_user import SECRET, settle
from tests.wechat_server import WeChatServer, reply_content, text_xml
from xinqiao.bot.channels.telegram import SECRET_HEADER
from xinqiao.bot.feed import PUSH, WAIT, Arrival
from xinqiao.clock import FakeClock
from xinqiao.messages import Inbound
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import InboxMessage, InboxStatus, OutboxMessage, Role

CHAT = 778001


async def _rows(db: Database) -> list[InboxMessage]:
    async with db.session() as s:
        return list((await s.exec(select(InboxMessage).order_by(col(InboxMessage.id)))).all())


async def test_the_same_messages_through_wechat_and_telegram_get_the_same_replies(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    campus = await make_campus(db, clock.now())
    lin = await add_person(db, campus, "S1", "小林", Role.student, now=clock.now())
    await bind(db, lin, "wechat", "o-lin", clock.now())
    await bind(db, lin, "telegram", str(CHAT), clock.now())
    client = await make_client()
    wechat = WeChatServer(client, "testtoken")

    async def telegram(update: dict[str, Any]) -> None:
        resp = await client.post("/telegram", json=update, headers={SECRET_HEADER: SECRET})
        assert resp.status == 200
        await settle(client)

    # 菜单 takes the lean path on WeChat, the ordinary one on Telegram; "1" is ordinary on both.
    for n, text in enumerate(["菜单", "1"], 1):
        xml = text_xml("o-lin", text, msg_id=900 + n)
        update = text_update(CHAT, text, update_id=91000 + n)
        bodies = []
        for _ in range(2):  # each platform delivers it twice
            status, body = await wechat.post(xml)
            assert status == 200
            bodies.append(body)
            await telegram(update)
        assert reply_content(bodies[0]) and bodies[1] == "success"

    rows = await _rows(db)
    assert [(r.channel, r.status) for r in rows] == [
        ("wechat", InboxStatus.done), ("telegram", InboxStatus.done)] * 2
    # The replies the feed gave each channel are the same, message for message.
    by_channel = {c: [r.reply for r in rows if r.channel == c] for c in ("wechat", "telegram")}
    assert by_channel["wechat"] == by_channel["telegram"]
    assert [r.replied_passively for r in rows] == [True, False, True, False]
    menu, slots = (reply[0]["text"] for reply in by_channel["wechat"])  # type: ignore[index]
    assert "小林，你好！" in menu and "咨询时段" in slots
    # What the Telegram user saw is those replies, sent once each.
    sent = tg.chat(CHAT)
    assert [m.text for m in sent] == [menu, slots]
    assert sent[0].buttons[0][0] == "预约心理咨询"
    async with db.session() as s:
        pushed = (await s.exec(select(OutboxMessage.channel))).all()
    assert pushed == ["telegram", "telegram"]  # WeChat's were passive replies


async def test_a_wechat_message_answered_within_the_window_is_then_shown_as_a_passive_reply(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    lin = await add_person(db, campus, "S1", "小林", Role.student, now=clock.now())
    await bind(db, lin, "wechat", "o-lin", clock.now())
    client = await make_client()
    answer = await WeChatServer(client, "testtoken").say("o-lin", "1")  # ordinary path
    assert "咨询时段" in answer
    [row] = await _rows(db)
    assert row.replied_passively and row.status == InboxStatus.done


async def test_feeding_keeps_one_row_per_key_and_answers_a_redelivery_with_nothing(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat = Dialog(db, settings, clock, "console:S1")
    arrival = Arrival.message(Inbound("console", "console:S1", text="你好"), "k1")
    first = await chat.feed.feed(arrival, window=WAIT)
    again = await chat.feed.feed(arrival, window=WAIT)
    assert first.replies and not first.duplicate
    assert again.duplicate and again.row_id is None and again.replies is None
    assert len(await _rows(db)) == 1


async def test_with_no_reply_window_the_replies_become_pushes(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat = Dialog(db, settings, clock, "console:S1")
    kicked = asyncio.Event()
    chat.feed.kick = kicked.set
    fed = await chat.feed.feed(
        Arrival.message(Inbound("console", "console:S1", text="你好"), "k2"), window=PUSH)
    assert fed.replies is None and fed.row_id is not None
    # Processing runs in the background, then wakes the notifier.
    await asyncio.wait_for(kicked.wait(), 10)
    async with db.session() as s:
        pushed = (await s.exec(select(OutboxMessage))).all()
    [row] = await _rows(db)
    assert row.status == InboxStatus.done and not row.replied_passively
    assert pushed and all(p.address == "console:S1" for p in pushed)


async def test_what_is_no_conversation_is_kept_but_not_processed(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat = Dialog(db, settings, clock, "console:S1")
    fed = await chat.feed.feed(Arrival("console", "console:S1", "k3", None, kind="console.x",
                                       raw={"what": "a location"}))
    assert fed.replies is None
    [row] = await _rows(db)
    assert row.status == InboxStatus.ignored and row.payload == {"raw": {"what": "a location"}}

