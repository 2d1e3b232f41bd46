"""Start-up loads jieba and the crisis model off the event loop: the first content search
after start does not hold the loop for the second jieba takes to load (issue 18)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from xinqiao.bot.app import SERVICES, build_app
from xinqiao.clock import FakeClock
from xinqiao.services import crisis_text
from xinqiao.services.content import search
from xinqiao.settings import Settings


async def test_the_first_content_search_after_start_does_not_hold_the_loop(
    aiohttp_client: Any, settings: Settings, clock: FakeClock
) -> None:
    # As in a fresh process: nothing of jieba loaded yet.
    search._tokenizer.cache_clear()
    crisis_text.tokenizer.cache_clear()
    client = await aiohttp_client(build_app(settings, clock))  # background on, as `serve`
    for thread in [t for t in threading.enumerate() if t.name == "warm-up"]:
        await asyncio.to_thread(thread.join, 60)
    assert search._tokenizer.cache_info().currsize == 1  # loaded by the warm-up
    assert crisis_text.tokenizer.cache_info().currsize == 1
    started = time.perf_counter()
    found = client.app[SERVICES].content.search("焦虑 失眠", clock.now())
    assert time.perf_counter() - started < 0.3
    assert found  # the packaged library has articles on both
