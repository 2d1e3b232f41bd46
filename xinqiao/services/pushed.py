"""A worded message as services carry it: queued and offered unread, worded elsewhere.

The words of a push live in a handlers texts module (behind a wording port such as
``services/escalation_wording``); the services that queue it only need its shape — the text
whose first line names an alert card, the choices a number or tap answers, and the stored
form. A :class:`xinqiao.messages.Reply` is one; services never build one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, Protocol, TypeVar


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


W = TypeVar("W")


class WordingPort(Generic[W]):
    """One capability's push wording, offered by its handlers texts module when it loads."""

    def __init__(self, capability: str, texts: str) -> None:
        self._capability, self._texts = capability, texts
        self._wording: list[W] = []

    def use(self, wording: W) -> None:
        """Word this capability's pushes with ``wording`` from now on."""
        self._wording[:] = [wording]

    def __call__(self) -> W:
        """The wording in use; nothing is pushed before its texts module has offered it."""
        if not self._wording:
            raise RuntimeError(f"{self._capability} wording not installed: import {self._texts}")
        return self._wording[0]
