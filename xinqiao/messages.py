"""Channel-neutral message types: the only shapes handlers ever see."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Choice:
    """A tappable option: ``key`` comes back when chosen, ``label`` is what the user sees."""

    key: str
    label: str


DIGEST_PREFIX = "#"
NAV_PREFIX = "nav:"  # 跳过, 返回: said as words, shown apart from the numbered choices


def unnumbered(key: str) -> bool:
    """Whether a choice is navigation (主菜单, 跳过, 返回): never numbered, typed as its word."""
    return key == "menu" or key.startswith(NAV_PREFIX)


def choice_digest(key: str) -> str:
    """A short stand-in for a choice key too long for a channel (Telegram: 64 bytes).

    The engine maps it back to the key among the choices it offered last turn.
    """
    return DIGEST_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class Link:
    """A link to an article or page, rendered as a card where the channel can.

    ``image`` is an optional cover picture (WeChat news cards show it).
    """

    title: str
    url: str
    summary: str = ""
    image: str = ""


@dataclass(frozen=True)
class Reply:
    """One message to the user: text, optional choices and links."""

    text: str
    choices: tuple[Choice, ...] = ()
    links: tuple[Link, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Serialise for storage in the inbox or outbox."""
        return {
            "text": self.text,
            "choices": [[c.key, c.label] for c in self.choices],
            "links": [[lk.title, lk.url, lk.summary, lk.image] for lk in self.links],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reply:
        """Inverse of :meth:`to_json`."""
        return cls(
            text=str(data.get("text", "")),
            choices=tuple(Choice(str(k), str(lbl)) for k, lbl in data.get("choices", [])),
            links=tuple(Link(*(str(v) for v in lk[:4])) for lk in data.get("links", [])),
        )


@dataclass(frozen=True)
class Inbound:
    """A message or event from a user, after the channel has translated it.

    ``text`` is what was typed (stripped); ``choice`` is a tapped option key, filled by the
    channel (Telegram buttons, WeChat menu clicks) or by the engine (a typed number).
    ``event`` names a non-message event: ``subscribe``, ``unsubscribe``, ``menu`` ...
    ``extra["turn"]``, when a channel sets it, is the conversation turn whose message carried
    the tapped choice; a choice from an older turn is stale (see the engine).
    """

    channel: str
    address: str
    text: str = ""
    choice: str | None = None
    event: str | None = None
    received_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def with_choice(self, key: str | None) -> Inbound:
        """A copy with ``choice`` set."""
        return Inbound(
            self.channel, self.address, self.text, key, self.event, self.received_at, self.extra
        )
