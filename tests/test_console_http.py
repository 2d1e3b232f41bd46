"""The console over plain HTTP: cookie flags, headers, the 8-hour limit, foreign origins,
one use per link under a race, and resolve/notes reaching chat and the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from tests.console_world import CSRF, MONDAY_9, dorm_report, item, login_token
from tests.network_world import World, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.console import ConsoleSession
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry
from xinqiao.storage.reports import EscalationStatus


async def _setup(db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any,
                 **changes: Any) -> tuple[World, TestClient[Any, Any]]:
    cfg = settings.model_copy(update=changes)  # the chat and the pages see the same settings
    world = await make_world(db, clock, cfg, start=MONDAY_9)
    app = build_app(cfg, clock, background=False)
    return world, await aiohttp_client(app)


async def _sign_in(world: World, client: TestClient[Any, Any], who: str) -> str:
    """Sign in as ``who``; returns the CSRF token of the first page."""
    token = await login_token(world, who)
    assert (await client.get(f"/console/login?token={token}")).status == 200
    resp = await client.post("/console/login", data={"token": token})
    assert resp.status == 200 and str(resp.url).endswith("/console/")
    found = CSRF.search(await resp.text())
    assert found is not None
    return found.group(1)


async def test_the_cookie_and_headers_are_strict(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _setup(db, clock, settings, aiohttp_client,
                                 public_base_url="https://xinqiao.example.edu.cn")
    reply = await world.chat("t1").say("登录")
    assert "https://xinqiao.example.edu.cn/console/login?token=" in reply and "5 分钟" in reply
    token = await login_token(world, "t1")
    resp = await client.post("/console/login", data={"token": token}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/console/"
    cookie = resp.headers["Set-Cookie"]
    for flag in ("HttpOnly", "SameSite=Strict", "Secure", "Path=/console/"):
        assert flag in cookie, cookie
    page = await client.get("/console/")
    assert page.status == 401 and "请先登录" in await page.text()  # a Secure cookie: not on http
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["Cache-Control"] == "no-store"
    partial = await client.get("/console/", headers={"HX-Request": "true"})
    assert partial.status == 401 and partial.headers["HX-Refresh"] == "true"


async def test_eight_hours_end_a_session_however_busy(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _setup(db, clock, settings, aiohttp_client)
    await _sign_in(world, client, "t1")
    for _ in range(23):  # busy all day: a page every 20 minutes
        clock.advance(minutes=20)
        assert (await client.get("/console/")).status == 200
    clock.advance(minutes=20)  # 8 hours since the link was used
    resp = await client.get("/console/")
    assert resp.status == 401 and "登录已结束" in await resp.text()
    async with db.session() as s:
        assert (await s.exec(select(ConsoleSession))).one().end_reason == "expired"


async def test_a_page_refreshing_itself_does_not_keep_an_idle_session_alive(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _setup(db, clock, settings, aiohttp_client)
    await _sign_in(world, client, "t1")
    poll = {"HX-Request": "true", "HX-Trigger": "queue"}  # the list's own every-60s refresh
    for _ in range(2):
        clock.advance(minutes=14)
        assert (await client.get("/console/", headers=poll)).status == 200
    clock.advance(minutes=3)  # 31 minutes since the person last did anything
    resp = await client.get("/console/", headers={"HX-Request": "true"})
    assert resp.status == 401 and resp.headers["HX-Refresh"] == "true"


async def test_a_link_used_twice_at_once_opens_one_session(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _setup(db, clock, settings, aiohttp_client)
    token = await login_token(world, "t1")
    answers = await asyncio.gather(*(client.post("/console/login", data={"token": token},
                                                 allow_redirects=False) for _ in range(4)))
    assert sorted(a.status for a in answers) == [303, 401, 401, 401]
    async with db.session() as s:
        assert len(list(await s.exec(select(ConsoleSession)))) == 1


async def test_a_foreign_origin_is_refused_even_with_the_token(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _setup(db, clock, settings, aiohttp_client)
    esc_id = await dorm_report(world)
    csrf = await _sign_in(world, client, "t1")
    resp = await client.post(f"/console/items/{esc_id}/ack", data={"csrf": csrf},
                             headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    assert (await item(world, esc_id)).status == EscalationStatus.open


async def test_resolve_needs_a_note_and_reaches_chat_and_the_audit_trail(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _setup(db, clock, settings, aiohttp_client)
    esc_id = await dorm_report(world)
    csrf = await _sign_in(world, client, "t1")
    page = await client.get(f"/console/items/{esc_id}")
    assert page.status == 200 and "室友小吴" in await page.text()
    empty = await client.post(f"/console/items/{esc_id}/resolve", data={"csrf": csrf})
    assert "请写下处理情况" in await empty.text()
    assert (await item(world, esc_id)).status == EscalationStatus.open
    noted = await client.post(f"/console/items/{esc_id}/note",
                              data={"csrf": csrf, "note": "周三下午约谈"})
    assert "备注已保存" in await noted.text() and "周三下午约谈" in await noted.text()
    done = await client.post(f"/console/items/{esc_id}/resolve",
                             data={"csrf": csrf, "note": "已约谈，转介心理中心"})
    text = await done.text()
    assert "已结案" in text and "已约谈，转介心理中心" in text
    esc = await item(world, esc_id)
    assert esc.status == EscalationStatus.resolved and esc.resolved_by == world.ids["t1"]
    assert "已经结案" in await world.chat("t1").say(f"已处理 D{esc_id} 再次")
    listed = await client.get("/console/?status=resolved")
    assert f"D{esc_id}" in await listed.text()
    async with db.session() as s:
        entries = [(a.action, a.allowed) for a in await s.exec(
            select(AuditEntry).where(AuditEntry.actor_person_id == world.ids["t1"])
            .order_by(col(AuditEntry.id)))]
    assert ("console.login", True) in entries and ("report.read", True) in entries
    assert ("escalation.note", True) in entries and ("escalation.resolve", True) in entries
