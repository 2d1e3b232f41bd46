"""The console's 待办 in a real browser: scope, 404s, CSRF, the phone layout, and acks that
chat and the console both see."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from tests.console_world import (
    click,
    console_errors,
    console_world,
    dorm_report,
    fetch,
    item,
    sign_in,
    status_of,
)
from tests.headless import phone
from tests.network_world import add_other_college_lead
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.escalation.engine import Subject
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry
from xinqiao.storage.reports import Escalation, EscalationStatus, EscalationStep, Severity

pytestmark = pytest.mark.provisioned


async def test_the_queue_on_a_phone_shows_my_items_without_overflow_or_errors(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    first = await dorm_report(cw.world)
    async with phone(tmp_path / "p") as page:
        await cw.sign_in(page, "t1")
        text = await page.evaluate("document.body.innerText")
        assert f"D{first}" in text and "宿舍情况反映" in text and "软件2301" in text
        assert "晚上一直哭" not in text  # the list never shows a report's words
        assert "后升级至学院" in text  # the countdown to the next climb
        cards = await page.evaluate(
            "[...document.querySelectorAll('.card')].map(c => c.innerText.replace(/\\s+/g, ''))")
        assert cards == ["1未确认", "0已确认", "0无人确认", "0已处理"]
        for path in ("/console/", f"/console/items/{first}", "/console/account"):
            await page.open(cw.url(path))
            assert await page.evaluate("window.innerWidth") == 375
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{path} overflows: {width}px"
        assert await page.evaluate("typeof htmx") == "object"  # the vendored file loaded
        fetched = [u for u in page.requested() if not u.startswith("data:")]  # Chrome's icons
        assert all(u.startswith(cw.url("/")) for u in fetched), fetched
        assert console_errors(page) == []


async def test_another_colleges_lead_gets_404_and_the_look_is_audited(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    esc_id = await dorm_report(cw.world)
    await add_other_college_lead(cw.world)
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("x1"))
        assert f"D{esc_id}" not in await page.evaluate("document.body.innerText")
        for path in (f"/console/items/{esc_id}", "/console/items/999"):
            await page.open(cw.url(path))
            text = await page.evaluate("document.body.innerText")
            assert "没有找到" in text and "室友小吴" not in text, path
        assert await status_of(page, f"/console/items/{esc_id}") == 404
    async with db.session() as s:
        refused = list(await s.exec(select(AuditEntry).where(
            AuditEntry.actor_person_id == cw.world.ids["x1"],
            col(AuditEntry.allowed).is_(False))))
    assert refused and all(a.action == "report.read" for a in refused)


async def test_a_post_without_the_csrf_token_is_refused(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    esc_id = await dorm_report(cw.world)
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("t1"))
        assert await fetch(page, f"/console/items/{esc_id}/ack", "note=x") == 403
        assert await fetch(page, f"/console/items/{esc_id}/ack", "csrf=guess") == 403
        assert await fetch(page, "/console/logout", "") == 403
        assert (await item(cw.world, esc_id)).status == EscalationStatus.open
        await page.open(cw.url("/console/"))  # still signed in: the refused logout did nothing
        assert "待办" in await page.evaluate("document.body.innerText")
        token = await page.evaluate("document.querySelector('input[name=csrf]').value")
        assert await fetch(page, f"/console/items/{esc_id}/ack", f"csrf={token}") == 200
    assert (await item(cw.world, esc_id)).status == EscalationStatus.acked


async def test_an_ack_in_the_console_is_the_ack_chat_knows(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    world = cw.world
    esc_id = await dorm_report(world)
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("t1"))
        await page.open(cw.url(f"/console/items/{esc_id}"))
        text = await page.evaluate("document.body.innerText")
        assert "晚上一直哭" in text  # the advisor is one the dorm form shows its words to
        assert "推送给 辅导员王老师" in text  # the alert and its delivery in the timeline
        assert "后升级至学院" in text  # the countdown to the next climb
        await page.evaluate("document.querySelector('textarea[name=note]').value = '已约谈'")
        await click(page, "#ack")
        text = await page.evaluate("document.body.innerText")
        assert "已确认收到" in text and "辅导员王老师 确认收到" in text and "已约谈" in text
        assert "内须结案" in text
    esc = await item(world, esc_id)
    assert esc.status == EscalationStatus.acked and esc.acked_by == world.ids["t1"]
    assert "已确认：辅导员王老师" in await world.chat("t1").say(f"待办 D{esc_id}")
    # the deadline passes: the climb was stopped, so the college hears nothing
    clock.advance(days=2)
    await world.sweep()
    assert await world.push_texts("l1") == [] and await world.push_texts("l2") == []
    # and chat's 收到 now says it was already acknowledged
    assert "已经有人确认过了" in await world.chat("t1").say(f"收到 D{esc_id}")


async def test_an_ack_in_chat_shows_on_the_page(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    world = cw.world
    esc_id = await dorm_report(world)
    clock.set(datetime(2026, 9, 8, 9, 0, tzinfo=SHANGHAI))  # 8 working hours: the college
    await world.sweep()
    async with phone(tmp_path / "p", width=1280) as page:
        await sign_in(page, await cw.link("l1"))
        assert f"D{esc_id}" in await page.evaluate("document.body.innerText")
        assert "等我处理" in await page.evaluate("document.body.innerText")
        assert "已确认：辅导员王老师" not in await world.chat("l2").say(f"待办 D{esc_id}")
        assert "已确认" in await world.chat("l2").say(f"收到 D{esc_id}")
        await page.open(cw.url("/console/?status=acked"))
        text = await page.evaluate("document.body.innerText")
        assert f"D{esc_id}" in text and "须结案" in text
        await page.open(cw.url("/console/?mine=1"))  # acknowledged by someone else
        assert f"D{esc_id}" not in await page.evaluate("document.body.innerText")
        await page.open(cw.url(f"/console/items/{esc_id}"))
        text = await page.evaluate("document.body.innerText")
        assert "学院心理辅导员赵老师 确认收到" in text and "升级至学院" in text
        assert await page.evaluate("document.querySelector('#ack')") is None
    async with db.session() as s:
        steps = [st.action for st in await s.exec(select(EscalationStep).where(
            EscalationStep.escalation_id == esc_id).order_by(col(EscalationStep.id)))]
    assert steps[:4] == ["opened", "notified", "notified", "acked"]


async def test_bulk_ack_acknowledges_each_ticked_item_and_filters_narrow_the_list(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    world, campus = cw.world, cw.world.campus
    async with db.session() as s:
        for n, severity in enumerate((Severity.routine, Severity.soon, Severity.routine)):
            await world.network.escalations.open(s, Subject(
                f"test:{n}", "checkin", "班级心理晴雨表关注", campus.college_id, campus.klass_id,
                person_id=world.ids["s1"] if n == 0 else None), severity, clock.now())
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("t1"))
        # a filter changed in place: htmx swaps the list and keeps the address in step
        await page.evaluate("const f = document.querySelector('.filters');"
                            "f.severity.value = 'soon';"
                            "f.dispatchEvent(new Event('change', {bubbles: true}))")
        for _ in range(300):  # up to 30 s: the machine may be busy
            if await page.evaluate("document.querySelectorAll('.items li').length") == 1:
                break
            await asyncio.sleep(0.1)
        assert await page.evaluate("document.querySelectorAll('.items li').length") == 1
        assert "severity=soon" in await page.evaluate("location.search")
        assert await page.evaluate("document.querySelectorAll('.filters').length") == 1
        await page.open(cw.url("/console/"))
        assert await page.evaluate("document.querySelectorAll('.items li').length") == 3
        await page.evaluate("document.querySelectorAll('input[name=id]')"
                            ".forEach(box => { box.checked = true })")
        await click(page, ".bulk button[type=submit]")
        text = await page.evaluate("document.body.innerText")
        assert "已确认 3 项" in text
        cards = await page.evaluate(
            "[...document.querySelectorAll('.card')].map(c => c.innerText.replace(/\\s+/g, ''))")
        assert cards == ["0未确认", "3已确认", "0无人确认", "0已处理"]
    async with db.session() as s:
        acked = [e.acked_by for e in await s.exec(select(Escalation))]
    assert acked == [world.ids["t1"]] * 3
