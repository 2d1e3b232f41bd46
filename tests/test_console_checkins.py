"""The console's 晴雨表: the class × week grid in my scope, missing classes marked, and 提醒 that
sends the scheduler's reminder to the committee member once per week."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from tests.console_world import CSRF, click, console_errors, sign_in_browser, sign_in_client
from tests.headless import phone
from tests.network_world import World, add_other_college_lead, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Klass
from xinqiao.storage.reports import Escalation, EscalationStep

FRIDAY_0000 = datetime(2026, 10, 30, 0, 0, tzinfo=SHANGHAI)  # due Fri 17:00, no key period
FRIDAY_18 = datetime(2026, 10, 30, 18, 0, tzinfo=SHANGHAI)
MONDAY = "2026-10-26"


async def _friday(db: Database, clock: FakeClock, settings: Settings) -> World:
    """软件2301 sends its check-in, 软件2302 and 国贸2301 (the other college) do not."""
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    async with db.session() as s:
        s.add(Klass(college_id=world.campus.other_college_id, name="国贸2301"))
    await add_other_college_lead(world)
    await world.chat("k1").say("晴雨表")
    await world.chat("k1").say("1")
    await world.start_jobs()
    for hour in (0, 17, 18):
        clock.set(FRIDAY_0000.replace(hour=hour, minute=5 if hour == 0 else 0))
        await world.sweep()
    return world


def _grid(html: str) -> dict[str, list[str]]:
    """Row name → the cells' states, from the page."""
    rows = {}
    for row in re.findall(r"<tr id=\"row-\d+\">(.*?)</tr>", html, re.S):
        name = re.sub(r"<[^>]+>", "", re.search(r"<th scope=\"row\">(.*?)</th>", row,
                                                re.S).group(1)).strip()  # type: ignore[union-attr]
        rows[name] = re.findall(r'class="cell-(\w+)"', row)
    return rows


async def test_each_person_sees_their_classes_by_week_with_the_missing_marked(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _friday(db, clock, settings)
    client = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, client, "l1")
    page = await (await client.get("/console/checkins")).text()
    grid = _grid(page)
    assert set(grid) == {"软件2301信息工程学院", "软件2302信息工程学院"}  # not 国贸2301
    assert grid["软件2301信息工程学院"][0] == "ok" and grid["软件2302信息工程学院"][0] == "missing"
    assert "本期未交：软件2302" in page
    await client.post("/console/logout", data={"csrf": CSRF.search(page).group(1)})  # type: ignore[union-attr]
    await sign_in_client(world, client, "t1")  # the advisor of 软件2301 only
    assert set(_grid(await (await client.get("/console/checkins")).text())) == {
        "软件2301信息工程学院"}
    other = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, other, "x1")
    assert set(_grid(await (await other.get("/console/checkins")).text())) == {
        "国贸2301经济管理学院"}
    info = world.campus.college_id
    assert (await other.get(f"/console/checkins?college={info}")).status == 404
    centre = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, centre, "d1")
    overview = await (await centre.get("/console/checkins")).text()
    assert _grid(overview)["信息工程学院"][0] == "missing" and ">1/2" in overview
    drill = _grid(await (await centre.get(f"/console/checkins?college={info}")).text())
    assert set(drill) == {"软件2301", "软件2302"}


async def test_remind_sends_the_committee_reminder_once_a_week(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _friday(db, clock, settings)
    client = await aiohttp_client(build_app(settings, clock, background=False))
    csrf = await sign_in_client(world, client, "l1")
    assert len(await world.pushes("k2")) == 1  # the scheduler's reminder at 17:00
    k2_class = world.campus.other_klass_id
    form = {"klass": str(k2_class), "week": MONDAY}
    assert (await client.post("/console/checkins/remind", data=form)).status == 403
    assert len(await world.pushes("k2")) == 1
    resp = await client.post("/console/checkins/remind", data={**form, "csrf": csrf})
    assert resp.status == 200 and "已提醒该班的心理委员" in await resp.text()
    pushes = await world.pushes("k2")
    assert len(pushes) == 2
    again = pushes[-1].payload["reply"]
    assert "再次提醒" in again["text"] and "本周无异常" in again["text"]
    assert [k for k, _ in again["choices"]] == ["flow:checkin_none", "flow:checkin"]
    clock.set(FRIDAY_18.replace(minute=20))
    resp = await client.post("/console/checkins/remind", data={**form, "csrf": csrf})
    assert "本周已经提醒过" in await resp.text()
    assert len(await world.pushes("k2")) == 2
    async with db.session() as s:
        steps = (await s.exec(select(EscalationStep).join(
            Escalation, col(Escalation.id) == EscalationStep.escalation_id).where(
            Escalation.klass_id == k2_class, EscalationStep.action == "nudged"))).all()
        audits = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "checkin.nudged"))).all()
    assert [st.actor_person_id for st in steps] == [world.ids["l1"]] and len(audits) == 1
    # the advisor of 软件2301 cannot chase 软件2302: out of scope is 404, nothing sent
    advisor = await aiohttp_client(build_app(settings, clock, background=False))
    t1 = await sign_in_client(world, advisor, "t1")
    assert (await advisor.post("/console/checkins/remind",
                               data={**form, "week": "2026-11-02", "csrf": t1})).status == 404
    assert len(await world.pushes("k2")) == 2


@pytest.mark.provisioned
async def test_the_grid_on_a_phone_without_overflow_or_errors(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    world = await _friday(db, clock, settings)
    server = await aiohttp_server(build_app(settings, clock, background=False))
    async with phone(tmp_path / "p") as page:
        await sign_in_browser(page, world, server, "l1")
        await page.open(str(server.make_url("/console/checkins")))
        text = await page.evaluate("document.body.innerText")
        assert "本期未交：软件2302" in text and "国贸2301" not in text
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await click(page, "form.remind button")
        assert "已提醒该班的心理委员" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        assert console_errors(page) == []
    assert len(await world.pushes("k2")) == 2
