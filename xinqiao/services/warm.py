"""A value that is slow to build (jieba's dictionary, the crisis model), built once per process.

Start-up builds it in a warm-up thread. Whoever needs it before that build ends waits for the
same build instead of starting a second one: a thread blocks on the lock, a coroutine awaits
``ready`` (a thread of its own waits on the lock, so the event loop keeps serving).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Once(Generic[T]):
    """``build()`` run at most once at a time; its result kept until ``forget``."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._lock = threading.Lock()
        self._value: tuple[T] | None = None

    @property
    def built(self) -> bool:
        """Whether the value is there (no wait)."""
        return self._value is not None

    def get(self) -> T:
        """The value, building it (or waiting for the build in progress) first."""
        got = self._value
        if got is None:
            with self._lock:
                got = self._value
                if got is None:  # a failed build leaves it unset: the next caller retries
                    got = self._value = (self._build(),)
        return got[0]

    async def ready(self) -> T:
        """``get`` without holding the event loop while a build runs or is waited for."""
        got = self._value
        if got is not None:
            return got[0]
        return await asyncio.to_thread(self.get)

    def forget(self) -> None:
        """Drop the value: the next ``get`` builds it again (tests start "a fresh process")."""
        with self._lock:
            self._value = None


class Warmable(Protocol):
    """Something a message's processing needs that start-up loads in a warm-up thread."""

    @property
    def warm(self) -> bool:
        """Whether it is loaded (no wait)."""

    async def ready(self) -> None:
        """Wait, off the event loop, until it is loaded."""


class Readiness:
    """What processing a message needs loaded: awaited before its transaction opens, so a
    message during the warm-up holds neither the event loop nor a database connection.

    Only once a warm-up has begun (``serve``): without one (the CLI, most tests) each part
    still loads on its first use, and nothing waits for what nobody is loading.
    """

    def __init__(self, parts: Sequence[Warmable] = ()) -> None:
        self.parts = tuple(parts)
        self.warming = False

    def begin(self) -> None:
        """The warm-up starts (call before starting its threads)."""
        self.warming = True

    @property
    def warm(self) -> bool:
        """Whether a message need not wait: no warm-up, or everything loaded."""
        return not self.warming or all(p.warm for p in self.parts)

    async def wait(self) -> None:
        """Until everything is loaded (returns at once when it is, or with no warm-up)."""
        if self.warm:
            return
        for part in self.parts:
            if not part.warm:
                try:
                    await part.ready()
                except Exception:  # the message goes on: its first use loads and reports it
                    log.exception("loading %s for a message failed", type(part).__name__)
