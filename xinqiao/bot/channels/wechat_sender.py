"""Sending outbox rows on WeChat: alerts as template messages, everything else as text."""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import Any

from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_http import (
    DEVELOPER_ERRORS,
    TRANSPORT_ERROR,
    ErrorKind,
    WeChatAPIError,
)
from xinqiao.bot.channels.wechat_render import news_card
from xinqiao.bot.ratelimit import RateLimiter
from xinqiao.bot.send_budget import SharedBudget
from xinqiao.bot.sending import (
    ALERT_KINDS,
    DEFAULT_PAUSE,
    SendOutcome,
    SendStatus,
    payload_text,
)
from xinqiao.clock import SHANGHAI
from xinqiao.messages import Reply
from xinqiao.settings import Settings
from xinqiao.storage.models import OutboxMessage

log = logging.getLogger(__name__)
NOTICE_KIND = "notice"  # invitations and reminders to students (screening rounds...)
CONFIG_PAUSE = 900.0  # fatal configuration (IP whitelist...): probe every 15 min until fixed
# The openid no longer follows the account, or is not one of ours: later pushes to this person
# choose another channel until they write from WeChat again.
UNREACHABLE_ERRORS = frozenset({43004, 40003})
PLATFORM_DOWN = frozenset({-1, TRANSPORT_ERROR})  # system busy, 5xx, no answer: not this push's


def limiter_for(settings: Settings, api: WeChatAPI) -> RateLimiter:
    """The account's send rate: WeChat limits the account, not each follower or process, so
    the bucket is in the database, shared by every worker."""
    rate, burst = settings.wechat_send_rate, settings.wechat_send_burst
    return RateLimiter(api.clock, per_key_rate=rate, per_key_burst=burst, global_rate=rate,
                       global_burst=burst,
                       shared=SharedBudget(api.db, api.clock, "wechat", rate, burst))


def _client_msg_id(key: str) -> str:
    # Deterministic, so a retry of the same row reuses it; hashed when too long for WeChat.
    return key if len(key) <= 64 else hashlib.sha1(key.encode()).hexdigest()  # noqa: S324


def template_data(alert: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Alert → template data: title → thing1, field values in order → thing2…thing5 (≤ 20 chars).

    The configured template must therefore be a category template whose keywords are
    ``thing1``..``thing5``, labelled in the order producers write their fields.
    """
    values = [str(alert.get("title", ""))]
    values += [str(v) for v in dict(alert.get("fields") or {}).values()]
    return {f"thing{i}": {"value": v[:20]} for i, v in enumerate(values[:5], 1)}


def _seconds_to_quota_reset(now: datetime) -> float:
    # WeChat daily quotas reset at midnight Beijing time; probe at least hourly in case an
    # operator clears the quota (clear_quota) sooner.
    local = now.astimezone(SHANGHAI)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return min(DEFAULT_PAUSE, (midnight - local).total_seconds())


class WeChatSender:
    """Sends rows on WeChat: alerts and notices as templates when configured, else custom text."""

    channel = "wechat"

    def __init__(
        self, api: WeChatAPI, settings: Settings, limiter: RateLimiter | None = None
    ) -> None:
        self.api = api
        self.settings = settings
        self.limiter = limiter or limiter_for(settings, api)

    async def send(self, row: OutboxMessage) -> SendOutcome:
        """Try once, within the send rate; WeChat errors become outcomes, never exceptions."""
        wait, everyone = await self.limiter.acquire(row.address)
        if wait > 0:
            return SendOutcome(SendStatus.held, retry_after=wait, hold_channel=everyone,
                               error="held by the rate limit")
        alert = row.payload.get("alert")
        template_id = self._template_for(row.kind)
        try:
            if isinstance(alert, dict) and template_id:
                msgid = await self.api.send_template(
                    row.address,
                    template_id,
                    template_data(alert),
                    str(alert.get("url") or "") or None,
                    _client_msg_id(row.idempotency_key),
                )
                return SendOutcome(SendStatus.sent, provider_msg_id=msgid)
            reply = row.payload.get("reply")
            card = news_card([Reply.from_json(reply)]) if isinstance(reply, dict) else None
            if card is not None:
                await self.api.send_custom_news(row.address, card)
                return SendOutcome(SendStatus.sent)
            text = payload_text(row.payload, tappable=True)
            if text is None:
                log.error("outbox %s has no payload shape WeChat can send", row.id)
                return SendOutcome(SendStatus.failed, error="unsupported payload")
            await self.api.send_custom_text(row.address, text)
            return SendOutcome(SendStatus.sent)
        except WeChatAPIError as exc:
            return self._outcome(row, exc)

    def _template_for(self, kind: str) -> str:
        """The template a push of ``kind`` goes out as, or "" for a custom text message."""
        if kind in ALERT_KINDS:
            return self.settings.wechat_alert_template_id
        if kind == NOTICE_KIND:
            return self.settings.wechat_notice_template_id
        return ""

    def _outcome(self, row: OutboxMessage, exc: WeChatAPIError) -> SendOutcome:
        error = f"{exc.code} {exc.message}"
        if exc.kind is ErrorKind.retryable:
            return SendOutcome(SendStatus.retry, error=error,
                               channel_down=exc.code in PLATFORM_DOWN)
        if exc.kind is ErrorKind.fallback:
            return SendOutcome(SendStatus.fallback, error=error)
        if exc.kind is ErrorKind.quota:
            wait = _seconds_to_quota_reset(self.api.clock.now())
            return SendOutcome(SendStatus.paused, error=error, retry_after=wait)
        if exc.kind is ErrorKind.fatal:
            return SendOutcome(SendStatus.paused, error=error, retry_after=CONFIG_PAUSE)
        if exc.code in DEVELOPER_ERRORS or exc.kind is ErrorKind.token:
            log.error("WeChat refused outbox %s as malformed or unauthorised (errcode %s: %s); "
                      "developer attention needed", row.id, exc.code, exc.message)
        else:
            log.warning("WeChat cannot deliver outbox %s to this recipient (errcode %s)",
                        row.id, exc.code)
        return SendOutcome(SendStatus.failed, error=error,
                           unreachable=exc.code in UNREACHABLE_ERRORS)
