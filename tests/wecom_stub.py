"""Stand-ins for WeCom: its API (``qyapi.weixin.qq.com/cgi-bin/``) and its callbacks to us.

    api = WeComStub(clock=clock)     # gettoken, message/send; async with ... as api
    api.invalid.add("zhangsan")      # answered errcode 0 with invaliduser=zhangsan
    api.fail("message/send", 81013)  # the next call answers that errcode
    api.login_codes["CODE"] = "zhangsan"  # auth/getuserinfo answers that userid, once
    api.sent, api.dropped, api.calls["gettoken"]
    platform = WeComPlatform(client)  # posts encrypted callbacks to /wecom

Like WeCom, ``message/send`` takes at most 30 messages a minute and 1,000 an hour per member
and drops the rest *silently* (errcode 0): they land in ``dropped``, never in ``sent``. The
platform side encrypts with its own AES code (``cryptography``), not wechatpy's, so a round
trip checks our decryption against an independent implementation of the scheme.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import os
import secrets
import struct
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import xmltodict
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from xinqiao.bot.app import SERVICES
from xinqiao.clock import Clock, SystemClock

CORP_ID = "wx49f0ab532d5d035a"  # wechatpy's WeCom vector (tests/test_crypto.py)
TOKEN = "123456"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
AGENT_ID = "1"
SECRET = "wecom-secret"
_nonces = itertools.count(461056294)
_msg_ids = itertools.count(4363689963896700987)


@dataclass(frozen=True)
class AppMessage:
    """One app message the stub accepted (``at``: on the stub's clock)."""

    touser: str
    msgtype: str
    body: dict[str, Any]
    at: datetime


@dataclass
class WeComStub:
    """The fake WeCom API server on a real local port."""

    clock: Clock = field(default_factory=SystemClock)
    per_minute: int = 30
    per_hour: int = 1000
    sent: list[AppMessage] = field(default_factory=list)
    dropped: list[AppMessage] = field(default_factory=list)
    invalid: set[str] = field(default_factory=set)
    calls: Counter[str] = field(default_factory=Counter)
    faults: dict[str, deque[int]] = field(default_factory=dict)
    login_codes: dict[str, str] = field(default_factory=dict)  # OAuth/scan code → userid
    token: str = ""
    token_expires: datetime | None = None
    url: str = ""
    _runner: web.AppRunner | None = None

    def fail(self, endpoint: str, errcode: int) -> None:
        """The next call to ``endpoint`` answers ``errcode``."""
        self.faults.setdefault(endpoint, deque()).append(errcode)

    def texts(self, userid: str) -> list[str]:
        """What ``userid`` was shown: text contents and card titles, in order."""
        return [m.body.get("content") or m.body.get("title", "") for m in self.sent
                if m.touser == userid]

    async def __aenter__(self) -> WeComStub:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/message/send", self._send)
        app.router.add_get("/cgi-bin/auth/getuserinfo", self._userinfo)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/cgi-bin/"
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def _fault(self, endpoint: str) -> web.Response | None:
        queue = self.faults.get(endpoint)
        if queue:
            return web.json_response({"errcode": queue.popleft(), "errmsg": "injected"})
        return None

    async def _gettoken(self, request: web.Request) -> web.StreamResponse:
        self.calls["gettoken"] += 1
        if request.query.get("corpid") != CORP_ID or request.query.get("corpsecret") != SECRET:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        now = self.clock.now()
        if not self.token or self.token_expires is None or self.token_expires <= now:
            self.token, self.token_expires = secrets.token_hex(16), now + timedelta(hours=2)
        left = int((self.token_expires - now).total_seconds())
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": self.token,
                                  "expires_in": left})

    async def _userinfo(self, request: web.Request) -> web.StreamResponse:
        self.calls["auth/getuserinfo"] += 1
        if request.query.get("access_token") != self.token or not self.token:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        userid = self.login_codes.pop(request.query.get("code", ""), None)  # a code works once
        if userid is None:
            return web.json_response({"errcode": 40029, "errmsg": "invalid code"})
        return web.json_response({"errcode": 0, "errmsg": "ok", "userid": userid})

    async def _send(self, request: web.Request) -> web.StreamResponse:
        self.calls["message/send"] += 1
        if request.query.get("access_token") != self.token or not self.token:
            return web.json_response({"errcode": 40014, "errmsg": "invalid access_token"})
        fault = self._fault("message/send")
        if fault is not None:
            return fault
        body = json.loads(await request.read())
        userid, msgtype = str(body["touser"]), str(body["msgtype"])
        if str(body.get("agentid")) != AGENT_ID:
            return web.json_response({"errcode": 40056, "errmsg": "invalid agentid"})
        if userid in self.invalid:
            return web.json_response({"errcode": 0, "errmsg": "ok", "invaliduser": userid})
        message = AppMessage(userid, msgtype, dict(body[msgtype]), self.clock.now())
        mine = [m.at for m in self.sent if m.touser == userid]
        minute = sum(1 for at in mine if at > message.at - timedelta(minutes=1))
        hour = sum(1 for at in mine if at > message.at - timedelta(hours=1))
        if minute >= self.per_minute or hour >= self.per_hour:
            self.dropped.append(message)  # what WeCom does: no error, no delivery
        else:
            self.sent.append(message)
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": secrets.token_hex(8)})


def sign(*parts: str) -> str:
    """WeCom's msg_signature: SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324


def encrypt(plain: str, aes_key: str = AES_KEY, corp_id: str = CORP_ID) -> str:
    """WeCom's scheme, written apart from wechatpy: random(16) + length + message + corp id,
    PKCS#7 to 32 bytes, AES-256-CBC with the key's first 16 bytes as IV, base64."""
    key = base64.b64decode(aes_key + "=")
    raw = plain.encode()
    data = os.urandom(16) + struct.pack(">I", len(raw)) + raw + corp_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def text_xml(sender: str, content: str, msg_id: int | None = None,
             created: int | None = None) -> str:
    """A member's text message as the app receives it (before encryption)."""
    return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>"
            f"<FromUserName><![CDATA[{sender}]]></FromUserName>"
            f"<CreateTime>{created or int(time.time())}</CreateTime>"
            f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
            f"<MsgId>{msg_id or next(_msg_ids)}</MsgId><AgentID>{AGENT_ID}</AgentID></xml>")


class WeComPlatform:
    """Posts to ``/wecom`` the way WeCom does: encrypted body, msg_signature in the query."""

    def __init__(self, client: TestClient[Any, Any], token: str = TOKEN) -> None:
        self.client, self.token = client, token

    def query(self, encrypted: str, nonce: str | None = None) -> dict[str, str]:
        """Signed query parameters, timestamped by the app's (fake) clock."""
        ts = str(int(self.client.app[SERVICES].clock.now().timestamp()))
        nonce = nonce or str(next(_nonces))
        return {"msg_signature": sign(self.token, ts, nonce, encrypted), "timestamp": ts,
                "nonce": nonce}

    async def post(self, xml: str, query: dict[str, str] | None = None,
                   encrypted: str | None = None) -> tuple[int, str]:
        """Encrypt and post ``xml``; the status and body of our answer."""
        encrypted = encrypted or encrypt(xml)
        body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA["
                f"{encrypted}]]></Encrypt><AgentID><![CDATA[{AGENT_ID}]]></AgentID></xml>")
        resp = await self.client.post("/wecom", params=query or self.query(encrypted),
                                      data=body.encode())
        return resp.status, await resp.text()

    async def say(self, sender: str, content: str) -> None:
        """Send a text; WeCom expects an empty 200 at once."""
        status, body = await self.post(text_xml(sender, content))
        assert (status, body) == (200, ""), (status, body)


def parse(xml: str) -> dict[str, Any]:
    """The fields of an XML message."""
    return dict(xmltodict.parse(xml)["xml"])
