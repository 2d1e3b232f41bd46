"""待办 at scale and in detail: filters by college and class, pages of 50 with every item
counted, bulk 收到 that chat knows of, and the item's fields laid out on its page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.console_world import (
    ConsoleWorld,
    click,
    console_errors,
    console_world,
    dorm_report,
    sign_in,
)
from tests.headless import Page, phone
from xinqiao.clock import FakeClock
from xinqiao.services.escalation.engine import Subject
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Severity

pytestmark = pytest.mark.provisioned


async def _urgent(cw: ConsoleWorld, n: int, college_id: int, klass_id: int | None) -> None:
    """An urgent item (college and centre are told at once) about no particular student."""
    world = cw.world
    async with world.db.session() as s:
        await world.network.escalations.open(s, Subject(
            f"test:{college_id}:{klass_id}:{n}", "urgent", "紧急情况随时报", college_id, klass_id),
            Severity.urgent, world.clock.now())


async def _rows(page: Page) -> list[str]:
    texts: list[str] = await page.evaluate(
        "[...document.querySelectorAll('.items li')].map(li => li.innerText)")
    return texts


async def test_filters_by_college_and_class_narrow_the_list(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    campus = cw.world.campus
    await _urgent(cw, 1, campus.college_id, campus.klass_id)
    await _urgent(cw, 2, campus.college_id, campus.klass_id)
    await _urgent(cw, 3, campus.college_id, campus.other_klass_id)
    await _urgent(cw, 4, campus.other_college_id, None)
    async with phone(tmp_path / "p") as page:
        await cw.sign_in(page, "c1")  # the centre hears of every college's
        assert len(await _rows(page)) == 4
        colleges = await page.evaluate(
            "[...document.querySelectorAll('select[name=college] option')].map(o => o.text)")
        assert sorted(colleges) == ["信息工程学院", "全部", "经济管理学院"]
        # a college picked in place: the page comes back with that college's classes
        await page.evaluate(f"{{ const f = document.querySelector('.filters');"
                            f"f.college.value = '{campus.college_id}';"
                            "f.college.dispatchEvent(new Event('change', {bubbles: true})) }")
        options = "[...document.querySelectorAll('select[name=klass] option')].map(o => o.text)"
        for _ in range(300):  # up to 30 s: the machine may be busy
            if len(await page.evaluate(options)) == 3:
                break
            await asyncio.sleep(0.1)
        assert await page.evaluate(options) == ["全部", "软件2301", "软件2302"]
        assert len(await _rows(page)) == 3
        assert f"college={campus.college_id}" in await page.evaluate("location.search")
        assert await page.evaluate("document.querySelectorAll('.filters').length") == 1
        # The new form is live only once htmx has settled the swap and processed it; a change
        # dispatched before then reaches no handler (a person cannot pick that fast).
        busy = "!!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
        for _ in range(300):
            if not await page.evaluate(busy):
                break
            await asyncio.sleep(0.1)
        # a class picked in place: htmx swaps the list and keeps the address in step
        await page.evaluate(f"{{ const f = document.querySelector('.filters');"
                            f"f.klass.value = '{campus.other_klass_id}';"
                            "f.dispatchEvent(new Event('change', {bubbles: true})) }")
        for _ in range(300):  # up to 30 s: the machine may be busy
            if len(await _rows(page)) == 1:
                break
            await asyncio.sleep(0.1)
        rows = await _rows(page)
        assert len(rows) == 1 and "软件2302" in rows[0]
        assert f"klass={campus.other_klass_id}" in await page.evaluate("location.search")
        await page.open(cw.url(f"/console/?college={campus.other_college_id}"))
        assert len(await _rows(page)) == 1
        cards = await page.evaluate(
            "[...document.querySelectorAll('.card')].map(c => c.innerText.replace(/\\s+/g, ''))")
        assert cards == ["1未确认", "0已确认", "0无人确认", "0已处理"]
        assert console_errors(page) == []


async def test_a_long_queue_comes_in_pages_of_fifty_with_every_item_counted(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    campus = cw.world.campus
    for n in range(55):
        await _urgent(cw, n, campus.college_id, campus.klass_id)
    async with phone(tmp_path / "p", width=1280) as page:
        await sign_in(page, await cw.link("l2"))
        assert len(await _rows(page)) == 50
        cards = await page.evaluate(
            "[...document.querySelectorAll('.card')].map(c => c.innerText.replace(/\\s+/g, ''))")
        assert cards[0] == "55未确认"
        assert "第 1 / 2 页 · 共 55 项" in await page.evaluate("document.body.innerText")
        await click(page, ".pager a[rel=next]")
        assert "page=2" in await page.evaluate("location.search")
        assert len(await _rows(page)) == 5
        assert await page.evaluate("document.querySelector('.pager a[rel=next]')") is None


async def test_bulk_ack_on_the_page_is_the_ack_chat_knows(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    campus, world = cw.world.campus, cw.world
    await _urgent(cw, 1, campus.college_id, campus.klass_id)
    await _urgent(cw, 2, campus.college_id, campus.other_klass_id)
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("l2"))
        ids = await page.evaluate(
            "[...document.querySelectorAll('input[name=id]')].map(b => b.value)")
        assert len(ids) == 2
        await page.evaluate("document.querySelectorAll('input[name=id]')"
                            ".forEach(box => { box.checked = true })")
        await click(page, ".bulk button[type=submit]")
        assert "已确认 2 项" in await page.evaluate("document.body.innerText")
    for esc_id in ids:
        assert "已确认：学院心理辅导员赵老师" in await world.chat("c1").say(f"待办 D{esc_id}")
        assert "已经有人确认过了" in await world.chat("c1").say(f"收到 D{esc_id}")


async def test_the_item_page_lays_out_the_items_fields(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    esc_id = await dorm_report(cw.world)
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("t1"))
        await page.open(cw.url(f"/console/items/{esc_id}"))
        facts = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('.details dt')]"
            ".map(dt => [dt.innerText, dt.nextElementSibling.innerText]))")
        assert facts["状态"] == "待确认" and facts["当前在"]
        assert facts["涉及同学"].startswith("室友小吴（软件2301")
        assert facts["来源"].startswith("宿舍情况反映")
        assert "晚上一直哭" in " ".join(facts.values())
        assert "确认期限" in facts
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375
