"""Render channel-neutral replies as WeChat text: choices become tappable, numbered lines.

On an Official Account a text message may hold ``<a href="weixin://bizmsgmenu?msgmenucontent=
…&msgmenuid=…">label</a>`` links: a tap sends ``msgmenucontent`` back as the user's text
message, with ``bizmsgmenuid`` beside it on verified accounts. The content is the label (or the
choice's number when the label cannot travel in a URL), so a tap reads like a typed answer and
works without the id too; the id names the choice itself (see :func:`choice_from_menu_id`), so
a tap on an old message is recognised as such. Numbers stay as the fallback for typing.

Navigation (主菜单, 跳过, 返回: ``messages.unnumbered``) is never numbered: numbers refer to the
other choices, and when a reply offers nothing else the main menu's own numbers apply (see the
engine); typed, navigation is its word.
"""

from __future__ import annotations

import re

from xinqiao.messages import DIGEST_PREFIX, Choice, Link, Reply, choice_digest, unnumbered

# WeChat cuts text messages at 2048 bytes; keep a margin.
MAX_TEXT_BYTES = 2000
MENU_KEY = "menu"
TAP_HINT = "（点选项，或回复序号）"
TYPE_HINT = "（回复序号即可）"
_DIGEST_ID = "xq"
_SAFE_CONTENT = re.compile(r"^[^&\"'<>#?=%+\\\s]{1,40}$")
_FLOW_ID = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def menu_id(choice: Choice) -> str:
    """The ``msgmenuid`` of a choice: timeless keys as themselves, others as a digest."""
    if choice.key == MENU_KEY:
        return MENU_KEY
    if choice.key.startswith("flow:") and _FLOW_ID.fullmatch(choice.key[5:]):
        return "f-" + choice.key[5:]
    return _DIGEST_ID + choice_digest(choice.key)[len(DIGEST_PREFIX):]


def choice_from_menu_id(value: str) -> str | None:
    """The choice key (or key digest) a tapped link's ``bizmsgmenuid`` stands for, if any."""
    value = value.strip()
    if value == MENU_KEY:
        return MENU_KEY
    if value.startswith("f-") and _FLOW_ID.fullmatch(value[2:]):
        return "flow:" + value[2:]
    if value.startswith(_DIGEST_ID) and re.fullmatch(r"[0-9a-f]{24}", value[2:]):
        return DIGEST_PREFIX + value[2:]
    return None


def tap_link(choice: Choice, number: int | None) -> str:
    """A bizmsgmenu link: tapping it sends the label (or the number) back as a message."""
    content = choice.label if _SAFE_CONTENT.fullmatch(choice.label) else str(number or "菜单")
    label = choice.label.replace("<", "＜").replace(">", "＞")
    return (f'<a href="weixin://bizmsgmenu?msgmenucontent={content}'
            f'&msgmenuid={menu_id(choice)}">{label}</a>')


def render_text(reply: Reply, tappable: bool = False) -> str:
    """The reply as one text message: text, numbered choices, links as lines.

    ``tappable`` makes choices WeChat menu links (plain text when they would not fit).
    """
    if tappable:
        text = _render(reply, True)
        if len(text.encode("utf-8")) <= MAX_TEXT_BYTES:
            return text
    return truncate_bytes(_render(reply, False), MAX_TEXT_BYTES)


def _render(reply: Reply, tappable: bool) -> str:
    lines = [reply.text] if reply.text else []
    numbered = [c for c in reply.choices if not unnumbered(c.key)]
    nav = [c for c in reply.choices if unnumbered(c.key)]
    if reply.choices:
        lines.append("")
    for i, c in enumerate(numbered, 1):
        lines.append(f"{i}. {tap_link(c, i) if tappable else c.label}")
    if nav and tappable:
        lines.append("　".join(tap_link(c, None) for c in nav))
    # A question that already says how to answer with numbers (可多选) needs no second hint.
    how = (TAP_HINT if tappable else TYPE_HINT) if numbered and "序号" not in reply.text else ""
    words = "".join(f"“{c.label}”" for c in nav) if nav and not tappable else ""
    if how and words:
        lines.append(f"{how[:-1]}；也可以回复{words}）")
    elif how or words:
        lines.append(how or f"（可以回复{words}）")
    for link in reply.links:
        lines.append(f"{link.title}：{link.url}")
    return "\n".join(lines)


def render_many(replies: list[Reply], tappable: bool = False) -> str:
    """Several replies joined into one passive reply (WeChat allows one per request)."""
    if tappable:
        text = "\n\n".join(render_text(r, True) for r in replies)
        if len(text.encode("utf-8")) <= MAX_TEXT_BYTES:
            return text
    return truncate_bytes("\n\n".join(_render(r, False) for r in replies), MAX_TEXT_BYTES)


def truncate_bytes(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes without splitting a character."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", errors="ignore") + "…"


def news_card(replies: list[Reply]) -> Link | None:
    """The one article to send as a news card, when the answer is exactly that.

    A news message carries no text or choices of its own, so only a lone reply holding one
    link and no numbered choices becomes a card (navigation such as 主菜单 is typed as its
    word); anything else is text with the link as a line.
    """
    numbered = [c for c in replies[0].choices if not unnumbered(c.key)] if replies else []
    if len(replies) != 1 or numbered or len(replies[0].links) != 1:
        return None
    link = replies[0].links[0]
    return Link(link.title, link.url, link.summary or replies[0].text, link.image)
