"""Sending outbox rows on Telegram: split text, inline buttons, rate limits, error outcomes.

- 429: retried after exactly ``retry_after``; the chat is blocked that long for other rows too.
- 403 (blocked, deactivated) and 400 "chat not found": failed for good, the identity is marked
  unreachable, and alerts fall back to another bound channel (:mod:`xinqiao.bot.fallback`).
- Other 400s: failed (our request is wrong). 401: the channel pauses (the token is refused).
- 5xx, network errors, undecodable answers: retried with backoff.
A long text goes out as several messages; how many are out is recorded with the outcome, so a
retry continues with the next part instead of repeating the first.
"""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from xinqiao.bot.channels.telegram_render import Part, render_payload
from xinqiao.bot.ratelimit import RateLimiter
from xinqiao.bot.send_budget import SharedBudget
from xinqiao.bot.sending import SendOutcome, SendStatus
from xinqiao.clock import Clock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage

log = logging.getLogger(__name__)
PROGRESS = "telegram_parts_sent"
CONFIG_PAUSE = 900.0  # a refused token: probe every 15 min until an operator fixes it


def limiter_for(settings: Settings, clock: Clock, db: Database | None = None) -> RateLimiter:
    """The per-chat and global limits of the settings (protocol.md §5: ~1/s/chat, 30/s);
    with ``db`` the global one is shared by every process (Telegram limits the bot)."""
    rate, burst = settings.telegram_global_rate, settings.telegram_global_burst
    return RateLimiter(
        clock,
        per_key_rate=settings.telegram_chat_rate,
        per_key_burst=settings.telegram_chat_burst,
        global_rate=rate,
        global_burst=burst,
        shared=SharedBudget(db, clock, "telegram", rate, burst) if db is not None else None,
    )


def _chat_id(address: str) -> int | str:
    return int(address) if address.lstrip("-").isdecimal() else address


def _markup(part: Part) -> InlineKeyboardMarkup | None:
    if not part.buttons:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=label or "·", callback_data=data)]
        for label, data in part.buttons
    ])


class TelegramSender:
    """Delivers rows to Telegram chats through the Bot API."""

    channel = "telegram"

    def __init__(self, bot: Bot, limiter: RateLimiter) -> None:
        self.bot = bot
        self.limiter = limiter

    async def send(self, row: OutboxMessage) -> SendOutcome:
        """Send the parts not yet sent, within the rate limits; errors become outcomes."""
        parts = render_payload(row.payload)
        if parts is None:
            log.error("outbox %s has no payload shape Telegram can send", row.id)
            return SendOutcome(SendStatus.failed, error="unsupported payload")
        first = int(row.payload.get(PROGRESS) or 0)
        message_id: str | None = None
        for i in range(first, len(parts)):
            progress = {PROGRESS: i} if i > first else None
            wait, everyone = await self.limiter.acquire(row.address)
            if wait > 0:
                return SendOutcome(SendStatus.held, retry_after=wait, progress=progress,
                                   hold_channel=everyone, error="held by the rate limit")
            try:
                sent = await self.bot(SendMessage(
                    chat_id=_chat_id(row.address), text=parts[i].text,
                    reply_markup=_markup(parts[i]),
                ))
            except TelegramAPIError as exc:
                return self._outcome(row, exc, progress)
            except ClientDecodeError:  # e.g. an HTML error page from a proxy
                return SendOutcome(SendStatus.retry, error="undecodable answer",
                                   progress=progress, channel_down=True)
            message_id = str(sent.message_id)
        return SendOutcome(SendStatus.sent, provider_msg_id=message_id)

    def _outcome(
        self, row: OutboxMessage, exc: TelegramAPIError, progress: dict[str, int] | None
    ) -> SendOutcome:
        error = f"{type(exc).__name__}: {exc.message}"[:500]
        if isinstance(exc, TelegramRetryAfter):
            self.limiter.block(row.address, exc.retry_after)
            return SendOutcome(SendStatus.retry, error=error, retry_after=exc.retry_after,
                               progress=progress)
        if isinstance(exc, TelegramForbiddenError) or (
            isinstance(exc, TelegramBadRequest | TelegramNotFound)
            and "chat not found" in exc.message.lower()
        ):
            log.warning("Telegram refuses chat of outbox %s: %s", row.id, exc.message)
            return SendOutcome(SendStatus.failed, error=error, unreachable=True)
        if isinstance(exc, TelegramBadRequest):
            log.error("Telegram refused outbox %s as malformed (%s); developer attention "
                      "needed", row.id, exc.message)
            return SendOutcome(SendStatus.failed, error=error)
        if isinstance(exc, TelegramUnauthorizedError):
            return SendOutcome(SendStatus.paused, error=error, retry_after=CONFIG_PAUSE)
        # 5xx, network errors, anything else: transient as far as we can tell; bounded by
        # outbox_max_attempts and outbox_retry_hours, then dead-lettered (an alert falls back).
        return SendOutcome(SendStatus.retry, error=error, progress=progress,
                           channel_down=isinstance(exc, TelegramServerError
                                                   | TelegramNetworkError))
