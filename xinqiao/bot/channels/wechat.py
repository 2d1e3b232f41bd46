"""The WeChat Official Account callback: verify, decrypt, feed, then answer within 5 s."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from xinqiao.bot.channels.callback import answered, body_text, store_failed
from xinqiao.bot.channels.wechat_auth import CallbackAuth, Rejected, sign, signature_ok
from xinqiao.bot.channels.wechat_render import choice_from_menu_id, news_card, render_many
from xinqiao.bot.feed import Arrival, Feed, Replayed
from xinqiao.bot.lean import LeanPath
from xinqiao.bot.metrics import Metrics
from xinqiao.clock import Clock
from xinqiao.messages import Inbound, Link
from xinqiao.settings import Settings
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)
CHANNEL = "wechat"
TEMPLATE_FINISH = "wechat.template_finish"
_UNSUPPORTED = frozenset({"image", "voice", "video", "shortvideo", "location", "link", "file"})
# Metric labels come from these sets only: MsgType and Event are whatever the body says.
_METRIC_TYPES = frozenset({"text", *_UNSUPPORTED})
_METRIC_EVENTS = frozenset({"subscribe", "unsubscribe", "click", "view", "scan", "location",
                            "templatesendjobfinish"})


def cdata(text: str) -> str:
    """Wrap text in CDATA so that no user text (``]]>`` included) can break the XML."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _reply_xml(to_user: str, from_user: str, now: int, msg_type: str, body: str) -> str:
    return (
        f"<xml><ToUserName>{cdata(to_user)}</ToUserName>"
        f"<FromUserName>{cdata(from_user)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType>{cdata(msg_type)}</MsgType>{body}</xml>"
    )


def text_reply_xml(to_user: str, from_user: str, content: str, now: int) -> str:
    """A passive text reply."""
    return _reply_xml(to_user, from_user, now, "text", f"<Content>{cdata(content)}</Content>")


def news_reply_xml(to_user: str, from_user: str, link: Link, now: int) -> str:
    """A passive news reply: one article card (title, description, picture, page)."""
    item = (f"<Title>{cdata(link.title)}</Title><Description>{cdata(link.summary)}</Description>"
            f"<PicUrl>{cdata(link.image)}</PicUrl><Url>{cdata(link.url)}</Url>")
    return _reply_xml(to_user, from_user, now, "news",
                      f"<ArticleCount>1</ArticleCount><Articles><item>{item}</item></Articles>")


class WeChatWebhook:
    """aiohttp handlers for ``GET/POST /wechat``: authenticate, then hand the message to the
    feed with WeChat's reply window; the replies ready in time are the passive reply."""

    def __init__(self, settings: Settings, feed: Feed, clock: Clock, metrics: Metrics) -> None:
        self.settings = settings
        self.feed = feed
        self.clock = clock
        self.metrics = metrics
        self.auth = CallbackAuth(settings, clock)
        self.outage = OutageLog(log, "wechat callback")
        # The labelled children looked up once: a lookup per message costs more than the count.
        self._inbound: dict[str, Any] = {}
        self._replies = {how: metrics.replies.labels(CHANNEL, how) for how in ("push", "passive")}

    @property
    def lean(self) -> LeanPath | None:
        """The lean hot path the feed takes for menu and help (None when unavailable)."""
        return self.feed.lean

    async def verify(self, request: web.Request) -> web.StreamResponse:
        """Server configuration check: echo ``echostr`` byte-exact on a good signature."""
        q = request.query
        need = ("signature", "timestamp", "nonce", "echostr")
        if any(k not in q for k in need) or not self.settings.wechat_token:
            self.metrics.rejected.labels(CHANNEL, "verify_params").inc()
            return web.Response(status=400, text="bad request")
        try:
            self.auth.verify_get(q)
        except Rejected as rej:
            self.metrics.rejected.labels(CHANNEL, rej.reason).inc()
            return web.Response(status=rej.status, text="forbidden")
        return web.Response(body=q["echostr"].encode(), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """A message or event: authenticate, store, process within the window, answer."""
        return await answered(CHANNEL, self.metrics, log, self._receive, request)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        body = await body_text(request, self.settings)
        decoded = self.auth.decode(request.query, body)
        fields = decoded.fields
        msg_type = str(fields.get("MsgType") or "").lower()
        sender = str(fields.get("FromUserName") or "")
        if not msg_type or not sender:
            raise Rejected(400, "missing MsgType or FromUserName")
        key, kind, inbound = self._classify(fields, msg_type, sender)
        nonce = self.auth.nonce_of(request.query, decoded)  # remembered with the row
        now = self.clock.now()
        arrival = Arrival(CHANNEL, sender, key, inbound, kind=kind, raw=fields, received_at=now)
        try:
            fed = await self.feed.feed(arrival, nonce=nonce,
                                       window=self.settings.wechat_reply_budget_seconds,
                                       stored=self.outage.success)
        except Replayed:
            raise Rejected(403, "nonce reused for another message") from None
        except Exception as exc:
            # Not `success`: WeChat may then retry, and nothing was acknowledged that we lost.
            return store_failed(CHANNEL, self.outage, self.metrics, log, exc)
        if fed.duplicate:
            self.metrics.duplicates.labels(CHANNEL).inc()
            return web.Response(text="success")
        label = _metric_type(msg_type, fields)  # one of a few fixed labels
        counted = self._inbound.get(label)
        if counted is None:
            counted = self._inbound[label] = self.metrics.inbound.labels(CHANNEL, label)
        counted.inc()
        if fed.late:
            self._replies["push"].inc()
        if not fed.replies:
            return web.Response(text="success")
        self._replies["passive"].inc()
        us = str(fields.get("ToUserName") or "")
        card = news_card(fed.replies)
        xml = (news_reply_xml(sender, us, card, int(now.timestamp())) if card is not None
               else text_reply_xml(sender, us, render_many(fed.replies, tappable=True),
                                   int(now.timestamp())))
        if decoded.key is not None:
            xml = self.auth.crypto_for(decoded.key).encrypt_message(
                xml, request.query.get("nonce", ""), str(int(now.timestamp())))
        return web.Response(text=xml, content_type="application/xml")

    @staticmethod
    def _classify(
        fields: dict[str, Any], msg_type: str, sender: str
    ) -> tuple[str, str, Inbound | None]:
        """Dedupe key, inbox kind and the channel-neutral message (None: not a conversation)."""
        created = str(fields.get("CreateTime") or "")
        if msg_type == "event":
            event = str(fields.get("Event") or "").lower()
            event_key = str(fields.get("EventKey") or "")
            if event == "templatesendjobfinish":
                msg_id = fields.get("MsgID") or fields.get("MsgId")
                return f"tpl:{sender}|{msg_id}", TEMPLATE_FINISH, None
            key = f"evt:{sender}|{created}|{event}|{event_key}"
            if event == "subscribe":
                return key, "message", Inbound(CHANNEL, sender, event="subscribe",
                                               extra={"scene": event_key})
            if event == "unsubscribe":
                return key, "message", Inbound(CHANNEL, sender, event="unsubscribe")
            if event == "click" and event_key:
                return key, "message", Inbound(CHANNEL, sender, choice=event_key)
            return key, "wechat.event", None
        msg_id = fields.get("MsgId") or fields.get("MsgID")
        # Scoped by sender: a message id is only unique per sender as far as we can check.
        key = f"msg:{sender}|{msg_id}" if msg_id else f"msg:{sender}|{created}|{msg_type}"
        if msg_type == "text":
            content = str(fields.get("Content") or "").strip()
            # A tapped menu link: the text is its label, bizmsgmenuid names the choice.
            tapped = choice_from_menu_id(str(fields.get("bizmsgmenuid") or ""))
            return key, "message", Inbound(CHANNEL, sender, text=content[:2000], choice=tapped)
        if msg_type in _UNSUPPORTED:
            return key, "message", Inbound(CHANNEL, sender, extra={"unsupported": msg_type})
        return key, "wechat.unknown", None


def _metric_type(msg_type: str, fields: dict[str, Any]) -> str:
    """A bounded metric label for the message type (the body's own value only if known)."""
    if msg_type == "event":
        event = str(fields.get("Event") or "").lower()
        return f"event:{event if event in _METRIC_EVENTS else 'other'}"
    return msg_type if msg_type in _METRIC_TYPES else "other"


__all__ = ["CHANNEL", "TEMPLATE_FINISH", "Rejected", "WeChatWebhook", "cdata", "news_reply_xml",
           "sign", "signature_ok", "text_reply_xml"]
