"""Where a capability's wording reaches the services that push with no flow in between.

A timer's reminder or a recorded incident's offer is queued inside a service, but the words
are the handlers' (a texts module per capability). The texts module offers itself to its
capability's port when the handlers load; the services ask the port, never a handler, so the
layers stay one way (services import no handlers).
"""

from __future__ import annotations

from typing import Generic, TypeVar

W = TypeVar("W")


class WordingPort(Generic[W]):
    """One capability's wording, offered by the handlers and used by the services."""

    def __init__(self, capability: str, offered_by: str) -> None:
        self._capability, self._offered_by = capability, offered_by
        self._wording: W | None = None

    def use(self, wording: W) -> None:
        """Word this capability's pushes with ``wording`` from now on."""
        self._wording = wording

    def __call__(self) -> W:
        """The wording in use; nothing can be pushed before the handlers offered theirs.

        A capability names its port ``words``, so a service writes ``words().alert(...)``.
        """
        if self._wording is None:
            raise RuntimeError(f"{self._capability} wording not installed: "
                               f"import {self._offered_by}")
        return self._wording
