"""Signing in to the staff console with a link from chat, in a real browser.

A link works once, for five minutes, for the person who asked; students and strangers get
none; a session ends after 30 idle minutes, 8 hours, logout, revocation or unbind.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from tests.console_world import click, console_world, sign_in
from tests.headless import phone
from xinqiao.clock import FakeClock
from xinqiao.services.binding import unbind
from xinqiao.settings import Settings
from xinqiao.storage.console import ConsoleLoginToken, ConsoleSession
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry

pytestmark = pytest.mark.provisioned


async def test_a_link_signs_in_once_and_is_refused_the_second_time(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    link = await cw.link("t1")
    async with phone(tmp_path / "p") as page:
        await page.open(cw.url("/console/"))
        assert "请先登录" in await page.evaluate("document.body.innerText")
        await sign_in(page, link)
        assert await page.evaluate("location.pathname") == "/console/"
        text = await page.evaluate("document.body.innerText")
        assert "待办" in text and "辅导员王老师" in text
        assert await page.evaluate("document.cookie") == ""  # HttpOnly: no script reads it
        await page.open(link)  # the same link again
        assert "这个登录链接已经失效" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.querySelector('#enter')") is None
    async with db.session() as s:
        stored = (await s.exec(select(ConsoleLoginToken))).one()
        sessions = list(await s.exec(select(ConsoleSession)))
    token = link.split("token=")[1]
    assert token not in stored.token_hash and len(stored.token_hash) == 64  # only a hash
    assert stored.used_at is not None and len(sessions) == 1


async def test_a_link_older_than_five_minutes_is_refused(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    fresh, stale = await cw.link("t1"), await cw.link("t1")
    clock.advance(minutes=4, seconds=59)
    async with phone(tmp_path / "p") as page:
        await sign_in(page, fresh)
        assert await page.evaluate("location.pathname") == "/console/"
        clock.advance(seconds=2)  # 5 minutes and a second after it was sent
        await page.open(stale)
        assert "这个登录链接已经失效" in await page.evaluate("document.body.innerText")


async def test_students_and_strangers_get_no_link(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    for who in ("s1", "k1", "i1"):  # a student, a committee member, a dorm informant
        reply = await cw.world.chat(who).say("登录")
        assert "http" not in reply and "同学们不需要登录" in reply, reply
    stranger = await cw.world.chat("nobody-bound").say("登录")
    assert "http" not in stranger and "请先绑定身份" in stranger
    staff_menu = await cw.world.chat("t1").say("菜单")
    assert "工作台" in staff_menu and "工作台" not in await cw.world.chat("s1").say("菜单")
    async with db.session() as s:
        assert list(await s.exec(select(ConsoleLoginToken))) == []
        refused = list(await s.exec(select(AuditEntry).where(
            AuditEntry.action == "console.refused")))
    assert len(refused) == 4 and not any(a.allowed for a in refused)


async def test_idle_for_thirty_minutes_ends_the_session(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    link = await cw.link("t1")
    async with phone(tmp_path / "p") as page:
        await sign_in(page, link)
        clock.advance(minutes=29)
        await page.open(cw.url("/console/"))  # active: the idle clock starts again
        assert "请先登录" not in await page.evaluate("document.body.innerText")
        clock.advance(minutes=30)
        await page.open(cw.url("/console/"))
        text = await page.evaluate("document.body.innerText")
        assert "登录已结束" in text and "发送“登录”" in text
    async with db.session() as s:
        session = (await s.exec(select(ConsoleSession))).one()
    assert session.end_reason == "idle"


async def test_eight_hours_after_the_link_the_session_ends_however_busy(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    async with phone(tmp_path / "p") as page:
        await sign_in(page, await cw.link("t1"))
        for _ in range(23):  # busy all day: a page every 20 minutes, never idle
            clock.advance(minutes=20)
            await page.open(cw.url("/console/"))
            assert "请先登录" not in await page.evaluate("document.body.innerText")
        clock.advance(minutes=20)  # 8 hours since the link was used
        await page.open(cw.url("/console/"))
        text = await page.evaluate("document.body.innerText")
        assert "登录已结束" in text and "发送“登录”" in text
    async with db.session() as s:
        session = (await s.exec(select(ConsoleSession))).one()
    assert session.end_reason == "expired"


async def test_logout_revoke_and_unbind_end_sessions(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    async with phone(tmp_path / "a") as laptop, phone(tmp_path / "b", width=1280) as desk:
        await sign_in(laptop, await cw.link("t1"))
        await sign_in(desk, await cw.link("t1"))
        await desk.open(cw.url("/console/account"))
        listed = await desk.evaluate("document.querySelectorAll('.sessions li').length")
        assert listed == 2 and "本设备" in await desk.evaluate("document.body.innerText")
        # the desk ends the other session (the first in the list is its own, newest first)
        await click(desk, ".sessions li:nth-child(2) button")
        assert await desk.evaluate("document.querySelectorAll('.sessions li').length") == 1
        await laptop.open(cw.url("/console/"))
        assert "登录已结束" in await laptop.evaluate("document.body.innerText")
        await click(desk, "header form button")  # 退出登录
        assert "已退出登录" in await desk.evaluate("document.body.innerText")
        await desk.open(cw.url("/console/"))  # the cookie is gone with the logout
        assert "请先登录" in await desk.evaluate("document.body.innerText")
        await sign_in(laptop, await cw.link("t1"))
        await unbind(db, "t1", now=clock.now())  # a lost phone: its browser goes with it
        await laptop.open(cw.url("/console/"))
        assert "登录已结束" in await laptop.evaluate("document.body.innerText")
    async with db.session() as s:
        reasons = sorted(r.end_reason or "" for r in await s.exec(select(ConsoleSession)))
    assert reasons == ["logout", "revoked", "unbind"]
