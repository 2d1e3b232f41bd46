"""A real headless Chromium driven over the DevTools protocol (aiohttp's websocket client)."""

from __future__ import annotations

import asyncio
import atexit
import itertools
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")


class Page:
    """One browser tab: send commands, keep every event that arrives meanwhile."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: list[dict[str, Any]] = []
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Run one command and return its result."""
        call_id = next(self._ids)
        await self.ws.send_json({"id": call_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), timeout=30)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    async def wait_for(self, event: str) -> None:
        """Wait until ``event`` has arrived (it may have already)."""
        while not any(e.get("method") == event for e in self.events):
            self.events.append(await asyncio.wait_for(self.ws.receive_json(), timeout=30))

    async def evaluate(self, expression: str) -> Any:
        """A JavaScript value from the page (the protocol is not bound by the page's CSP)."""
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        self.events = [e for e in self.events if e.get("method") != "Page.loadEventFired"]
        await self.call("Page.navigate", url=url)
        await self.wait_for("Page.loadEventFired")

    def requested(self) -> list[str]:
        """Every URL the page asked the network for so far."""
        return [e["params"]["request"]["url"] for e in self.events
                if e.get("method") == "Network.requestWillBeSent"]


class _Browser:
    """One Chromium per test process, started on first use and stopped when the process ends.

    Starting Chromium takes one to two seconds; a fresh browser context (its own cookies,
    storage and cache, as a new profile would have) takes a fraction of that.
    """

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.profile = Path()

    async def endpoint(self) -> int:
        """The DevTools port of the running browser (started now if there is none)."""
        if self.proc is not None and self.proc.poll() is None:
            return self.port
        port_file = self._start() / "DevToolsActivePort"
        for _ in range(300):
            if port_file.exists() and port_file.read_text().strip():
                break
            await asyncio.sleep(0.1)
        self.port = int(port_file.read_text().split()[0])
        return self.port

    def _start(self) -> Path:
        self.profile = Path(tempfile.mkdtemp(prefix="xinqiao-chromium-"))
        self.proc = subprocess.Popen(
            [str(CHROMIUM), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        atexit.register(self.stop)
        return self.profile

    def stop(self) -> None:
        """Stop the browser and its helpers (ours only)."""
        if self.proc is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait()
        self.proc = None
        shutil.rmtree(self.profile, ignore_errors=True)


_BROWSER = _Browser()


def close_browser() -> None:
    """Stop the shared browser, if this process started one (at the end of the session)."""
    _BROWSER.stop()


@asynccontextmanager
async def phone(profile: Path, width: int = 375, height: int = 812) -> AsyncIterator[Page]:
    """A tab in a fresh browser context of Chromium emulating a phone ``width`` CSS pixels wide.

    ``profile`` is unused: every tab gets a fresh context (no cookies, storage or cache of
    another), and the one browser keeps its own profile directory.
    """
    del profile
    port = await _BROWSER.endpoint()
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/version") as resp:
            browser_ws = (await resp.json())["webSocketDebuggerUrl"]
        async with http.ws_connect(browser_ws, max_msg_size=0) as control:
            browser = Page(control)
            context = (await browser.call("Target.createBrowserContext"))["browserContextId"]
            try:
                target = (await browser.call("Target.createTarget", url="about:blank",
                                             browserContextId=context))["targetId"]
                async with http.ws_connect(f"ws://127.0.0.1:{port}/devtools/page/{target}",
                                           max_msg_size=0) as ws:
                    page = Page(ws)
                    await page.call("Page.enable")
                    await page.call("Network.enable")
                    await page.call("Emulation.setDeviceMetricsOverride", width=width,
                                    height=height, deviceScaleFactor=2, mobile=True)
                    yield page
            finally:
                await browser.call("Target.disposeBrowserContext", browserContextId=context)
