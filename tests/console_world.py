"""The network world with the real service's HTTP app beside it, for the staff console tests."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import col, select

from tests.headless import Page
from tests.network_world import World, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
LINK = re.compile(r"https?://\S+/console/login\?token=([A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class ConsoleWorld:
    """A college bound on the chat console, plus the service serving ``/console/``."""

    world: World
    server: TestServer

    def url(self, path: str) -> str:
        """An absolute URL on the test server."""
        return str(self.server.make_url(path))

    async def link(self, who: str) -> str:
        """Send 登录 in chat as ``who`` and return the login link, pointed at the test server."""
        return self.url(f"/console/login?token={await login_token(self.world, who)}")

    async def sign_in(self, page: Page, who: str) -> None:
        """Keep the page's console errors from now on and sign ``who`` in with their link."""
        await sign_in_browser(page, self.world, self.server, who)


async def login_token(world: World, who: str) -> str:
    """Send 登录 in chat as ``who`` and return the token of the link the bot answers with."""
    reply = await world.chat(who).say("登录")
    found = LINK.search(reply)
    assert found is not None, reply
    return found.group(1)


async def sign_in_client(world: World, client: TestClient[Any, Any], who: str) -> str:
    """Sign ``who`` in on an HTTP client with their link (its 进入工作台 post); returns the
    CSRF token of the page it lands on."""
    resp = await client.post("/console/login", data={"token": await login_token(world, who)})
    assert resp.status == 200
    found = CSRF.search(await resp.text())
    assert found is not None
    return found.group(1)


async def sign_in_browser(page: Page, world: World, server: TestServer, who: str) -> None:
    """Keep the page's console errors from now on and sign ``who`` in with their link."""
    await page.call("Runtime.enable")
    await page.call("Log.enable")
    token = await login_token(world, who)
    await sign_in(page, str(server.make_url(f"/console/login?token={token}")))


async def console_world(db: Database, clock: FakeClock, settings: Settings,
                        aiohttp_server: Any) -> ConsoleWorld:
    """Build the world on Monday 09:00 and serve the real app (no background loops)."""
    world = await make_world(db, clock, settings, start=MONDAY_9)
    server = await aiohttp_server(build_app(settings, clock, background=False))
    return ConsoleWorld(world, server)


async def dorm_report(world: World) -> int:
    """The informant files a dorm report about 室友小吴; its item goes to the advisor t1."""
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    await chat.say("这周几乎不出门，晚上一直哭")
    await chat.say("7")
    assert "收到" in await chat.say("不急，近期关注即可")
    async with world.db.session() as s:
        esc = (await s.exec(select(Escalation).order_by(col(Escalation.id).desc()))).first()
    assert esc is not None and esc.id is not None
    return esc.id


async def item(world: World, esc_id: int) -> Escalation:
    """The item as stored now."""
    async with world.db.session() as s:
        esc = await s.get(Escalation, esc_id)
    assert esc is not None
    return esc


async def sign_in(page: Page, link: str) -> None:
    """Open the link and tap 进入工作台, as a person would."""
    await page.open(link)
    await click(page, "#enter")


async def click(page: Page, selector: str) -> None:
    """Click an element that navigates, and wait for the next page to load."""
    page.events = [e for e in page.events if e.get("method") != "Page.loadEventFired"]
    await page.evaluate(f"document.querySelector({selector!r}).click()")
    await page.wait_for("Page.loadEventFired")


async def fetch(page: Page, path: str, body: str) -> int:
    """POST a form from inside the page (same origin, its cookie) and return the status."""
    result = await page.call(
        "Runtime.evaluate", awaitPromise=True, returnByValue=True,
        expression=(f"fetch({path!r}, {{method: 'POST', headers: {{'Content-Type': "
                    f"'application/x-www-form-urlencoded'}}, body: {body!r}}})"
                    ".then(r => r.status)"))
    status: int = result["result"]["value"]
    return status


async def status_of(page: Page, path: str) -> int:
    """GET from inside the page and return the status."""
    result = await page.call("Runtime.evaluate", awaitPromise=True, returnByValue=True,
                             expression=f"fetch({path!r}).then(r => r.status)")
    status: int = result["result"]["value"]
    return status


def console_errors(page: Page) -> list[str]:
    """Errors the page logged: exceptions, console.error, CSP refusals and failed loads."""
    found = []
    for e in page.events:
        method, params = e.get("method"), e.get("params", {})
        if method == "Runtime.exceptionThrown":
            found.append(str(params.get("exceptionDetails", {}).get("text")))
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            found.append(str(params.get("args")))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            found.append(f"{params['entry'].get('text')} {params['entry'].get('url', '')}")
    return found
