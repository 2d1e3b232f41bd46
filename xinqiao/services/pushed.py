"""A worded message as services carry it: queued and offered unread, worded elsewhere.

The words of a push live in a handlers texts module (behind a wording port such as
``services/escalation/wording``); the services that queue it only need its shape — the text
whose first line names an alert card, the choices a number or tap answers, and the stored
form. A :class:`xinqiao.messages.Reply` is one; services never build one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Offered(Protocol):
    """A tappable option as a push offers it: the key that comes back, the label shown."""

    @property
    def key(self) -> str:
        """What comes back when chosen."""
        ...

    @property
    def label(self) -> str:
        """What the person sees."""
        ...


class Pushed(Protocol):
    """A worded message, as the outbox and the push choices read it."""

    @property
    def text(self) -> str:
        """The words (an alert card names the item by its first line)."""
        ...

    @property
    def choices(self) -> Sequence[Offered]:
        """The choices a number or a tap answers."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The stored form the channels deliver."""
        ...
