"""The console's 预约: a counsellor's week and today's list, marking through chat's own service
(a no-show marked on the page is the one chat sees, and back), encrypted notes with audited
reads, the centre's utilisation and waitlist, and the door and scope of chat's 今日预约."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from tests.booking_world import appointments, book_first, booking_world, sh
from tests.console_world import click, console_errors, sign_in_browser, sign_in_client
from tests.headless import phone
from tests.network_world import World
from xinqiao.bot.app import build_app
from xinqiao.clock import FakeClock
from xinqiao.services.booking.slots import SlotFilter
from xinqiao.services.booking.waitlist import join
from xinqiao.settings import Settings
from xinqiao.storage.booking import WaitStatus
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry


async def _world(db: Database, clock: FakeClock, settings: Settings) -> tuple[World, int]:
    """室友小吴 books 孙老师 (c1) Monday 14:00 in chat; it is now 14:20."""
    world = await booking_world(db, clock, settings, students=3)
    await book_first(world, "s1")
    [appt] = await appointments(world)
    clock.set(sh(9, 7, 14, 20))
    assert appt.id is not None
    return world, appt.id


async def _audits(db: Database, action: str) -> list[AuditEntry]:
    async with db.session() as s:
        return list(await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                 .order_by(col(AuditEntry.id))))


async def test_a_no_show_marked_on_the_page_is_the_one_chat_sees(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, appt_id = await _world(db, clock, settings)
    client = await aiohttp_client(build_app(settings, clock, background=False))
    csrf = await sign_in_client(world, client, "c1")
    page = await (await client.get("/console/booking")).text()
    assert "今天的预约（1）" in page and "室友小吴" in page and "一周排班" in page
    form = {"outcome": "no_show", "note": "电话未接通，下次先确认"}
    assert (await client.post(f"/console/booking/{appt_id}/mark", data=form)).status == 403
    assert (await appointments(world))[0].status == "booked"
    resp = await client.post(f"/console/booking/{appt_id}/mark", data={**form, "csrf": csrf})
    assert resp.status == 200 and "已记录爽约" in await resp.text()
    assert "电话未接通，下次先确认" in await resp.text()  # the note, read back (audited)
    [appt] = await appointments(world)
    assert appt.status == "no_show" and appt.marked_by == world.ids["c1"]
    async with db.engine.connect() as conn:  # the note is ciphertext at rest, as chat's
        raw = (await conn.execute(sa.text("SELECT note FROM appointment"))).scalar_one()
    assert raw.startswith("f1:") and "电话" not in raw
    assert "这次预约已释放" in (await world.push_texts("s1"))[-1]
    assert "14:00 室友小吴 · 爽约" in await world.chat("c1").say("今日预约")
    assert "备注：电话未接通" in await world.chat("c1").say("14:00 室友小吴") + \
        await world.chat("c1").say("查看备注")
    reads = await _audits(db, "booking.note.read")
    assert {(r.actor_person_id, r.subject_person_id) for r in reads} == {
        (world.ids["c1"], world.ids["s1"])}
    views = await _audits(db, "booking.view")
    assert [(v.actor_person_id, v.subject_person_id) for v in views] == [
        (world.ids["c1"], world.ids["s1"])]


async def test_attended_marked_in_chat_shows_on_the_page_and_notes_are_written_here(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, appt_id = await _world(db, clock, settings)
    desk = world.chat("c1")
    await desk.say("今日预约")
    await desk.say("14:00 室友小吴")
    await desk.say("已到访")
    assert "已记录到访" in await desk.say("跳过")
    client = await aiohttp_client(build_app(settings, clock, background=False))
    csrf = await sign_in_client(world, client, "c1")
    page = await (await client.get("/console/booking")).text()
    row = re.search(rf'id="appt-{appt_id}".*?</li>', page, re.S)
    assert row is not None and "已到访" in row.group(0) and "no_show-" not in row.group(0)
    resp = await client.post(f"/console/booking/{appt_id}/mark",
                             data={"outcome": "no_show", "csrf": csrf})
    assert "这个预约已经记录过了" in await resp.text()
    resp = await client.post(f"/console/booking/{appt_id}/note",
                             data={"note": "情绪平稳，下周复诊", "csrf": csrf})
    assert "备注已保存" in await resp.text() and "情绪平稳，下周复诊" in await resp.text()
    assert (await appointments(world))[0].status == "attended"
    await desk.say("今日预约")
    await desk.say("14:00 室友小吴")
    assert "备注：情绪平稳，下周复诊" in await desk.say("查看备注")  # chat reads the same note
    [wrote] = await _audits(db, "booking.note.write")
    assert wrote.subject_person_id == world.ids["s1"] and "情绪" not in str(wrote.detail)


async def test_the_door_and_scope_are_chats(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, appt_id = await _world(db, clock, settings)
    async with db.session() as s:  # s2 waits for a female counsellor; s3 is offered 15:00
        await join(s, world.network.policy, world.ids["s2"], SlotFilter(gender="female"),
                   clock.now())
        offered = await join(s, world.network.policy, world.ids["s3"], SlotFilter(),
                             clock.now())
        offered.status, offered.offered_counsellor_id = WaitStatus.offered, world.ids["c1"]
        offered.offered_start, offered.offer_expires_at = sh(9, 7, 15), sh(9, 7, 14, 50)
        s.add(offered)
    for who in ("t1", "l2"):  # an advisor, a college counsellor: no booking page at all
        client = await aiohttp_client(build_app(settings, clock, background=False))
        await sign_in_client(world, client, who)
        assert "/console/booking" not in await (await client.get("/console/")).text()
        assert (await client.get("/console/booking")).status == 404
    refused = await _audits(db, "flow.refused")
    assert {r.actor_person_id for r in refused} == {world.ids["t1"], world.ids["l2"]}
    # c2, another counsellor: c1's week as free/booked without the name, no acting on it
    other = await aiohttp_client(build_app(settings, clock, background=False))
    csrf = await sign_in_client(world, other, "c2")
    week = await (await other.get(f"/console/booking?c={world.ids['c1']}")).text()
    assert "已约" in week and "室友小吴" not in week and "今天的预约" not in week
    assert (await other.get(f"/console/booking/{appt_id}")).status == 404
    resp = await other.post(f"/console/booking/{appt_id}/mark",
                            data={"outcome": "no_show", "csrf": csrf})
    assert resp.status == 404 and (await appointments(world))[0].status == "booked"
    # the centre lead: every counsellor, utilisation and the waitlist
    lead = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, lead, "d1")
    page = await (await lead.get(f"/console/booking?c={world.ids['c1']}")).text()
    assert "室友小吴" in page and "1 / 6（17%）" in page and "0 / 6（0%）" in page
    assert "第 1 位" in page and "女老师" in page and "学生2号" not in page
    assert "15:00</time> 留给候补" in page and "已留位 中心孙老师 09-07 15:00" in page
    assert (await lead.get(f"/console/booking/{appt_id}")).status == 200


@pytest.mark.provisioned
async def test_the_booking_pages_on_a_phone(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    world, appt_id = await _world(db, clock, settings)
    server = await aiohttp_server(build_app(settings, clock, background=False))
    async with phone(tmp_path / "p") as page:
        await sign_in_browser(page, world, server, "c1")
        await page.open(str(server.make_url("/console/booking")))
        assert "今天的预约（1）" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await click(page, f"#no_show-{appt_id}")
        assert "已记录爽约" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        assert console_errors(page) == []
    assert (await appointments(world))[0].status == "no_show"
    assert "14:00 室友小吴 · 爽约" in await world.chat("c1").say("今日预约")
