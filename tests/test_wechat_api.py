"""The WeChat client against a local stub: one shared token, bounded retries, timeouts, menus."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_http import ErrorKind, WeChatAPIError, classify
from xinqiao.bot.channels.wechat_menu import (
    MenuButton,
    MenuError,
    build_menu,
    load_wechat_menu,
    sync_menu,
)
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import Notifier
from xinqiao.clock import FakeClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AccessToken

SEND = "message/custom/send"


@pytest.fixture
def wsettings(settings: Settings, stub: WeChatStub) -> Settings:
    """Settings pointing the client at the stub."""
    return settings.model_copy(
        update={"wechat_api_base": stub.url, "wechat_api_timeout_seconds": 2.0}
    )


@pytest.fixture
async def api(db: Database, wsettings: Settings, clock: FakeClock) -> AsyncIterator[WeChatAPI]:
    """A started client."""
    async with WeChatAPI(db, wsettings, clock) as client:
        yield client


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (-1, ErrorKind.retryable), (40001, ErrorKind.token), (40014, ErrorKind.token),
        (42001, ErrorKind.token), (40003, ErrorKind.permanent), (43004, ErrorKind.permanent),
        (43101, ErrorKind.permanent), (45015, ErrorKind.fallback), (45047, ErrorKind.fallback),
        (40037, ErrorKind.permanent), (47003, ErrorKind.permanent), (41001, ErrorKind.permanent),
        (45009, ErrorKind.quota), (40164, ErrorKind.fatal), (48001, ErrorKind.fatal),
        (48006, ErrorKind.fatal), (40013, ErrorKind.fatal), (40125, ErrorKind.fatal),
        (99999, ErrorKind.retryable),
    ],
)
def test_error_codes_are_classified(code: int, kind: ErrorKind) -> None:
    assert classify(code) is kind


async def test_o1_concurrent_callers_share_one_fetch(
    api: WeChatAPI, stub: WeChatStub, db: Database, wsettings: Settings
) -> None:
    stub.stall("stable_token", 0.2)  # widen the race window
    tokens = await asyncio.gather(*(api.tokens.get() for _ in range(20)))
    assert stub.calls["stable_token"] == 1
    assert set(tokens) == {stub.issued_tokens[0]}
    async with db.session() as s:
        row = await s.get(AccessToken, wsettings.wechat_appid)
        assert row is not None and row.token == tokens[0] and row.fetch_count == 1


async def test_o1_two_processes_share_one_fetch(
    db: Database, db_url: str, wsettings: Settings, clock: FakeClock, stub: WeChatStub
) -> None:
    other_db = Database(db_url)  # a second engine and pool: another process as far as locks go
    try:
        async with WeChatAPI(db, wsettings, clock) as one, \
                WeChatAPI(other_db, wsettings, clock) as two:
            stub.stall("stable_token", 0.3)
            tokens = await asyncio.gather(
                *(api.tokens.get() for api in (one, two) for _ in range(5))
            )
            assert stub.calls["stable_token"] == 1
            assert len(set(tokens)) == 1
            # The stored row exists now; both refresh it near expiry: still one fetch.
            clock.advance(seconds=7200 - 4 * 60)
            stub.stall("stable_token", 0.3)
            await asyncio.gather(one.tokens.get(), two.tokens.get())
            assert stub.calls["stable_token"] == 2
            tokens = [await one.tokens.get(), await two.tokens.get()]
            assert tokens[0] == tokens[1] == stub.issued_tokens[1]
        # A restarted process reads the stored token instead of fetching.
        async with WeChatAPI(other_db, wsettings, clock) as three:
            assert await three.tokens.get() == tokens[0]
        assert stub.calls["stable_token"] == 2
    finally:
        await other_db.dispose()


async def test_o2_refreshes_five_minutes_early_and_keeps_old_token_meanwhile(
    api: WeChatAPI, stub: WeChatStub, clock: FakeClock
) -> None:
    first = await api.tokens.get()
    clock.advance(seconds=7200 - 6 * 60)  # six minutes left: still fine
    assert await api.tokens.get() == first
    assert stub.calls["stable_token"] == 1
    clock.advance(minutes=2)  # four minutes left: refresh now
    stub.stall("stable_token", 0.3)
    refreshing = asyncio.create_task(api.tokens.get())
    await asyncio.sleep(0.05)
    assert await asyncio.wait_for(api.tokens.get(), 0.1) == first  # no queueing behind it
    second = await refreshing
    assert second != first and stub.calls["stable_token"] == 2
    await api.send_custom_text("openid-1", "你好")
    assert stub.requests[-1].token == second


@pytest.mark.parametrize("code", [40001, 40014, 42001])
async def test_o3_token_error_refreshes_once_and_resends(
    api: WeChatAPI, stub: WeChatStub, code: int
) -> None:
    await api.send_custom_text("openid-1", "第一条")
    stub.fail(SEND, code)
    await api.send_custom_text("openid-1", "第二条")
    assert stub.calls["stable_token"] == 2
    refresh = [c for c in stub.requests if c.endpoint == "stable_token"][-1]
    assert refresh.body["force_refresh"] is True  # normal mode would return the bad token
    assert stub.calls[SEND] == 3
    assert [m.body["text"]["content"] for m in stub.sent] == ["第一条", "第二条"]


async def test_o3_invalidating_a_token_that_is_not_current_changes_nothing(
    api: WeChatAPI, stub: WeChatStub
) -> None:
    token = await api.tokens.get()
    await api.tokens.invalidate("an-older-token")
    assert await api.tokens.get() == token
    assert stub.calls["stable_token"] == 1


async def test_o4_persistent_token_error_is_bounded(
    api: WeChatAPI, stub: WeChatStub, caplog: pytest.LogCaptureFixture
) -> None:
    stub.fail(SEND, 40001, times=None)
    for n in (1, 2):
        with pytest.raises(WeChatAPIError) as err:
            await api.send_custom_text("openid-1", "你好")
        assert err.value.kind is ErrorKind.token
        assert stub.calls[SEND] == 2 * n  # one send, one resend
        assert stub.calls["stable_token"] == 1 + n  # one refresh per failed call
    forced = [c.body["force_refresh"] for c in stub.requests if c.endpoint == "stable_token"]
    assert forced == [False, True, False]  # force_refresh at most once per 30 s
    assert any(r.levelno == logging.ERROR and "fresh access token" in r.getMessage()
               for r in caplog.records)
    assert stub.sent == []


async def test_o5_ip_whitelist_error_is_fatal_without_retry(
    api: WeChatAPI, stub: WeChatStub, caplog: pytest.LogCaptureFixture
) -> None:
    stub.fail("stable_token", 40164, times=None)
    with pytest.raises(WeChatAPIError) as err:
        await api.send_custom_text("openid-1", "你好")
    assert err.value.kind is ErrorKind.fatal and err.value.code == 40164
    assert stub.calls["stable_token"] == 1 and stub.calls[SEND] == 0
    assert any(r.levelno == logging.ERROR and "40164" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("fault", ["errcode -1", "http 502", "http 503", "reset"])
async def test_o6_transient_failures_are_retryable(
    api: WeChatAPI, stub: WeChatStub, fault: str
) -> None:
    await api.tokens.get()
    if fault == "errcode -1":
        stub.fail(SEND, -1)
    elif fault == "reset":
        stub.reset(SEND)
    else:
        stub.fail_http(SEND, int(fault.split()[1]))
    with pytest.raises(WeChatAPIError) as err:
        await api.send_custom_text("openid-1", "你好")
    assert err.value.kind is ErrorKind.retryable
    assert stub.calls[SEND] == 1  # the client never retries on its own: the outbox does
    await api.send_custom_text("openid-1", "你好")
    assert len(stub.sent) == 1


async def test_o7_a_silent_server_times_out_at_the_configured_time(
    db: Database, wsettings: Settings, clock: FakeClock, stub: WeChatStub
) -> None:
    quick = wsettings.model_copy(update={"wechat_api_timeout_seconds": 0.5})
    async with WeChatAPI(db, quick, clock) as api:
        await api.tokens.get()
        stub.stall(SEND, 30)
        started = time.monotonic()
        with pytest.raises(WeChatAPIError) as err:
            await api.send_custom_text("openid-1", "你好")
        assert 0.4 < time.monotonic() - started < 2.0
        assert err.value.kind is ErrorKind.retryable


async def test_o8_template_retry_after_timeout_delivers_once(
    db: Database, wsettings: Settings, clock: FakeClock, stub: WeChatStub
) -> None:
    quick = wsettings.model_copy(update={"wechat_api_timeout_seconds": 0.3})
    data = {"thing1": {"value": "危机预警"}}
    async with WeChatAPI(db, quick, clock) as api:
        stub.stall("message/template/send", 2, deliver=True)  # delivered, answer lost
        with pytest.raises(WeChatAPIError):
            await api.send_template("openid-1", "TPL", data, None, "alert:42")
        clock.advance(seconds=30)
        msgid = await api.send_template("openid-1", "TPL", data, None, "alert:42")
    assert stub.calls["message/template/send"] == 2
    assert [m.msgid for m in stub.sent] == [int(msgid)]


async def test_o17_secrets_never_reach_the_logs(
    db: Database, wsettings: Settings, clock: FakeClock, stub: WeChatStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    aes_key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    cfg = wsettings.model_copy(update={
        "wechat_aes_key": aes_key, "wechat_api_timeout_seconds": 0.3,
        "wechat_alert_template_id": "TPL",
    })
    async with WeChatAPI(db, cfg, clock) as api:
        notifier = Notifier(db, clock, cfg, {"wechat": WeChatSender(api, cfg)})
        faults: list[Callable[[], None]] = [
            lambda: stub.fail(SEND, 40001), lambda: stub.fail_http(SEND, 502),
            lambda: stub.reset(SEND), lambda: stub.stall(SEND, 5),
            lambda: stub.fail(SEND, 40001, times=2), lambda: stub.fail(SEND, 47003),
        ]
        for i, inject in enumerate(faults):
            inject()
            async with db.session() as s:
                await enqueue(s, key=f"k{i}", channel="wechat", address=f"o{i}", kind="reply",
                              payload={"reply": Reply("你好").to_json()}, now=clock.now())
            await notifier.drain_once()
        stub.revoke_tokens()
        await api.tokens.invalidate(await api.tokens.get())
        stub.fail("stable_token", 40164)
        with pytest.raises(WeChatAPIError):
            await api.send_custom_text("o", "x")
    secrets = [cfg.wechat_secret, aes_key, *stub.issued_tokens]
    assert len(stub.issued_tokens) >= 2 and caplog.records
    for record in caplog.records:
        # aiosqlite's own DEBUG lines echo SQL parameters (the stored token): deployments keep
        # that logger at INFO or above, so only its DEBUG output is out of scope here.
        if record.name.startswith("aiosqlite") and record.levelno < logging.INFO:
            continue
        text = record.getMessage() + (record.exc_text or "") + str(record.exc_info or "")
        for secret in secrets:
            assert secret not in text, record.getMessage()


# --- the menu -----------------------------------------------------------------------------


async def test_default_menu_loads_and_syncs_unescaped(api: WeChatAPI, stub: WeChatStub) -> None:
    menu = load_wechat_menu()
    assert [b["name"] for b in menu["button"]] == ["心理服务", "我要上报", "我的"]
    keys = [s["key"] for b in menu["button"] for s in b["sub_button"]]
    assert keys == ["flow:booking", "flow:screening", "flow:education", "flow:crisis_help",
                    "flow:urgent_report", "flow:whoami", "menu", "help"]
    await sync_menu(api, menu)
    assert stub.menus == [menu]
    call = next(c for c in stub.requests if c.endpoint == "menu/create")
    assert "心理服务" in call.raw  # UTF-8, not \\u escapes WeChat would show literally


@pytest.mark.parametrize(
    ("items", "problem"),
    [
        ([MenuButton(f"菜单{i}", key=f"k{i}") for i in range(4)], "top buttons"),
        ([MenuButton("多", sub=tuple(MenuButton(f"子{i}", key="k") for i in range(6)))],
         "sub buttons"),
        ([MenuButton("心理健康服务台", key="k")], "bytes"),  # 7 characters = 21 bytes
        ([MenuButton("服务", sub=(MenuButton("长" * 21, key="k"),))], "bytes"),
        ([MenuButton("服务", key="k", sub=(MenuButton("子", key="k"),))], "no key"),
        ([MenuButton("服务")], "exactly one"),
        ([MenuButton("服务", url="javascript:alert(1)")], "http"),
    ],
)
def test_menu_limits_are_enforced(items: list[MenuButton], problem: str) -> None:
    with pytest.raises(MenuError, match=problem):
        build_menu(items)


def test_menu_file_with_unknown_fields_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "menu.toml"
    path.write_text('[[button]]\nname = "帮助"\nkye = "help"\n', encoding="utf-8")
    with pytest.raises(MenuError, match="unknown"):
        load_wechat_menu(path)
