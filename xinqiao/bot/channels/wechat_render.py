"""Render channel-neutral replies as WeChat text: choices become numbered lines."""

from __future__ import annotations

from xinqiao.messages import Link, Reply

# WeChat cuts text replies at about 2048 bytes; keep a margin for the choice lines.
MAX_TEXT_BYTES = 2000


def render_text(reply: Reply) -> str:
    """The reply as one WeChat text message: text, numbered choices, links as lines."""
    lines = [reply.text] if reply.text else []
    if reply.choices:
        lines.append("")
        lines.extend(f"{i}. {c.label}" for i, c in enumerate(reply.choices, 1))
        lines.append("（回复序号即可）")
    for link in reply.links:
        lines.append(f"{link.title}：{link.url}")
    return truncate_bytes("\n".join(lines), MAX_TEXT_BYTES)


def render_many(replies: list[Reply]) -> str:
    """Several replies joined into one passive reply (WeChat allows one per request)."""
    return truncate_bytes("\n\n".join(render_text(r) for r in replies), MAX_TEXT_BYTES)


def truncate_bytes(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes without splitting a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "…"


def news_card(replies: list[Reply]) -> Link | None:
    """The one article to send as a news card, when the answer is exactly that.

    A news message carries no text or choices of its own, so only a lone reply holding one
    link and no choices becomes a card; anything else is text with the link as a line.
    """
    if len(replies) != 1 or replies[0].choices or len(replies[0].links) != 1:
        return None
    link = replies[0].links[0]
    return Link(link.title, link.url, link.summary or replies[0].text, link.image)
