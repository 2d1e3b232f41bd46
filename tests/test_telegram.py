"""Telegram in, over the wire: whole conversations by webhook and by polling, against the Bot
API stand-in; the secret, redeliveries, malformed bodies, a database outage, polling's start."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from tests.conftest import MakeClient
from tests.factories import add_person, make_campus
from tests.telegram_stub import TOKEN, Message, TelegramStub, sticker_update, text_update
from tests.telegram_user import SECRET, TelegramUser, labels, settle, texts
from xinqiao.bot.app import SERVICES, TELEGRAM, build_app
from xinqiao.bot.channels.telegram import SECRET_HEADER
from xinqiao.bot.channels.telegram_poll import TelegramPoller
from xinqiao.bot.channels.telegram_render import callback_data
from xinqiao.clock import FakeClock
from xinqiao.messages import choice_digest
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    ChannelIdentity,
    ConversationState,
    InboxMessage,
    OutboxMessage,
)
from xinqiao.storage.screening import ScreeningResult

CHAT = 777001


def clock_now() -> Any:
    """A timestamp for hand-made messages (the stub's own field; unused by the app)."""
    return FakeClock().now()



async def _student(db: Database, clock: FakeClock) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2026001", "林同学", now=clock.now(), code="ABCD2345")


async def _count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as s:
        return int((await s.exec(select(func.count()).select_from(model).where(*where))).one())


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_whole_conversation_bind_menu_screening_result(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub, mode: str
) -> None:
    await _student(db, clock)
    client = await make_client(telegram_mode=mode)
    user = TelegramUser(client, tg, CHAT, polling=mode == "polling")
    if mode == "polling":
        # a deep link from the activation slip binds in one step
        bound = await user.say("/start 2026001_ABCD2345")
        assert tg.calls["deleteWebhook"] == 1
    else:
        first = await user.say("/start")
        assert "请发送你的学号或工号" in texts(first) and labels(first) == ["紧急求助热线"]
        assert "激活码" in texts(await user.say("2026001"))
        bound = await user.say("abcd2345")
    assert "绑定成功" in texts(bound) and "心理测评" in labels(bound)
    assert "心理测评" in labels(await user.say("/menu"))
    assert "菜单" in texts(await user.say("/help@xq_bot"))

    consent = await user.tap("心理测评")
    assert "保密有一个例外" in texts(consent)
    assert labels(await user.tap("我已了解，同意开始"))[0].startswith("PHQ-9")
    item = await user.tap("GAD-7")
    assert labels(item) == ["完全不会", "好几天", "一半以上的天数", "几乎每天"]
    first_question = item[-1]
    second = await user.tap("完全不会", first_question)
    # tapping the first question's button again (a double tap) must not answer the second one
    stale = await user.tap("几乎每天", first_question)
    assert "过期" in texts(stale) and labels(stale) == labels(second)
    for _ in range(5):
        await user.tap("完全不会")
    done = await user.tap("完全不会")
    assert "完成" in texts(done)
    async with db.session() as s:
        [result] = (await s.exec(select(ScreeningResult))).all()
    assert (result.instrument, result.total) == ("gad7", 0)
    assert len(tg.answered) == len(set(tg.answered)) == 11  # every tap's spinner was stopped
    assert all(len(data.encode()) <= 64 for m in tg.sent for _, data in m.buttons)
    async with db.session() as s:
        replies = (await s.exec(select(OutboxMessage))).all()
    assert {r.kind for r in replies} == {"reply"} and all(r.status == "sent" for r in replies)


async def test_start_with_id_and_code_typed_with_a_space_binds(
    make_client: MakeClient, db: Database, clock: FakeClock, tg: TelegramStub
) -> None:
    await _student(db, clock)
    client = await make_client()
    user = TelegramUser(client, tg, CHAT)
    bound = await user.say("/start 2026001 abcd2345")  # copied off the slip by hand
    assert "绑定成功" in texts(bound) and "心理测评" in labels(bound)
    async with db.session() as s:
        identity = (await s.exec(select(ChannelIdentity))).one()
    assert identity.person_id is not None and identity.bound_at is not None


async def test_secret_mismatch_is_refused_and_nothing_stored(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    update = text_update(CHAT, "你好")
    for headers in ({}, {SECRET_HEADER: "wrong"}, {SECRET_HEADER: SECRET + "x"}):
        resp = await client.post("/telegram", json=update, headers=headers)
        assert resp.status == 401
    assert await _count(db, InboxMessage) == 0


async def test_duplicate_update_id_is_handled_once(
    make_client: MakeClient, db: Database, tg: TelegramStub
) -> None:
    client = await make_client()
    update = text_update(CHAT, "你好")
    headers = {SECRET_HEADER: SECRET}
    first = await client.post("/telegram", json=update, headers=headers)
    again = await asyncio.gather(*(client.post("/telegram", json=update, headers=headers)
                                   for _ in range(3)))
    assert [first.status, *(r.status for r in again)] == [200] * 4
    await settle(client)
    assert await _count(db, InboxMessage) == 1
    assert len(tg.chat(CHAT)) == 1 and "绑定" in tg.chat(CHAT)[0].text


async def test_malformed_bodies_are_400_not_500(make_client: MakeClient, db: Database) -> None:
    client = await make_client()
    for body in (b"", b"not json", b"[1, 2]", b'{"message": {}}', b'{"update_id": "x"}',
                 b"\xff\xfe", b'{"update_id": 1, "message": {"chat": 5}}'):
        resp = await client.post("/telegram", data=body, headers={
            SECRET_HEADER: SECRET, "Content-Type": "application/json"})
        assert resp.status == 400, body
    assert await _count(db, InboxMessage) == 0


async def test_database_down_answers_503_so_telegram_resends(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/none.db")
    resp = await client.post("/telegram", json=text_update(CHAT, "你好"),
                             headers={SECRET_HEADER: SECRET})
    assert resp.status == 503


async def test_unsupported_content_and_blocking_the_bot(
    make_client: MakeClient, db: Database, tg: TelegramStub
) -> None:
    client = await make_client()
    user = TelegramUser(client, tg, CHAT)
    await user.deliver(sticker_update(CHAT))
    assert "只能看懂文字" in tg.chat(CHAT)[-1].text
    await user.deliver({"update_id": 9_000_001, "my_chat_member": {
        "chat": {"id": CHAT, "type": "private"}, "date": 1,
        "from": {"id": CHAT, "is_bot": False, "first_name": "同学"},
        "old_chat_member": {"status": "member", "user": {"id": 1, "is_bot": True,
                                                         "first_name": "心桥"}},
        "new_chat_member": {"status": "kicked", "until_date": 0,
                            "user": {"id": 1, "is_bot": True, "first_name": "心桥"}}}})
    async with db.session() as s:
        ident = (await s.exec(select(ChannelIdentity))).one()
    assert not ident.reachable
    await user.say("/start")  # writing again makes the chat reachable again
    async with db.session() as s:
        assert (await s.exec(select(ChannelIdentity))).one().reachable


async def test_group_chats_are_kept_but_not_answered(
    make_client: MakeClient, db: Database, tg: TelegramStub
) -> None:
    client = await make_client()
    await TelegramUser(client, tg, -100).deliver(text_update(-100, "/start", chat_type="group"))
    assert tg.sent == [] and await _count(db, InboxMessage) == 1


async def test_polling_deletes_the_webhook_first_and_survives_a_crash_before_the_offset(
    make_client: MakeClient, db: Database, tg: TelegramStub
) -> None:
    tg.webhook = {"url": "https://old.example/telegram"}  # getUpdates answers 409 meanwhile
    client = await make_client(telegram_mode="polling")
    user = TelegramUser(client, tg, CHAT, polling=True)
    await user.say("你好")
    order = [c.method for c in tg.requests]
    assert order.index("deleteWebhook") < order.index("getUpdates")
    # A second process stores an update and dies before it confirms the offset: Telegram
    # serves it again, and the running poller must not handle it twice.
    intake = client.app[TELEGRAM].intake
    redelivered = text_update(CHAT, "帮助")
    bot = client.app[SERVICES].telegram_bot
    assert bot is not None
    dying = TelegramPoller(bot, intake, timeout=0)
    tg.push(redelivered)
    assert await dying.poll_once()
    await user.deliver(redelivered)  # the surviving poller sees it again, as a duplicate
    assert await _count(db, InboxMessage) == 2
    assert sum("菜单" in m.text or "绑定" in m.text for m in tg.chat(CHAT)[1:]) == 1


async def test_polling_conflict_is_reported_loudly(
    make_client: MakeClient, tg: TelegramStub, caplog: pytest.LogCaptureFixture
) -> None:
    client = await make_client(telegram_mode="polling")
    await TelegramUser(client, tg, CHAT, polling=True).say("你好")
    tg.webhook = {"url": "https://someone-else.example/"}  # set behind our back
    poller = client.app[TELEGRAM].poller
    assert poller is not None
    assert await poller.poll_once() is False
    assert any(r.levelno == logging.ERROR and "409" in r.getMessage() for r in caplog.records)


async def test_a_key_too_long_for_a_button_travels_as_its_digest(
    make_client: MakeClient, db: Database, tg: TelegramStub
) -> None:
    client = await make_client()
    user = TelegramUser(client, tg, CHAT)
    await user.say("/start")
    long_key = "flow:" + "x" * 80  # a flow that does not exist: the engine says so
    async with db.session() as s:
        ident = (await s.exec(select(ChannelIdentity))).one()
        state = await s.get(ConversationState, ident.id)
        assert state is not None
        state.choices = [[long_key, "很长的选项"]]
        turn = state.version
        s.add(state)
    data = callback_data(long_key, turn)
    assert len(data.encode()) <= 64 and data == f"{turn}|{choice_digest(long_key)}"
    mapped = await user.tap("很长", Message(CHAT, 1, "", (("很长的选项", data),), clock_now()))
    assert "暂时不可用" in texts(mapped)  # the digest came back as the key it stands for
    unknown = await user.tap("x", Message(CHAT, 1, "", (("x", f"{turn + 1}|#0000"),),
                                          clock_now()))
    assert "过期" in texts(unknown)  # a digest matching nothing offered is a stale button


async def test_serve_style_app_polls_and_answers_on_its_own(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, tg: TelegramStub
) -> None:
    cfg = settings.model_copy(update={
        "telegram_token": TOKEN, "telegram_api_base": tg.url, "telegram_mode": "polling",
        "telegram_poll_timeout_seconds": 1, "outbox_poll_seconds": 30.0})
    await aiohttp_client(build_app(cfg, clock))  # background loops on, as `xinqiao serve`
    tg.push(text_update(CHAT, "/start"))
    for _ in range(300):  # the poller stores it, processing kicks the notifier: no 30 s wait
        if tg.sent:
            break
        await asyncio.sleep(0.01)
    assert "学号" in tg.chat(CHAT)[0].text
    assert [c.method for c in tg.requests][:2] == ["deleteWebhook", "getUpdates"]


def test_settings_need_a_secret_for_the_webhook_and_nothing_without_a_token() -> None:
    with pytest.raises(ValueError, match="WEBHOOK_SECRET"):
        Settings(telegram_token=TOKEN, _env_file=None)
    assert not Settings(_env_file=None).telegram_enabled
    assert Settings(telegram_token=TOKEN, telegram_mode="polling", _env_file=None).telegram_enabled
