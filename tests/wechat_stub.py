"""A local stand-in for ``api.weixin.qq.com/cgi-bin/``: tokens, sends, menus and injected faults.

    stub = WeChatStub(clock=clock)      # optional FakeClock drives token expiry and dedup windows
    await stub.start()                  # a real port on 127.0.0.1; stub.url ends in /cgi-bin/
    stub.fail("message/custom/send", 45015)         # next call answers errcode 45015
    stub.fail("stable_token", 40164, times=None)    # every call, until stub.clear_faults()
    stub.fail_http("message/custom/send", 502)
    stub.stall("message/template/send", 5, deliver=True)  # deliver, then answer too late
    stub.reset("message/custom/send")                # close the connection without an answer
    stub.calls["stable_token"], stub.sent, stub.menus, stub.requests
    await stub.close()

Behaviour follows protocol.md §3: ``stable_token`` returns the same token while it has more
than 5 minutes left, a new one otherwise, and ``force_refresh`` invalidates the old one at once;
``cgi-bin/token`` always issues a new token and leaves the previous one 5 more minutes; template
sends with the same (touser, client_msg_id) within 10 minutes are delivered once and answer the
first msgid again.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
from collections import Counter, deque
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from xinqiao.clock import Clock, SystemClock

APPID = "wx2c2769f8efd9abc2"
SECRET = "testsecret"


@dataclass
class Fault:
    """One injected misbehaviour; ``times=None`` repeats for ever."""

    errcode: int | None = None
    status: int | None = None
    delay: float = 0.0
    deliver: bool = False
    reset: bool = False
    times: int | None = 1


@dataclass(frozen=True)
class Call:
    """One request the stub received (``token`` is the access_token it carried, if any)."""

    endpoint: str
    body: dict[str, Any]
    raw: str
    token: str | None


@dataclass(frozen=True)
class Sent:
    """A message the stub delivered (``at``: on the stub's clock)."""

    endpoint: str
    touser: str
    body: dict[str, Any]
    raw: str
    msgid: int | None = None
    at: datetime | None = None


class WeChatStub:
    """The fake WeChat API server."""

    def __init__(
        self,
        *,
        appid: str = APPID,
        secret: str = SECRET,
        clock: Clock | None = None,
        token_ttl: int = 7200,
    ) -> None:
        self.appid, self.secret = appid, secret
        self.clock = clock or SystemClock()
        self.token_ttl = token_ttl
        self.calls: Counter[str] = Counter()
        self.requests: list[Call] = []
        self.sent: list[Sent] = []
        self.menus: list[dict[str, Any]] = []
        self.issued_tokens: list[str] = []
        self._tokens: dict[str, datetime] = {}
        self._stable: str | None = None
        self._classic: str | None = None
        self._faults: dict[str, deque[Fault]] = {}
        self._dedup: dict[tuple[str, str], tuple[int, datetime]] = {}
        self._msgids = itertools.count(200163836)
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        """Listen on a free local port."""
        app = web.Application()
        app.router.add_route("*", "/cgi-bin/{endpoint:.+}", self._handle)
        # No access log: it would print request URLs, which carry the access token.
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/cgi-bin/"

    async def close(self) -> None:
        """Stop listening; stalled handlers return at once."""
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> WeChatStub:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- fault injection ----------------------------------------------------------------

    def _add(self, endpoint: str, fault: Fault) -> None:
        self._faults.setdefault(endpoint, deque()).append(fault)

    def fail(self, endpoint: str, errcode: int, *, times: int | None = 1) -> None:
        """Answer ``errcode`` on the next ``times`` calls of ``endpoint``."""
        self._add(endpoint, Fault(errcode=errcode, times=times))

    def fail_http(self, endpoint: str, status: int, *, times: int | None = 1) -> None:
        """Answer HTTP ``status`` on the next ``times`` calls."""
        self._add(endpoint, Fault(status=status, times=times))

    def stall(
        self, endpoint: str, seconds: float, *, deliver: bool = False, times: int | None = 1
    ) -> None:
        """Wait ``seconds`` before answering; with ``deliver`` the action happens first."""
        self._add(endpoint, Fault(delay=seconds, deliver=deliver, times=times))

    def reset(self, endpoint: str, *, times: int | None = 1) -> None:
        """Drop the connection without answering."""
        self._add(endpoint, Fault(reset=True, times=times))

    def clear_faults(self) -> None:
        """Forget every injected fault."""
        self._faults.clear()

    def revoke_tokens(self) -> None:
        """Every token issued so far stops working (as if another system force-refreshed)."""
        self._tokens.clear()
        self._stable = self._classic = None

    def _next_fault(self, endpoint: str) -> Fault | None:
        queue = self._faults.get(endpoint)
        if not queue:
            return None
        fault = queue[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                queue.popleft()
        return fault

    # --- the server ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        endpoint = request.match_info["endpoint"]
        self.calls[endpoint] += 1
        raw = await request.text()
        body: dict[str, Any] = dict(await request.json()) if raw else {}
        self.requests.append(Call(endpoint, body, raw, request.query.get("access_token")))
        fault = self._next_fault(endpoint)
        if fault and fault.reset:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault and fault.status:
            return web.Response(status=fault.status, text="bad gateway")
        if fault and fault.errcode is not None:
            return web.json_response({"errcode": fault.errcode, "errmsg": "injected"})
        if fault and fault.delay and not fault.deliver:
            await self._stall(fault.delay)
        answer = self._act(endpoint, request, body, raw)
        if fault and fault.delay and fault.deliver:
            await self._stall(fault.delay)
        return web.json_response(answer, dumps=_dumps)

    async def _stall(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    def _issue(self, ttl: int) -> str:
        token = f"STUBTOKEN{len(self.issued_tokens) + 1}x{secrets.token_hex(12)}"
        self.issued_tokens.append(token)
        self._tokens[token] = self.clock.now() + timedelta(seconds=ttl)
        return token

    def _act(
        self, endpoint: str, request: web.Request, body: dict[str, Any], raw: str
    ) -> dict[str, Any]:
        now = self.clock.now()
        if endpoint == "stable_token":
            if body.get("appid") != self.appid:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if body.get("secret") != self.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            current = self._stable
            left = (self._tokens[current] - now) if current in self._tokens else timedelta(0)
            if body.get("force_refresh"):
                if current:
                    self._tokens.pop(current, None)
                current = None
            if current is None or left <= timedelta(minutes=5):
                current = self._stable = self._issue(self.token_ttl)
            remaining = int((self._tokens[current] - now).total_seconds())
            return {"access_token": current, "expires_in": remaining}
        if endpoint == "token":
            if request.query.get("appid") != self.appid:
                return {"errcode": 40013, "errmsg": "invalid appid"}
            if request.query.get("secret") != self.secret:
                return {"errcode": 40125, "errmsg": "invalid appsecret"}
            if self._classic in self._tokens:
                old = self._tokens[self._classic]
                self._tokens[self._classic] = min(old, now + timedelta(minutes=5))
            self._classic = self._issue(self.token_ttl)
            return {"access_token": self._classic, "expires_in": self.token_ttl}
        token = request.query.get("access_token")
        if not token:
            return {"errcode": 41001, "errmsg": "access_token missing"}
        if token not in self._tokens:
            return {"errcode": 40001, "errmsg": "invalid credential"}
        if self._tokens[token] <= now:
            return {"errcode": 42001, "errmsg": "access_token expired"}
        if endpoint == "message/custom/send":
            if not body.get("touser"):
                return {"errcode": 40003, "errmsg": "invalid openid"}
            self.sent.append(Sent(endpoint, str(body["touser"]), body, raw, at=now))
            return {"errcode": 0, "errmsg": "ok"}
        if endpoint == "message/template/send":
            if not body.get("template_id"):
                return {"errcode": 40037, "errmsg": "invalid template_id"}
            key = (str(body.get("touser")), str(body.get("client_msg_id") or ""))
            seen = self._dedup.get(key)
            if key[1] and seen and now - seen[1] < timedelta(minutes=10):
                return {"errcode": 0, "errmsg": "ok", "msgid": seen[0]}
            msgid = next(self._msgids)
            self._dedup[key] = (msgid, now)
            self.sent.append(Sent(endpoint, key[0], body, raw, msgid, at=now))
            return {"errcode": 0, "errmsg": "ok", "msgid": msgid}
        if endpoint == "menu/create":
            self.menus.append(body)
            return {"errcode": 0, "errmsg": "ok"}
        return {"errcode": 48001, "errmsg": "api unauthorized"}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)
