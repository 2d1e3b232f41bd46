"""What senders and the notifier agree on: the Sender protocol, outcomes, payload texts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from xinqiao.bot.channels.wechat_render import render_text, truncate_bytes
from xinqiao.messages import Reply
from xinqiao.storage.models import OutboxMessage

ALERT_KINDS = frozenset({"alert", "crisis"})
NO_FALLBACK_KINDS = frozenset({"reply"})
DEFAULT_PAUSE = 3600.0  # a paused channel is probed again after this, unless told otherwise


class SendStatus(StrEnum):
    """What became of one attempt."""

    sent = "sent"  # accepted by the platform
    retry = "retry"  # transient: try again later (after ``retry_after`` exactly, if given)
    failed = "failed"  # permanent for this message and recipient
    fallback = "fallback"  # this channel refused the recipient for now: try another channel
    paused = "paused"  # the channel itself is stopped (quota, configuration): keep the row
    held = "held"  # not attempted (rate limit): due again after ``retry_after``, no attempt used


@dataclass(frozen=True)
class SendOutcome:
    """The result a sender reports; ``retry_after`` is in seconds.

    ``unreachable`` says the platform refused this recipient on this channel (blocked the bot,
    unfollowed, invalid address): the notifier marks the identity so that later pushes choose
    another channel until the person writes from this one again. ``progress`` is merged into
    the row's payload when the row stays pending (e.g. how many parts of a split text went out),
    so that the next attempt does not send them twice.
    """

    status: SendStatus
    provider_msg_id: str | None = None
    error: str | None = None
    retry_after: float | None = None
    unreachable: bool = False
    progress: dict[str, Any] | None = None
    hold_channel: bool = False  # with ``held``: the whole channel is at its limit, not one chat
    channel_down: bool = False  # with ``retry``: the platform itself failed (busy, 5xx, no answer)


class Sender(Protocol):
    """Delivers outbox rows on one channel."""

    channel: str

    async def send(self, row: OutboxMessage) -> SendOutcome:
        """Try once to deliver ``row``."""
        ...


def alert_text(alert: dict[str, Any]) -> str:
    """An alert payload as plain lines: title, ``field：value`` lines, then the link."""
    lines = [str(alert.get("title", ""))]
    lines += [f"{k}：{v}" for k, v in dict(alert.get("fields") or {}).items()]
    if alert.get("url"):
        lines.append(str(alert["url"]))
    return "\n".join(lines)


def payload_text(payload: dict[str, Any], tappable: bool = False) -> str | None:
    """The payload as one text message (WeChat's limits), or None if it has no shape;
    ``tappable``: choices as WeChat menu links."""
    if isinstance(payload.get("reply"), dict):
        return render_text(Reply.from_json(payload["reply"]), tappable)
    alert = payload.get("alert")
    if isinstance(alert, dict):
        return truncate_bytes(alert_text(alert), 2000)
    return None


class ConsoleSender:
    """Prints pushes: the console simulator's channel (and a stand-in in tests)."""

    def __init__(
        self, write: Callable[[str], None] = print, channel: str = "console"
    ) -> None:
        self.write = write
        self.channel = channel

    async def send(self, row: OutboxMessage) -> SendOutcome:
        """Write the rendered text; always succeeds."""
        self.write(payload_text(row.payload) or "")
        return SendOutcome(SendStatus.sent)
