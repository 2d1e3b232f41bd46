"""Generated input: the callback parser and the form runner never fail on anything typed."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.wechat_server import WeChatServer
from xinqiao.bot.channels.wechat import Rejected, WeChatWebhook, cdata
from xinqiao.bot.channels.wechat_auth import safe_parse
from xinqiao.handlers.form_answers import InvalidAnswer, parse
from xinqiao.handlers.form_spec import FormField, load_form
from xinqiao.handlers.forms import FormFlow
from xinqiao.messages import Reply

FORM = Path(__file__).parent / "data" / "wellbeing_form.toml"
TAGS = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content",
                        "MsgId", "Event", "EventKey", "Encrypt", "MsgID", "Status", "x"])
VALUES = st.one_of(st.text(max_size=40), st.sampled_from(
    ["text", "event", "subscribe", "CLICK", "TEMPLATESENDJOBFINISH", "image", "0", "-1"]))


@st.composite
def xml_bodies(draw: st.DrawFn) -> str:
    """Bodies shaped like WeChat's, with random fields, values and damage."""
    fields = draw(st.lists(st.tuples(TAGS, VALUES), max_size=8))
    inner = "".join(f"<{tag}>{cdata(value)}</{tag}>" for tag, value in fields)
    body = f"<xml>{inner}</xml>"
    damage = draw(st.sampled_from(["none", "cut", "prefix", "raw"]))
    if damage == "cut":
        body = body[: draw(st.integers(0, len(body)))]
    elif damage == "prefix":
        body = draw(st.text(max_size=10)) + body
    elif damage == "raw":
        body = draw(st.text(max_size=200))
    return body


@settings(max_examples=2000, deadline=None)
@given(xml_bodies())
def test_parsing_any_body_either_works_or_is_rejected(body: str) -> None:
    try:
        fields = safe_parse(body)
    except Rejected as rej:
        assert rej.status == 400
        return
    msg_type = str(fields.get("MsgType") or "").lower()
    sender = str(fields.get("FromUserName") or "")
    if msg_type and sender:
        key, kind, _ = WeChatWebhook._classify(fields, msg_type, sender)
        assert key and kind


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(xml_bodies(), min_size=1, max_size=5))
def test_the_callback_never_answers_500(
    bodies: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Signed requests with generated bodies through the real HTTP route; nothing in the log
    at ERROR level, no traceback."""
    from aiohttp.test_utils import TestClient, TestServer

    from xinqiao.bot.app import build_app
    from xinqiao.clock import FakeClock
    from xinqiao.settings import Settings
    from xinqiao.storage.db import Database
    from xinqiao.storage.migrate import upgrade

    db_file = tmp_path / "fuzz.db"

    async def run() -> None:
        url = f"sqlite+aiosqlite:///{db_file}"
        if not db_file.exists():
            db = Database(url)
            await upgrade(db)
            await db.dispose()
        app = build_app(Settings(database_url=url, wechat_token="t", _env_file=None),
                        FakeClock(), background=False)
        async with TestClient(TestServer(app)) as client:
            server = WeChatServer(client, "t")
            for body in bodies:
                resp = await client.post("/wechat", params=server.query(), data=body.encode())
                assert resp.status in (200, 400, 413), (resp.status, body)
                assert "Traceback" not in await resp.text()

    caplog.clear()
    caplog.set_level(logging.WARNING)
    asyncio.run(run())
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


SPEC = load_form(FORM)


@settings(max_examples=2000, deadline=None)
@given(field=st.sampled_from([f for f in SPEC.fields if f.kind.value != "person"]),
       text=st.text(max_size=80), choice=st.one_of(st.none(), st.text(max_size=12)))
def test_any_answer_is_taken_or_explained(field: FormField, text: str, choice: str | None
                                          ) -> None:
    class Inbound:
        def __init__(self) -> None:
            self.choice = choice
            self.text = text

    class Ctx:
        inbound = Inbound()
        person = None
        session: Any = None

    try:
        value = asyncio.run(parse(Ctx(), SPEC, field, text.strip()))  # type: ignore[arg-type]
    except InvalidAnswer as exc:
        assert str(exc)  # always tells the user how to answer
        return
    if field.kind.value == "number":
        assert isinstance(value, int)
        assert field.min is None or value >= field.min
        assert field.max is None or value <= field.max
    elif field.kind.value in ("single", "yesno"):
        allowed = {o.value for o in field.options} | {"yes", "no"}
        assert value in allowed
    elif field.kind.value == "multi":
        assert value and set(value) <= {o.value for o in field.options}
    else:
        assert isinstance(value, str) and 0 < len(value) <= field.max_length


async def _submitted(ctx: Any, answers: dict[str, Any]) -> tuple[Reply, ...]:
    return (Reply("已提交"),)


WORDS = st.sampled_from(["测试问卷", "菜单", "返回", "取消", "跳过", "帮助", "1", "2", "3", "9",
                         "是", "否", "30", "一般", "绑定", "绑定 s1 ABCD2345", "我的信息", "求助",
                         "重新开始", "继续上次", ""])


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(script=st.lists(st.one_of(WORDS, st.text(max_size=30)), min_size=1, max_size=25))
def test_any_conversation_always_answers_and_keeps_state_sound(
    script: list[str], tmp_path_factory: Any, sqlite_template: Path
) -> None:
    """Random turns through the real inbox and engine: every message is answered."""
    from tests.dialog import Dialog
    from tests.factories import add_person, bind, make_campus
    from xinqiao.clock import FakeClock
    from xinqiao.settings import Settings
    from xinqiao.storage.db import Database

    async def run() -> None:
        path = tmp_path_factory.mktemp("conv") / "c.db"
        shutil.copy(sqlite_template, path)  # migrated once per session
        url = f"sqlite+aiosqlite:///{path}"
        db = Database(url)
        clock = FakeClock()
        campus = await make_campus(db, clock.now())
        me = await add_person(db, campus, "s1", "张三", now=clock.now())
        await add_person(db, campus, "s2", "李四", now=clock.now())
        await bind(db, me, "console", "zhang", clock.now())
        flow = FormFlow(SPEC, _submitted)
        chat = Dialog(db, Settings(database_url=url, _env_file=None), clock, "zhang",
                      extra_flows=(flow,))
        try:
            for text in script:
                replies = await chat.send(text)  # raises if the message was not processed
                assert replies, f"no answer to {text!r}"
                clock.advance(minutes=7)
        finally:
            await db.dispose()

    asyncio.run(run())
