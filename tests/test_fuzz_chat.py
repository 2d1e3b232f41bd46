"""Generated input on both backends: the Telegram webhook, and conversations over real flows.

- ``POST /telegram`` with updates that are valid, damaged (wrong types, missing or foreign
  fields, random JSON, garbage bytes), huge, in any script, redelivered, with real and stale
  buttons, and a wrong secret now and then: never a 500 (nor a 503: the database is up), no
  ERROR or traceback in the log, and every stored update handled exactly once.
- A student (screening, booking), a committee member (check-in) and an informant (dorm
  report) type generated text and tap current, stale and invented buttons: after every step
  the stored conversation state loads and names a real flow, and the next message is answered.

``pytest tests/test_fuzz.py tests/test_fuzz_chat.py --hypothesis-show-statistics`` prints how
many examples each test tried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from itertools import count
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select

from tests.booking_world import booking_world
from tests.conftest import MakeClient
from tests.dialog import Dialog
from tests.factories import bind
from tests.telegram_stub import TelegramStub, callback_update, sticker_update, text_update
from tests.telegram_user import SECRET, settle
from xinqiao.bot.channels.telegram import MAX_BODY, SECRET_HEADER
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, ConversationState, InboxMessage, InboxStatus

BOUND_CHAT = 1001  # a committee member bound on Telegram; 1002, 1003 are strangers
WORDS = st.sampled_from(["菜单", "帮助", "返回", "取消", "1", "2", "3", "0", "是", "否", "/start",
                         "/menu", "/bind", "绑定", "晴雨表", "宿舍情况", "随时报", "心理测评",
                         "预约", "我的预约", "本周无异常", "我不想活了", "继续上次", "重新开始"])
# JSON may carry lone surrogates ("\ud800"), control characters and any script.
ODD = st.text(st.characters(categories=["Cs", "Cc", "Cf", "Lo", "So", "Zs"]), max_size=20)
TEXTS = st.one_of(WORDS, st.text(max_size=60), ODD,
                  st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=4),
                            st.integers(500, 3000)))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False), st.text(max_size=20))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=12), inner, max_size=3), max_leaves=12)
FIELDS = st.sampled_from(["update_id", "message", "callback_query", "my_chat_member", "text",
                          "chat", "from", "id", "data", "message_id", "date", "type"])
_update_ids = count(10_000, 100)


def _damage(update: dict[str, Any], draw: st.DrawFn) -> Any:
    """Break an update in one of the ways a proxy, a bug or an attacker might."""
    how = draw(st.sampled_from(["none", "set", "drop", "nested", "json", "wrap"]))
    inner = update.get("message") or update.get("callback_query") or update
    if how == "set":
        update[draw(FIELDS)] = draw(JSON)
    elif how == "drop" and update:
        update.pop(draw(st.sampled_from(sorted(update))))
    elif how == "nested" and isinstance(inner, dict) and inner:
        inner[draw(st.sampled_from(sorted(inner)))] = draw(JSON)
    elif how == "json":
        return draw(JSON)
    elif how == "wrap":
        return [update]
    return update


@st.composite
def _request(draw: st.DrawFn, buttons: list[tuple[int, str]], base: int
             ) -> tuple[bytes, dict[str, str]]:
    """One request body and its headers."""
    headers = {SECRET_HEADER: SECRET}
    if draw(st.integers(0, 30)) == 0:
        headers = draw(st.sampled_from([{}, {SECRET_HEADER: "wrong"}]))
    uid = base + draw(st.integers(0, 4))  # small range: redeliveries happen
    chat = draw(st.one_of(st.sampled_from([BOUND_CHAT, 1002, 1003]),
                          st.integers(-(2**63), 2**63)))
    shape = draw(st.sampled_from(["text", "text", "tap", "tap", "sticker", "garbage", "huge"]))
    if shape == "garbage":
        return draw(st.binary(max_size=200)), headers
    if shape == "huge":
        return b'{"update_id": 1, "message": "' + b"x" * (MAX_BODY + 10) + b'"}', headers
    if shape == "tap":  # a button the bot sent (the newest or an older, stale one), or not
        back = draw(st.integers(0, 40))
        invented = draw(st.tuples(st.integers(0, 5000), st.text(max_size=70)))
        message_id, data = buttons[-1 - back % len(buttons)] if buttons and back < 30 else invented
        update = callback_update(chat, data, message_id=message_id, update_id=uid)
    elif shape == "sticker":
        update = sticker_update(chat)
        update["update_id"] = uid
    else:
        update = text_update(chat, draw(TEXTS), update_id=uid)
    return json.dumps(_damage(update, draw)).encode(), headers


@pytest.fixture
async def tg_client(make_client: MakeClient, db: Database, clock: FakeClock,
                    settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    """The app on Telegram webhook mode, with a committee member bound to chat 1001."""
    world = await booking_world(db, clock, settings)
    await bind(db, world.ids["k1"], "telegram", str(BOUND_CHAT), clock.now())
    yield await make_client()


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_the_telegram_webhook_takes_anything_and_handles_each_update_once(
    data: st.DataObject, tg_client: TestClient[Any, Any], tg: TelegramStub, db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.clear()
    caplog.set_level(logging.WARNING)
    base = next(_update_ids)
    for _ in range(data.draw(st.integers(1, 4))):
        buttons = [(m.message_id, d) for m in tg.sent for _, d in m.buttons]
        body, headers = data.draw(_request(buttons, base))
        resp = await tg_client.post("/telegram", data=body, headers=headers)
        assert resp.status in (200, 400, 401, 413), (resp.status, body[:300])
    await settle(tg_client)
    async with db.session() as s:
        rows = list(await s.exec(select(InboxMessage).where(
            InboxMessage.channel == "telegram")))
    assert all(r.status in (InboxStatus.done, InboxStatus.ignored) for r in rows), [
        (r.status, r.error) for r in rows if r.status not in (InboxStatus.done,
                                                              InboxStatus.ignored)]
    assert all(r.attempts == 1 for r in rows if r.status == InboxStatus.done)
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


ROLES = {"s2": ["心理测评", "预约", "我的预约"], "k1": ["晴雨表"], "i1": ["宿舍情况"]}


async def _state(db: Database, address: str) -> ConversationState | None:
    async with db.session() as s:
        identity = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.channel == "console", ChannelIdentity.address == address))).one()
        return await s.get(ConversationState, identity.id)


@pytest.fixture
async def chats(db: Database, clock: FakeClock, settings: Settings
                ) -> dict[str, tuple[Dialog, list[tuple[int, list[str]]]]]:
    """A dialog per person, with the (turn, choice keys) of every reply they were given."""
    world = await booking_world(db, clock, settings)
    return {who: (world.chat(who), []) for who in ROLES}


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
async def test_conversations_over_real_flows_keep_a_sound_state(
    data: st.DataObject, chats: dict[str, tuple[Dialog, list[tuple[int, list[str]]]]],
    db: Database, clock: FakeClock,
) -> None:
    for _ in range(data.draw(st.integers(3, 12))):
        who = data.draw(st.sampled_from(sorted(ROLES)))
        chat, seen = chats[who]
        before = await _state(db, chat.address)
        version = before.version if before is not None else 0
        current = [c[0] for c in before.choices] if before is not None else []
        # The same draws every step: what is offered depends on the run, so pick by index.
        how = data.draw(st.sampled_from(["start", "text", "current", "stale", "invented"]))
        pick, text, invented = (data.draw(st.integers(0, 1000)), data.draw(TEXTS),
                                data.draw(st.text(max_size=20)))
        if how == "current" and current:
            replies = await chat.send(choice=current[pick % len(current)], turn=version)
        elif how == "stale" and seen:
            turn, keys = seen[-1 - pick % len(seen)]
            replies = await chat.send(choice=keys[pick % len(keys)], turn=turn)
        elif how == "invented":
            replies = await chat.send(choice=invented, turn=version)
        else:
            starts = ROLES[who]
            replies = await chat.send(starts[pick % len(starts)] if how == "start" else text)
        assert replies and all(r.text or r.choices for r in replies)
        state = await _state(db, chat.address)  # it loads (decrypts, parses) and is sound
        assert state is not None and state.version >= version
        assert state.flow is None or state.flow in chat.engine.flows, state.flow
        assert isinstance(state.data, dict) and isinstance(state.suspended, dict)
        assert all(len(c) == 2 and all(isinstance(x, str) for x in c) for c in state.choices)
        if replies[-1].choices:
            seen.append((state.version, [c.key for c in replies[-1].choices]))
        clock.advance(minutes=data.draw(st.sampled_from([0, 1, 7, 45])))
    for chat, _ in chats.values():  # whatever happened, the menu still answers
        menu = await chat.send("菜单")
        assert menu and menu[-1].choices


@pytest.mark.parametrize(("sent", "stored"), [
    ("我想预约\udc9f", "我想预约\ufffd"), ("我想预约\x00", "我想预约\ufffd"),
    ("yuyue\x00", "yuyue\ufffd")])
async def test_unstorable_characters_are_stored_as_a_replacement_character(
    db: Database, clock: FakeClock, settings: Settings, sent: str, stored: str
) -> None:
    """Found by the fuzzer: a lone surrogate (a terminal's undecodable byte, a JSON escape of
    half a pair) or a NUL (PostgreSQL text cannot hold it) made every write of the message
    fail; now it is answered like any text."""
    world = await booking_world(db, clock, settings)
    chat = world.chat("s2")
    replies = await chat.send(sent)
    assert replies and replies[-1].choices
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage).order_by(col(InboxMessage.id).desc()))).first()
    assert row is not None and row.payload["inbound"]["text"] == stored
