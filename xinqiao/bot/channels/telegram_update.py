"""Translate a Telegram update into what the inbox stores: dedupe key, chat, kind, Inbound.

Commands map onto the engine's own words: ``/start`` and ``/menu`` open the menu (or binding
when unbound), ``/help`` the help, ``/bind`` the binding flow; ``/start <id>_<code>`` is a deep
link (``https://t.me/<bot>?start=<id>_<code>``) that binds in one tap; ``/start <id> <code>``
typed by hand binds too.

A caption is read as the message's text. An edited message comes in again with its new text,
marked ``edited`` (the engine decides what an edit may still change); nothing a person wrote
is dropped unread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from aiogram.types import Update

from xinqiao.bot.channels.telegram_render import parse_callback
from xinqiao.messages import Inbound

CHANNEL = "telegram"
MAX_TEXT = 4096
# Deep-link payloads are at most 64 characters of [A-Za-z0-9_-].
_DEEP_LINK = re.compile(r"^(?:bind[_-])?([A-Za-z0-9-]{1,40})_([A-Za-z0-9]{4,32})$")
# The same typed by hand, with a space (or a full-width one) for the underscore.
_TYPED = re.compile(r"^([A-Za-z0-9-]{1,40})[\s\u3000]+([A-Za-z0-9]{4,32})$")


@dataclass(frozen=True)
class Translated:
    """One update, ready to store: ``inbound`` is None for updates we keep but do not act on."""

    dedupe_key: str
    address: str
    kind: str
    inbound: Inbound | None
    callback_id: str | None = None


def _plain(value: Any) -> str:
    """An aiogram enum member (``str``-mixed ``Enum``) or a string, as its plain value."""
    return str(getattr(value, "value", value))


def raw_of(update: Update) -> dict[str, Any]:
    """The update as Telegram's JSON (kept in the inbox row, encrypted)."""
    return update.model_dump(mode="json", exclude_none=True, by_alias=True)


def command_text(text: str) -> str:
    """Normalise a command: ``/Menu@our_bot`` → ``/menu``, a deep link → ``/bind id code``."""
    if not text.startswith("/"):
        return text
    head, _, rest = text.partition(" ")
    command, rest = head.split("@", 1)[0].lower(), rest.strip()
    if command == "/start" and rest:
        link = _DEEP_LINK.fullmatch(rest) or _TYPED.fullmatch(rest)
        return f"/bind {link.group(1)} {link.group(2)}" if link else "/start"
    return f"{command} {rest}".strip()


def translate(update: Update) -> Translated:
    """The storable form of ``update``.

    The dedupe key starts with ``update_id`` (what Telegram redelivers under) and adds the
    message or query id, because ``update_id`` restarts at a random number after a week
    without updates and must not collide with an old row then.
    """
    uid = update.update_id
    msg = update.message or update.edited_message
    if msg is not None:
        edited = update.message is None
        address = str(msg.chat.id)
        key = f"upd:{uid}:{'e' if edited else ''}{msg.message_id}"
        if msg.chat.type != "private":  # a 1:1 service: groups are kept, not answered
            return Translated(key, address, "telegram.group", None)
        # A photo's or a file's caption is words the person wrote: read them like a text.
        words = msg.text if msg.text is not None else msg.caption
        if words is not None:
            text = command_text(words.strip())[:MAX_TEXT]
            extra: dict[str, Any] = {"edited": True} if edited else {}
            return Translated(key, address, "message",
                              Inbound(CHANNEL, address, text=text, extra=extra))
        if edited:  # a picture swapped for another: nothing new to read or answer
            return Translated(key, address, "telegram.edit", None)
        kind = _plain(msg.content_type)
        return Translated(key, address, "message",
                          Inbound(CHANNEL, address, extra={"unsupported": kind}))
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat if query.message is not None else None
        address = str(chat.id if chat is not None else query.from_user.id)
        key = f"upd:{uid}:cb{query.id}"
        if chat is not None and chat.type != "private":
            return Translated(key, address, "telegram.group", None, query.id)
        if not query.data:  # a game or an inline-mode button: nothing for us
            return Translated(key, address, "telegram.other", None, query.id)
        choice, turn = parse_callback(query.data)
        inbound = Inbound(CHANNEL, address, choice=choice,
                          extra={"turn": turn} if turn is not None else {})
        return Translated(key, address, "message", inbound, query.id)
    if update.my_chat_member is not None:
        member = update.my_chat_member
        address = str(member.chat.id)
        key = f"upd:{uid}:member"
        status = _plain(member.new_chat_member.status)
        if member.chat.type == "private" and status == "kicked":
            # The person blocked the bot: pushes go to their other channel from now on.
            return Translated(key, address, "message",
                              Inbound(CHANNEL, address, event="unsubscribe"))
        return Translated(key, address, "telegram.member", None)
    return Translated(f"upd:{uid}:other", "", "telegram.other", None)
