"""The WeChat Official Account callback: verify, decrypt, store, then answer within 5 s."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import xmltodict
from aiohttp import web
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from xinqiao.bot.channels.wechat_render import choice_from_menu_id, news_card, render_many
from xinqiao.bot.inbox import InboxProcessor, ReplySlot, inbound_payload, store
from xinqiao.bot.metrics import Metrics
from xinqiao.clock import Clock
from xinqiao.messages import Inbound, Link, Reply
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import InboxStatus
from xinqiao.storage.outage import OutageLog

log = logging.getLogger(__name__)
CHANNEL = "wechat"
TEMPLATE_FINISH = "wechat.template_finish"
_UNSUPPORTED = frozenset({"image", "voice", "video", "shortvideo", "location", "link", "file"})


class Rejected(Exception):
    """A request we refuse: ``status`` is the HTTP status, ``reason`` goes to metrics and logs."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted, concatenated parts."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324  (WeChat's protocol)


def signature_ok(expected_parts: tuple[str, ...], given: str) -> bool:
    """Constant-time comparison of a WeChat signature."""
    return hmac.compare_digest(sign(*expected_parts).encode(), given.encode())


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


@dataclass(frozen=True)
class Decoded:
    """An authenticated, parsed callback body."""

    fields: dict[str, Any]
    key: str | None  # the EncodingAESKey that decrypted it, None in plaintext


def _parse_xml(body: str) -> dict[str, Any]:
    # xmltodict refuses any entity declaration (no XXE, no billion laughs).
    doc = xmltodict.parse(body, disable_entities=True)
    root = doc.get("xml") if isinstance(doc, dict) else None
    if not isinstance(root, dict):
        raise Rejected(400, "no <xml> root")
    return root


class WeChatWebhook:
    """aiohttp handlers for ``GET/POST /wechat``."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        processor: InboxProcessor,
        clock: Clock,
        metrics: Metrics,
        spawn: Callable[[Any], asyncio.Task[Any]],
    ) -> None:
        self.settings = settings
        self.db = db
        self.processor = processor
        self.clock = clock
        self.metrics = metrics
        self.spawn = spawn
        self.keys = [k for k in (settings.wechat_aes_key, settings.wechat_aes_key_previous) if k]
        self.outage = OutageLog(log, "wechat callback")

    async def verify(self, request: web.Request) -> web.StreamResponse:
        """Server configuration check: echo ``echostr`` byte-exact on a good signature."""
        q = request.query
        need = ("signature", "timestamp", "nonce", "echostr")
        if any(k not in q for k in need) or not self.settings.wechat_token:
            self.metrics.rejected.labels(CHANNEL, "verify_params").inc()
            return web.Response(status=400, text="bad request")
        if not signature_ok((self.settings.wechat_token, q["timestamp"], q["nonce"]),
                            q["signature"]):
            self.metrics.rejected.labels(CHANNEL, "verify_signature").inc()
            return web.Response(status=403, text="forbidden")
        return web.Response(body=q["echostr"].encode(), content_type="text/plain")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """A message or event: authenticate, store, process within the window, answer."""
        started = time.perf_counter()
        try:
            return await self._receive(request)
        except Rejected as rej:
            self.metrics.rejected.labels(CHANNEL, rej.reason).inc()
            log.warning("wechat callback rejected: %s", rej.reason)
            return web.Response(status=rej.status, text=rej.reason)
        finally:
            self.metrics.webhook_seconds.labels(CHANNEL).observe(time.perf_counter() - started)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        body = await self._read_body(request)
        decoded = self._decode(request.query, body)
        fields = decoded.fields
        msg_type = str(fields.get("MsgType") or "").lower()
        sender = str(fields.get("FromUserName") or "")
        if not msg_type or not sender:
            raise Rejected(400, "missing MsgType or FromUserName")
        key, kind, inbound = self._classify(fields, msg_type, sender)
        now = self.clock.now()
        try:
            receipt = await store(
                self.db,
                channel=CHANNEL,
                dedupe_key=key,
                address=sender,
                kind=kind,
                payload=inbound_payload(inbound, fields) if inbound else {"raw": fields},
                now=now,
                # Unknown types and events we do not act on are kept, not processed.
                status=(
                    InboxStatus.pending
                    if inbound is not None or kind == TEMPLATE_FINISH
                    else InboxStatus.ignored
                ),
            )
        except Exception as exc:
            # Not `success`: WeChat may then retry, and nothing was acknowledged that we lost.
            # A database outage is logged once, not once per callback.
            if not self.outage.failure(exc):
                log.exception("wechat: could not store inbound")
            self.metrics.rejected.labels(CHANNEL, "store_failed").inc()
            return web.Response(status=503, text="temporarily unavailable")
        self.outage.success()
        if receipt.duplicate or receipt.row_id is None:
            self.metrics.duplicates.labels(CHANNEL).inc()
            return web.Response(text="success")
        self.metrics.inbound.labels(CHANNEL, msg_type if msg_type != "event" else
                                    f"event:{str(fields.get('Event') or '').lower()}").inc()
        if inbound is None:  # delivery reports are handled off the request path
            if kind == TEMPLATE_FINISH:
                self.spawn(self.processor.process(receipt.row_id, origin=(CHANNEL, sender, kind)))
            return web.Response(text="success")
        replies = await self._await_replies(receipt.row_id, sender)
        if not replies:
            return web.Response(text="success")
        self.metrics.replies.labels(CHANNEL, "passive").inc()
        us = str(fields.get("ToUserName") or "")
        card = news_card(replies)
        xml = (news_reply_xml(sender, us, card, int(now.timestamp())) if card is not None
               else text_reply_xml(sender, us, render_many(replies, tappable=True),
                                         int(now.timestamp())))
        if decoded.key is not None:
            nonce = request.query.get("nonce", "")
            crypto = WeChatCrypto(self.settings.wechat_token, decoded.key,
                                  self.settings.wechat_appid)
            xml = crypto.encrypt_message(xml, nonce, str(int(now.timestamp())))
        return web.Response(text=xml, content_type="application/xml")

    async def _await_replies(self, row_id: int, sender: str) -> list[Reply] | None:
        slot = ReplySlot()
        origin = (CHANNEL, sender, "message")
        task = self.spawn(self.processor.process(row_id, slot, origin=origin))
        done, _ = await asyncio.wait({task}, timeout=self.settings.wechat_reply_budget_seconds)
        if not done:
            if slot.give_up():
                self.metrics.replies.labels(CHANNEL, "push").inc()
                return None
            # Replies are being committed right now; wait a moment rather than lose them.
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if not done:
                slot.abandon()
                return None
        if task.cancelled() or task.exception() is not None:
            return None
        result: list[Reply] | None = task.result()
        return result

    async def _read_body(self, request: web.Request) -> str:
        limit = self.settings.wechat_max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Rejected(413, "body too large")
        data = await request.content.read(limit + 1)
        if len(data) > limit:
            raise Rejected(413, "body too large")
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Rejected(400, "body not utf-8") from exc

    def _decode(self, query: Any, body: str) -> Decoded:
        token = self.settings.wechat_token
        timestamp, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not token:
            raise Rejected(403, "no token configured")
        if query.get("encrypt_type", "raw") == "aes":
            if not self.keys:
                raise Rejected(400, "encrypted message but no AES key configured")
            envelope = self._safe_parse(body)
            encrypted = envelope.get("Encrypt")
            if not isinstance(encrypted, str) or not encrypted:
                raise Rejected(400, "no Encrypt element")
            if not signature_ok((token, timestamp, nonce, encrypted),
                                query.get("msg_signature", "")):
                raise Rejected(403, "bad msg_signature")
            xml, key = self._decrypt(encrypted)
            return Decoded(self._safe_parse(xml), key)
        if not signature_ok((token, timestamp, nonce), query.get("signature", "")):
            raise Rejected(403, "bad signature")
        if self.keys and self.settings.wechat_require_encryption:
            raise Rejected(403, "plaintext refused in safe mode")
        return Decoded(self._safe_parse(body), None)

    def _decrypt(self, encrypted: str) -> tuple[str, str]:
        appid = self.settings.wechat_appid
        last: Exception | None = None
        for key in self.keys:  # the current key first, then the previous one during rotation
            try:
                crypto = PrpCrypto(WeChatCrypto(self.settings.wechat_token, key, appid).key)
                return str(crypto.decrypt(encrypted, appid)), key
            except Exception as exc:  # wrong key, wrong appid, garbage: try the next key
                last = exc
        log.warning("wechat: cannot decrypt (%s)", type(last).__name__)
        raise Rejected(403, "cannot decrypt or wrong appid")

    @staticmethod
    def _safe_parse(body: str) -> dict[str, Any]:
        if not body.strip():
            raise Rejected(400, "empty body")
        try:
            return _parse_xml(body)
        except Rejected:
            raise
        except Exception as exc:  # ExpatError, entity refusal, anything else from the parser
            raise Rejected(400, f"malformed xml ({type(exc).__name__})") from exc

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
                return f"tpl:{fields.get('MsgID') or fields.get('MsgId')}", TEMPLATE_FINISH, None
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
        key = f"msg:{msg_id}" if msg_id else f"msg:{sender}|{created}|{msg_type}"
        if msg_type == "text":
            content = str(fields.get("Content") or "").strip()
            # A tapped menu link: the text is its label, bizmsgmenuid names the choice.
            tapped = choice_from_menu_id(str(fields.get("bizmsgmenuid") or ""))
            return key, "message", Inbound(CHANNEL, sender, text=content[:2000], choice=tapped)
        if msg_type in _UNSUPPORTED:
            return key, "message", Inbound(CHANNEL, sender, extra={"unsupported": msg_type})
        return key, "wechat.unknown", None
