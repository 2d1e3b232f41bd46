"""Render channel-neutral replies for Telegram: text parts of ≤ 4096 characters, inline buttons.

Telegram counts a message's length in UTF-16 code units, so an emoji outside the BMP costs two.
Long texts are cut at a line break where one is near, else between characters, never inside a
grapheme (a combining mark, a variation selector, a skin tone, a ZWJ sequence or a flag pair
stays whole). The buttons ride on the last part.

A button's ``callback_data`` (≤ 64 bytes) is ``<turn>|<choice key>``: the conversation turn
lets the engine tell a tap on an old message from a tap on the current one; a key too long for
the limit travels as its digest (:func:`xinqiao.messages.choice_digest`).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from xinqiao.bot.sending import alert_text
from xinqiao.messages import DIGEST_PREFIX, Reply, choice_digest

MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
_JOINERS = {0x200D}  # ZERO WIDTH JOINER


@dataclass(frozen=True)
class Part:
    """One sendMessage: its text and inline buttons as (label, callback_data), one per row."""

    text: str
    buttons: tuple[tuple[str, str], ...] = ()


def utf16_len(text: str) -> int:
    """The length Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def _extends(ch: str) -> bool:
    """True for a character that belongs to the grapheme before it."""
    cp = ord(ch)
    return (
        unicodedata.combining(ch) != 0
        or unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or cp in _JOINERS
        or 0xFE00 <= cp <= 0xFE0F  # variation selectors
        or 0x1F3FB <= cp <= 0x1F3FF  # skin tone modifiers
        or 0xE0020 <= cp <= 0xE007F  # tag characters (subdivision flags)
    )


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _boundary(text: str, i: int) -> bool:
    """Whether cutting ``text`` before index ``i`` keeps every grapheme whole."""
    if i <= 0 or i >= len(text):
        return True
    if _extends(text[i]) or ord(text[i - 1]) in _JOINERS:
        return False
    if _regional(text[i]) and _regional(text[i - 1]):
        run = 0  # cut only between complete flag pairs
        while i - run - 1 >= 0 and _regional(text[i - run - 1]):
            run += 1
        return run % 2 == 0
    return True


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Cut ``text`` into parts Telegram accepts, preferring line breaks."""
    parts: list[str] = []
    while utf16_len(text) > limit:
        units, fit = 0, 0
        for fit, ch in enumerate(text):  # noqa: B007 — fit is used after the loop
            units += 2 if ord(ch) > 0xFFFF else 1
            if units > limit:
                break
        newline = text.rfind("\n", 0, fit + 1)
        if newline >= fit // 2 and newline > 0:
            head, text = text[:newline], text[newline + 1:]
        else:
            cut = fit
            while cut > 0 and not _boundary(text, cut):
                cut -= 1
            cut = cut or fit  # one grapheme longer than the limit: cut it after all
            head, text = text[:cut], text[cut:]
        if head.strip():
            parts.append(head)
    if text.strip() or not parts:
        parts.append(text)
    return parts


def callback_data(key: str, turn: int | None) -> str:
    """What a button carries back: ``turn|key``, or ``turn|#digest`` when that is too long."""
    prefix = f"{turn}|" if turn is not None else ""
    data = prefix + key
    if len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES and not key.startswith(DIGEST_PREFIX):
        return data
    return prefix + choice_digest(key)


def parse_callback(data: str) -> tuple[str, int | None]:
    """The choice key (or its digest) and the turn from a button's ``callback_data``."""
    head, sep, rest = data.partition("|")
    if sep and head.isdecimal():
        return rest, int(head)
    return data, None


def render_reply(reply: Reply, turn: int | None = None) -> list[Part]:
    """One reply as Telegram messages: the text split, links as lines, buttons on the last."""
    lines = [reply.text] if reply.text else []
    for link in reply.links:  # a card as plain lines: Telegram previews the page below it
        lines += ["", f"📖 {link.title}", *([link.summary] if link.summary else []), link.url]
    text = "\n".join(lines).strip() or "请选择："
    buttons = tuple((c.label[:64], callback_data(c.key, turn)) for c in reply.choices)
    texts = split_text(text)
    return [Part(t) for t in texts[:-1]] + [Part(texts[-1], buttons)]


def render_payload(payload: dict[str, Any]) -> list[Part] | None:
    """An outbox payload as Telegram messages; None if it has no shape we know."""
    turn = payload.get("turn")
    turn = turn if isinstance(turn, int) else None
    if isinstance(payload.get("reply"), dict):
        return render_reply(Reply.from_json(payload["reply"]), turn)
    if isinstance(payload.get("alert"), dict):
        return [Part(t) for t in split_text(alert_text(payload["alert"]))]
    return None
