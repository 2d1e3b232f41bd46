"""A local stand-in for the Telegram Bot API, speaking its wire format over real HTTP.

    stub = TelegramStub(clock=clock)          # timestamps calls on the test's FakeClock
    await stub.start()                        # stub.url is what XINQIAO_TELEGRAM_API_BASE gets
    stub.fail("sendMessage", 429, retry_after=3)          # next call answers 429
    stub.fail("sendMessage", 403, "Forbidden: bot was blocked by the user", chat=777)
    stub.fail_http("sendMessage", 502, times=2)           # a proxy's HTML error page
    stub.reset("sendMessage")                             # drop the connection
    stub.push(text_update(777, "/start"))                 # served to getUpdates
    stub.sent, stub.chat(777), stub.calls, stub.answered, stub.webhook

URLs are ``/bot<token>/<method>``; bodies may be JSON, urlencoded or multipart forms (aiogram
sends multipart, with ``reply_markup`` as a JSON string). Answers are ``{"ok": true, "result":
...}`` or ``{"ok": false, "error_code": N, "description": ..., "parameters": {...}}``.
sendMessage refuses what Telegram refuses: empty text, more than 4096 UTF-16 units, button
data over 64 bytes. getUpdates confirms updates below ``offset``, long-polls for at most
``max_poll_wait`` real seconds, and answers 409 while a webhook is set.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter, deque
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiohttp import web

from xinqiao.clock import Clock, SystemClock

TOKEN = "123456:TEST-token_for-the-stub"
BOT_ID = 123456


@dataclass
class Fault:
    """One injected misbehaviour; ``times=None`` repeats for ever."""

    code: int | None = None
    description: str = ""
    retry_after: int | None = None
    http_text: str | None = None
    reset: bool = False
    chat: int | None = None
    times: int | None = 1


@dataclass(frozen=True)
class Call:
    """One request: method, decoded parameters, and when (on the stub's clock)."""

    method: str
    params: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class Message:
    """A message the bot sent: chat, text, buttons as (label, callback_data), when."""

    chat_id: int
    message_id: int
    text: str
    buttons: tuple[tuple[str, str], ...]
    at: datetime


@dataclass
class Updates:
    """The getUpdates queue."""

    queue: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


class TelegramStub:
    """The fake Bot API server."""

    def __init__(self, *, token: str = TOKEN, clock: Clock | None = None,
                 max_poll_wait: float = 0.2) -> None:
        self.token = token
        self.clock = clock or SystemClock()
        self.max_poll_wait = max_poll_wait
        self.calls: Counter[str] = Counter()
        self.requests: list[Call] = []
        self.sent: list[Message] = []
        self.answered: list[str] = []
        self.webhook: dict[str, Any] = {}
        self.updates = Updates()
        self._faults: dict[str, deque[Fault]] = {}
        self._message_ids = itertools.count(1000)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        """Listen on a free local port."""
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        """Stop listening."""
        self.updates.arrived.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> TelegramStub:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    # --- test controls ------------------------------------------------------------------

    def fail(self, method: str, code: int, description: str = "", *,
             retry_after: int | None = None, chat: int | None = None,
             times: int | None = 1) -> None:
        """Answer ``code`` on the next ``times`` calls of ``method`` (to ``chat``, if given)."""
        text = description or {429: "Too Many Requests: retry later", 403: "Forbidden",
                               400: "Bad Request", 500: "Internal Server Error"}.get(code, "")
        self._faults.setdefault(method, deque()).append(
            Fault(code=code, description=text, retry_after=retry_after, chat=chat, times=times))

    def fail_http(self, method: str, status: int, *, times: int | None = 1) -> None:
        """Answer a bare HTTP ``status`` with an HTML page (what a proxy in front might do)."""
        self._faults.setdefault(method, deque()).append(
            Fault(code=status, http_text="<html>bad gateway</html>", times=times))

    def reset(self, method: str, *, times: int | None = 1) -> None:
        """Close the connection without answering."""
        self._faults.setdefault(method, deque()).append(Fault(reset=True, times=times))

    def push(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates."""
        self.updates.queue.append(update)
        self.updates.arrived.set()

    def chat(self, chat_id: int) -> list[Message]:
        """Everything sent to one chat, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    def times(self, method: str = "sendMessage", chat: int | None = None) -> list[datetime]:
        """When each call of ``method`` (to ``chat``) arrived, on the stub's clock."""
        return [c.at for c in self.requests if c.method == method
                and (chat is None or c.params.get("chat_id") == chat)]

    # --- the server ---------------------------------------------------------------------

    def _fault(self, method: str, params: dict[str, Any]) -> Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        if fault.chat is not None and params.get("chat_id") != fault.chat:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                queue.popleft()
        return fault

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            raw = await request.text()
            params.update(json.loads(raw) if raw else {})
        elif request.can_read_body:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
        for key in ("chat_id", "offset", "timeout", "message_id"):
            value = params.get(key)
            if isinstance(value, str) and value.lstrip("-").isdecimal():
                params[key] = int(value)
        if isinstance(params.get("reply_markup"), str):
            params["reply_markup"] = json.loads(params["reply_markup"])
        return params

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        self.calls[method] += 1
        self.requests.append(Call(method, params, self.clock.now()))
        fault = self._fault(method, params)
        if fault is not None and fault.reset:
            assert request.transport is not None
            request.transport.abort()
            return web.Response()
        if fault is not None and fault.http_text is not None:
            return web.Response(status=fault.code or 502, text=fault.http_text,
                                content_type="text/html")
        if fault is not None and fault.code is not None:
            return _error(fault.code, fault.description, fault.retry_after)
        return await self._act(method, params)

    async def _act(self, method: str, params: dict[str, Any]) -> web.Response:
        if method == "getMe":
            return _ok({"id": BOT_ID, "is_bot": True, "first_name": "心桥", "username": "xq_bot"})
        if method == "sendMessage":
            return self._send(params)
        if method == "answerCallbackQuery":
            self.answered.append(str(params.get("callback_query_id")))
            return _ok(True)
        if method == "setWebhook":
            self.webhook = {"url": params.get("url", ""), "secret": params.get("secret_token")}
            return _ok(True)
        if method == "deleteWebhook":
            self.webhook = {}
            return _ok(True)
        if method == "getUpdates":
            return await self._get_updates(params)
        return _error(404, "Not Found: method not found")

    def _send(self, params: dict[str, Any]) -> web.Response:
        text = str(params.get("text") or "")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > 4096:
            return _error(400, "Bad Request: message is too long")
        rows = (params.get("reply_markup") or {}).get("inline_keyboard", [])
        buttons = tuple((b["text"], b["callback_data"]) for row in rows for b in row)
        if any(len(data.encode()) > 64 for _, data in buttons):
            return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        chat_id = int(params["chat_id"])
        message = Message(chat_id, next(self._message_ids), text, buttons, self.clock.now())
        self.sent.append(message)
        return _ok({"message_id": message.message_id, "date": 1788742800, "text": text,
                    "chat": {"id": chat_id, "type": "private"}})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active; "
                          "use deleteWebhook to delete the webhook first")
        offset = params.get("offset")
        if isinstance(offset, int):  # confirmed: Telegram forgets them
            self.updates.queue = [u for u in self.updates.queue if u["update_id"] >= offset]
        if not self.updates.queue and int(params.get("timeout") or 0) > 0:
            self.updates.arrived.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self.updates.arrived.wait(), self.max_poll_wait)
        return _ok(list(self.updates.queue[:100]))


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result},
                             dumps=lambda o: json.dumps(o, ensure_ascii=False))


def _error(code: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=code)


# --- updates as Telegram sends them ------------------------------------------------------

_update_ids = itertools.count(500_000)
_user_message_ids = itertools.count(1)


def _user(chat_id: int) -> dict[str, Any]:
    return {"id": chat_id, "is_bot": False, "first_name": "同学", "language_code": "zh-hans"}


def text_update(chat_id: int, text: str, *, update_id: int | None = None,
                chat_type: str = "private") -> dict[str, Any]:
    """A text message from a user (commands are text too)."""
    message: dict[str, Any] = {
        "message_id": next(_user_message_ids), "date": 1788742800, "text": text,
        "chat": {"id": chat_id, "type": chat_type}, "from": _user(chat_id)}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split(" ")[0])}]
    return {"update_id": update_id or next(_update_ids), "message": message}


def callback_update(chat_id: int, data: str, *, message_id: int = 1,
                    update_id: int | None = None) -> dict[str, Any]:
    """A tap on an inline button of the bot's message ``message_id``."""
    return {"update_id": update_id or next(_update_ids), "callback_query": {
        "id": f"cq{next(_user_message_ids)}", "from": _user(chat_id), "chat_instance": "ci",
        "data": data, "message": {"message_id": message_id, "date": 1788742800, "text": "…",
                                  "chat": {"id": chat_id, "type": "private"}}}}


def sticker_update(chat_id: int) -> dict[str, Any]:
    """A sticker: something the bot cannot read."""
    update = text_update(chat_id, "x")
    del update["message"]["text"]
    update["message"]["sticker"] = {"file_id": "f", "file_unique_id": "u", "type": "regular",
                                    "width": 512, "height": 512, "is_animated": False,
                                    "is_video": False}
    return update
