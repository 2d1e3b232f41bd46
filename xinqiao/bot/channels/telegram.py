"""Telegram in: the webhook (``POST /telegram``) and the intake shared with polling.

Persist, then acknowledge (protocol.md §6.2): an update is stored in the inbox under its
``update_id`` before the webhook answers 200 (or before polling moves its offset past it); a
redelivery hits the same dedupe key and does nothing. Processing runs after the answer, and
replies go out through the outbox: Telegram has no passive-reply window, so the notifier is
kicked to send them at once. aiogram's own webhook handler is not used: by default it answers
before the update is handled and loses it on a crash (protocol.md §5).

Webhook answers: 401 without the right ``X-Telegram-Bot-Api-Secret-Token``, 400 for a body
that is not an update (Telegram would only resend it), 413/408 for a body too large or too
slow, 503 when the database cannot store it (Telegram resends later), 200 once it is stored
or was already. An update the database refuses ``store_max_tries`` times while it is up is
stored as a dead letter and acknowledged: an endless 503 would have Telegram resend it forever.
"""

from __future__ import annotations

import hmac
import json
import logging
import time

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import Update
from aiohttp import web
from pydantic import ValidationError
from sqlmodel import select

from xinqiao.bot.channels.http_body import BodyRefused, read_body
from xinqiao.bot.channels.telegram_update import CHANNEL, Translated, raw_of, translate
from xinqiao.bot.feed import PUSH, Arrival, Feed
from xinqiao.bot.inbox import store
from xinqiao.bot.metrics import Metrics
from xinqiao.clock import Clock
from xinqiao.settings import Settings
from xinqiao.storage.models import InboxMessage, InboxStatus
from xinqiao.storage.outage import OutageLog, database_unavailable

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 — a header name
MAX_BODY = 1024 * 1024
DEAD_LETTER = "telegram.dead_letter"
_TRIES_KEPT = 1000  # failure counts remembered (a bound: update ids are the sender's to pick)


def make_bot(settings: Settings) -> Bot:
    """An aiogram Bot on the configured Bot API server (a local stand-in in tests)."""
    session = AiohttpSession(
        api=TelegramAPIServer.from_base(settings.telegram_api_base),
        timeout=settings.telegram_api_timeout_seconds,
    )
    return Bot(settings.telegram_token, session=session)


class TelegramIntake:
    """Feeds an update in, then it is handled in the background: answer the tap, run, send."""

    def __init__(
        self,
        feed: Feed,
        bot: Bot,
        clock: Clock,
        metrics: Metrics,
        *,
        store_max_tries: int = 3,
    ) -> None:
        self.feed = feed
        self.db = feed.db
        self.bot = bot
        self.clock = clock
        self.metrics = metrics
        self.store_max_tries = store_max_tries
        self._tries: dict[int, int] = {}

    async def accept(self, update: Update) -> bool:
        """Store ``update`` (raises if the database cannot); True if it was new.

        An update that fails ``store_max_tries`` times while the database is up becomes a
        stored dead letter instead (False): only an outage keeps raising.
        """
        try:
            return await self._accept(update)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            key = _dedupe_key(update)
            if await self._kept(key):  # a redelivery of what is a dead letter already
                self.metrics.duplicates.labels(CHANNEL).inc()
                return False
            tries = self._tries.pop(update.update_id, 0) + 1
            if tries < self.store_max_tries:
                while len(self._tries) >= _TRIES_KEPT:
                    self._tries.pop(next(iter(self._tries)))
                self._tries[update.update_id] = tries
                raise
            await self._dead_letter(update, key, exc)
            return False

    async def _kept(self, key: str) -> bool:
        async with self.db.session() as s:
            found = (await s.exec(select(InboxMessage.id).where(
                InboxMessage.channel == CHANNEL, InboxMessage.dedupe_key == key))).first()
        return found is not None

    async def _dead_letter(self, update: Update, key: str, exc: BaseException) -> None:
        try:
            # ASCII-only JSON: whatever the update holds, this text can be stored.
            raw = json.dumps(raw_of(update), ensure_ascii=True)
        except Exception:
            raw = json.dumps({"update_id": update.update_id})
        try:
            address = translate(update).address
        except Exception:
            address = ""
        await store(
            self.db, channel=CHANNEL, dedupe_key=key, address=address, kind=DEAD_LETTER,
            payload={"dead_letter": {"error": f"{type(exc).__name__}: {exc}"[:2000],
                                     "update": raw}},
            now=self.clock.now(), status=InboxStatus.failed,
        )
        self.metrics.rejected.labels(CHANNEL, "dead letter").inc()
        log.error("telegram: update %s could not be stored after %s tries; kept as a dead "
                  "letter (%s)", update.update_id, self.store_max_tries, type(exc).__name__)

    async def _accept(self, update: Update) -> bool:
        t = translate(update)
        tapped = t.callback_id
        # Telegram has no passive-reply window: the feed processes in the background and the
        # replies go out through the outbox at once. A tap's spinner stops first.
        fed = await self.feed.feed(
            Arrival(CHANNEL, t.address, t.dedupe_key, t.inbound, kind=t.kind,
                    raw=raw_of(update)),
            window=PUSH,
            first=(lambda: self.answer_callback(tapped)) if tapped is not None else None,
        )
        if fed.duplicate:
            self.metrics.duplicates.labels(CHANNEL).inc()
            return False
        self.metrics.inbound.labels(CHANNEL, _metric_type(t)).inc()
        if t.inbound is None and tapped is not None:  # a tap that is no message: just stop it
            self.feed.spawn(self.answer_callback(tapped))
        return True

    async def answer_callback(self, callback_id: str) -> None:
        """answerCallbackQuery, best effort: the tap is stored already, only the spinner waits."""
        try:
            await self.bot(AnswerCallbackQuery(callback_query_id=callback_id))
        except Exception as exc:  # an expired query or a network hiccup loses nothing
            log.warning("telegram: answerCallbackQuery failed (%s)", type(exc).__name__)


def _dedupe_key(update: Update) -> str:
    """The update's inbox key, or one from its id alone when translating is what fails."""
    try:
        return translate(update).dedupe_key
    except Exception:
        return f"upd:{update.update_id}:dead"


def _metric_type(t: Translated) -> str:
    if t.inbound is None:
        return t.kind
    if t.callback_id is not None:
        return "callback"
    if t.inbound.event:
        return f"event:{t.inbound.event}"
    if t.inbound.extra.get("edited"):
        return "edited"
    return "unsupported" if t.inbound.extra.get("unsupported") else "text"


class TelegramWebhook:
    """aiohttp handler for ``POST /telegram``."""

    def __init__(self, settings: Settings, intake: TelegramIntake, metrics: Metrics) -> None:
        self.secret = settings.telegram_webhook_secret.encode()
        self.body_timeout = settings.webhook_body_timeout_seconds
        self.intake = intake
        self.metrics = metrics
        self.outage = OutageLog(log, "telegram webhook")

    async def receive(self, request: web.Request) -> web.StreamResponse:
        """Check the secret, parse, store, answer; processing continues in the background."""
        started = time.perf_counter()
        try:
            return await self._receive(request)
        finally:
            self.metrics.webhook_seconds.labels(CHANNEL).observe(time.perf_counter() - started)

    def _refuse(self, status: int, reason: str) -> web.Response:
        self.metrics.rejected.labels(CHANNEL, reason).inc()
        log.warning("telegram webhook refused: %s", reason)
        return web.Response(status=status, text=reason)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get(SECRET_HEADER, "")
        # Our secret is ASCII; anything else (aiohttp hands bytes >0x7f on as surrogates) is
        # simply wrong, not an error.
        given = header.encode() if header.isascii() else b""
        if not self.secret or not given or not hmac.compare_digest(given, self.secret):
            return self._refuse(401, "bad secret token")
        try:
            data = await read_body(request, MAX_BODY, self.body_timeout)
        except BodyRefused as refused:
            return self._refuse(refused.status, refused.reason)
        try:
            update = Update.model_validate(json.loads(data))
        except (ValueError, ValidationError, TypeError, RecursionError) as exc:
            # Not JSON, or not an update; the label stays fixed, the log says which.
            log.info("telegram webhook: not an update (%s)", type(exc).__name__)
            return self._refuse(400, "not an update")
        try:
            await self.intake.accept(update)
        except Exception as exc:
            # No 200: Telegram resends, and nothing was acknowledged that we did not keep.
            # A database outage is logged once, not once per update.
            if not self.outage.failure(exc):
                log.exception("telegram: could not store update")
            self.metrics.rejected.labels(CHANNEL, "store failed").inc()
            return web.Response(status=503, text="store failed")
        self.outage.success()
        return web.json_response({})
