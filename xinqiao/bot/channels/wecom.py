"""The WeCom (企业微信) app callback: verify, decrypt, store, answer at once, push replies.

The answer is an empty 200 as soon as the message is stored (WeCom then neither retries nor
shows an error); the replies go out through the outbox as app messages, which WeCom allows at
any time, unlike the Official Account's 48-hour window.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from xinqiao.bot.channels.callback import answered, body_text, store_failed
from xinqiao.bot.channels.wechat_auth import Rejected
from xinqiao.bot.channels.wecom_auth import CHANNEL, WeComAuth
from xinqiao.bot.feed import PUSH, Arrival, Feed, Replayed
from xinqiao.bot.metrics import Metrics
from xinqiao.clock import Clock
from xinqiao.messages import Inbound
from xinqiao.settings import Settings
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)
_UNSUPPORTED = frozenset({"image", "voice", "video", "location", "link", "file"})
_METRIC_TYPES = frozenset({"text", "event", *_UNSUPPORTED})


def classify(fields: dict[str, Any], msg_type: str, sender: str
             ) -> tuple[str, str, Inbound | None]:
    """Dedupe key, inbox kind and the channel-neutral message (None: kept, not acted on)."""
    created = str(fields.get("CreateTime") or "")
    if msg_type == "event":
        event = str(fields.get("Event") or "").lower()
        event_key = str(fields.get("EventKey") or "")
        # Events carry no MsgId: sender + time + event (+ key) tells them apart.
        key = f"evt:{sender}|{created}|{event}|{event_key}"
        if event == "subscribe":
            return key, "message", Inbound(CHANNEL, sender, event="subscribe")
        if event == "click" and event_key:
            return key, "message", Inbound(CHANNEL, sender, choice=event_key)
        return key, "wecom.event", None  # enter_agent, view, change_contact...
    msg_id = fields.get("MsgId") or fields.get("MsgID")
    key = f"msg:{sender}|{msg_id}" if msg_id else f"msg:{sender}|{created}|{msg_type}"
    if msg_type == "text":
        content = str(fields.get("Content") or "").strip()
        return key, "message", Inbound(CHANNEL, sender, text=content[:2000])
    if msg_type in _UNSUPPORTED:
        return key, "message", Inbound(CHANNEL, sender, extra={"unsupported": msg_type})
    return key, "wecom.unknown", None


class WeComWebhook:
    """aiohttp handlers for ``GET/POST /wecom``."""

    def __init__(self, settings: Settings, feed: Feed, clock: Clock, metrics: Metrics) -> None:
        self.settings, self.feed = settings, feed
        self.clock, self.metrics = clock, metrics
        self.auth = WeComAuth(settings, clock)
        self.outage = OutageLog(log, "wecom callback")

    async def verify(self, request: web.Request) -> web.StreamResponse:
        """The app's URL check: answer the decrypted ``echostr`` on a good signature."""
        q = request.query
        if any(k not in q for k in ("msg_signature", "timestamp", "nonce", "echostr")):
            self.metrics.rejected.labels(CHANNEL, "verify_params").inc()
            return web.Response(status=400, text="bad request")
        try:
            plain = self.auth.verify_get(q)
        except Rejected as rej:
            self.metrics.rejected.labels(CHANNEL, rej.reason).inc()
            return web.Response(status=rej.status, text="forbidden")
        return web.Response(body=plain.encode(), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """A message or event: authenticate, store, answer; processing runs after."""
        return await answered(CHANNEL, self.metrics, log, self._receive, request)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        body = await body_text(request, self.settings)
        decoded = self.auth.decode(request.query, body)
        fields = decoded.fields
        msg_type = str(fields.get("MsgType") or "").lower()
        sender = str(fields.get("FromUserName") or "")
        if not msg_type or not sender or len(sender) > 128:
            raise Rejected(400, "missing MsgType or FromUserName")
        key, kind, inbound = classify(fields, msg_type, sender)
        nonce = self.auth.nonce_of(request.query, decoded)  # remembered with the row
        arrival = Arrival(CHANNEL, sender, key, inbound, kind=kind, raw=fields,
                          received_at=self.clock.now())
        try:
            # No passive reply on WeCom: the answer is empty and the replies are app messages.
            fed = await self.feed.feed(arrival, nonce=nonce, window=PUSH,
                                       stored=self.outage.success)
        except Replayed:
            raise Rejected(403, "nonce reused for another message") from None
        except Exception as exc:  # not a 200: WeCom retries, and nothing was lost
            return store_failed(CHANNEL, self.outage, self.metrics, log, exc)
        if fed.duplicate:
            self.metrics.duplicates.labels(CHANNEL).inc()
            return web.Response(text="")
        self.metrics.inbound.labels(CHANNEL, msg_type if msg_type in _METRIC_TYPES
                                    else "other").inc()
        return web.Response(text="")
