"""Sending outbox rows as WeCom app messages, within WeCom's per-member limits.

Alerts about an item go out as a text card whose button opens the item in the console; other
alerts as markdown when configured (only the WeCom client shows it), everything else as text.
A member WeCom refuses (``invaliduser``, outside the app's visible scope, unknown userid) is
marked unreachable and the push falls back to the person's other channel.
"""

from __future__ import annotations

import html
import logging
from typing import Any

from xinqiao.bot.channels.wechat_http import DEVELOPER_ERRORS, ErrorKind, WeChatAPIError
from xinqiao.bot.channels.wechat_render import render_text, truncate_bytes
from xinqiao.bot.channels.wecom_api import UNREACHABLE_CODES, WeComAPI
from xinqiao.bot.member_budget import MemberBudget
from xinqiao.bot.send_budget import SharedBudget
from xinqiao.bot.sending import ALERT_KINDS, SendOutcome, SendStatus, alert_text
from xinqiao.messages import Reply
from xinqiao.settings import Settings
from xinqiao.storage.models import OutboxMessage

log = logging.getLogger(__name__)
CHANNEL = "wecom"
CONFIG_PAUSE = 900.0  # trusted IP, secret, agent id wrong: probe every 15 min until fixed
QUOTA_PAUSE = 60.0  # the corp's API frequency: WeCom counts per minute and per hour
ALERT_DEDUPE_SECONDS = 600  # a retried alert (lost answer) is not shown twice
MAX_TEXT_BYTES = 2048
# Every field of a refused member in message/send's answer (errcode 0 for a partial refusal).
_REFUSED_FIELDS = ("invaliduser", "unlicenseduser")


def _console_link(settings: Settings, alert: dict[str, Any]) -> str | None:
    if alert.get("url"):
        return str(alert["url"])
    item = alert.get("item")
    if isinstance(item, int):
        return f"{settings.public_base_url.rstrip('/')}/console/items/{item}"
    return None


def card_description(lines: list[str], limit: int = 512) -> str:
    """Lines as a text card's description: whole ``<div>`` lines within WeCom's 512 bytes."""
    out = ""
    for line in lines:
        if not line.strip():
            continue
        div = f'<div class="normal">{html.escape(line)}</div>'
        if len((out + div).encode()) > limit:
            break
        out += div
    return out


def message_for(settings: Settings, row: OutboxMessage) -> tuple[str, dict[str, Any]] | None:
    """The app message (msgtype, body) for a row, or None if it has no shape we send."""
    alert = row.payload.get("alert")
    if isinstance(alert, dict) and row.kind in ALERT_KINDS:
        fields = dict(alert.get("fields") or {})
        link = _console_link(settings, alert)
        if link is not None:
            # The alert's own words (deadline, how to confirm, choices) when it has them.
            reply = row.payload.get("reply")
            lines = (render_text(Reply.from_json(reply)).splitlines()
                     if isinstance(reply, dict) else [f"{k}：{v}" for k, v in fields.items()])
            return "textcard", {"title": truncate_bytes(str(alert.get("title", "")), 128),
                                "description": card_description(lines),
                                "url": link, "btntxt": "查看详情"}
        if settings.wecom_markdown:
            text = "\n".join([f"**{alert.get('title', '')}**",
                              *(f"> {k}：{v}" for k, v in fields.items())])
            return "markdown", {"content": truncate_bytes(text, MAX_TEXT_BYTES)}
        return "text", {"content": truncate_bytes(alert_text(alert), MAX_TEXT_BYTES)}
    reply = row.payload.get("reply")
    if isinstance(reply, dict):  # numbered choices: WeChat's tap links do not work in WeCom
        return "text", {"content": truncate_bytes(render_text(Reply.from_json(reply)),
                                                  MAX_TEXT_BYTES)}
    if isinstance(alert, dict):
        return "text", {"content": truncate_bytes(alert_text(alert), MAX_TEXT_BYTES)}
    return None


def _refused(answer: dict[str, Any], userid: str) -> bool:
    return any(userid in str(answer.get(f) or "").split("|") for f in _REFUSED_FIELDS)


class WeComSender:
    """Sends rows as app messages: the corp's rate, then the member's limits, then the call."""

    channel = CHANNEL

    def __init__(self, api: WeComAPI, settings: Settings) -> None:
        self.api = api
        self.settings = settings
        self.shared = SharedBudget(api.db, api.clock, CHANNEL, settings.wecom_send_rate,
                                   settings.wecom_send_burst)
        self.members = MemberBudget(api.db, api.clock, CHANNEL, (
            (settings.wecom_member_per_minute, 60.0),
            (settings.wecom_member_per_hour, 3600.0)))

    async def send(self, row: OutboxMessage) -> SendOutcome:
        """Try once; a member at their limit holds the row until a place frees."""
        message = message_for(self.settings, row)
        if message is None:
            log.error("outbox %s has no payload shape WeCom can send", row.id)
            return SendOutcome(SendStatus.failed, error="unsupported payload")
        wait = await self.shared.take()
        if wait > 0:
            return SendOutcome(SendStatus.held, retry_after=wait, hold_channel=True,
                               error="held by the corp's send rate")
        wait = await self.members.take(row.address)
        if wait > 0:  # WeCom would drop it silently: wait for the window instead
            return SendOutcome(SendStatus.held, retry_after=wait,
                               error="held by the member's WeCom limit")
        msgtype, body = message
        dedupe = ALERT_DEDUPE_SECONDS if row.kind in ALERT_KINDS else 0
        try:
            answer = await self.api.send_app_message(row.address, msgtype, body,
                                                     dedupe_seconds=dedupe)
        except WeChatAPIError as exc:
            return self._outcome(row, exc)
        if _refused(answer, row.address):
            log.warning("WeCom refused outbox %s: the member is not in the app's scope",
                        row.id)
            return SendOutcome(SendStatus.fallback, error="invaliduser", unreachable=True)
        return SendOutcome(SendStatus.sent, provider_msg_id=str(answer.get("msgid") or "")
                           or None)

    def _outcome(self, row: OutboxMessage, exc: WeChatAPIError) -> SendOutcome:
        error = f"{exc.code} {exc.message}"
        if exc.kind is ErrorKind.retryable:
            return SendOutcome(SendStatus.retry, error=error, channel_down=exc.code < 0)
        if exc.kind is ErrorKind.fallback:
            return SendOutcome(SendStatus.fallback, error=error,
                               unreachable=exc.code in UNREACHABLE_CODES)
        if exc.kind is ErrorKind.quota:
            return SendOutcome(SendStatus.paused, error=error, retry_after=QUOTA_PAUSE)
        if exc.kind is ErrorKind.fatal:
            return SendOutcome(SendStatus.paused, error=error, retry_after=CONFIG_PAUSE)
        level = logging.ERROR if exc.code in DEVELOPER_ERRORS or exc.kind is ErrorKind.token \
            or exc.kind is ErrorKind.permanent else logging.WARNING
        log.log(level, "WeCom refused outbox %s (errcode %s: %s)", row.id, exc.code, exc.message)
        return SendOutcome(SendStatus.failed, error=error)
