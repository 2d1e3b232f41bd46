"""Start-up loads jieba and the crisis model off the event loop: the first content search
after start does not hold the loop for the second jieba takes to load, and a message that
comes before the warm-up ends waits for that one load instead of starting another (issue 18)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import jieba
import pytest

from tests.wechat_server import WeChatServer
from xinqiao.bot.app import SERVICES, build_app
from xinqiao.clock import FakeClock
from xinqiao.services.content import search
from xinqiao.services.crisis_language import detector as crisis_detector
from xinqiao.services.crisis_language import text as crisis_text
from xinqiao.settings import Settings


def _fresh_process() -> None:
    """As in a process just started: no jieba and no crisis model loaded yet."""
    search._load_tokenizer.cache_clear()
    crisis_text.TOKENIZER.forget()
    crisis_detector.PACKAGED.forget()


async def _warm_up_ends() -> None:
    for thread in [t for t in threading.enumerate() if t.name == "warm-up"]:
        await asyncio.to_thread(thread.join, 60)


async def test_the_first_content_search_after_start_does_not_hold_the_loop(
    aiohttp_client: Any, settings: Settings, clock: FakeClock
) -> None:
    _fresh_process()
    client = await aiohttp_client(build_app(settings, clock))  # background on, as `serve`
    await _warm_up_ends()
    assert search._load_tokenizer.cache_info().currsize == 1  # loaded by the warm-up
    assert crisis_text.TOKENIZER.built
    started = time.perf_counter()
    found = client.app[SERVICES].content.search("焦虑 失眠", clock.now())
    assert time.perf_counter() - started < 0.3
    assert found  # the packaged library has articles on both


async def test_a_message_during_the_warm_up_waits_for_its_one_load_of_jieba(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fresh_process()
    # The warm-up is slow today: every load off the loop waits until the test lets it go, so
    # the first message surely comes while jieba is still loading.
    loading = threading.Event()
    loads: list[tuple[str, int]] = []
    initialize = jieba.Tokenizer.initialize

    def slow_initialize(self: Any, dictionary: Any = None) -> Any:
        if not self.initialized:
            loads.append((threading.current_thread().name, id(self)))
            if threading.current_thread() is not threading.main_thread():
                loading.wait(30)
        return initialize(self, dictionary)

    monkeypatch.setattr(jieba.Tokenizer, "initialize", slow_initialize)
    # Loading jieba twice over on a busy machine can outlast WeChat's window: the reply is
    # then a push. A longer window keeps it passive, which is simpler to read here.
    cfg = settings.model_copy(update={"wechat_reply_budget_seconds": 60.0})
    client = await aiohttp_client(build_app(cfg, clock))
    try:
        wechat = WeChatServer(client, "testtoken")
        said = asyncio.create_task(wechat.say("o-early", "最近总是失眠，睡不着"))
        # Meanwhile the service answers (the loop is free), and the message waits.
        for _ in range(3):
            await asyncio.sleep(0.05)
            assert (await client.get("/healthz")).status == 200
        assert not said.done()
    finally:
        loading.set()
    reply = await asyncio.wait_for(said, 30)
    await _warm_up_ends()
    # One load for the crisis model's jieba and one for search's, both off the event loop:
    # the message did not load either a second time.
    assert len(loads) == 2 and len({ident for _, ident in loads}) == 2
    assert all(name != threading.main_thread().name for name, _ in loads)
    assert "睡" in reply  # the listening reply about sleep, with its article found
    assert "《" in reply
