"""Running a lean turn (bot/lean.py) inside its transaction: at once, and without the ORM."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar, cast

T = TypeVar("T")


class NeedsORM(Exception):
    """The turn touched the database session: not a lean message after all."""


class NoSession:
    """Stands in for the session in a lean turn: any use means the ordinary path."""

    def __getattr__(self, name: str) -> Any:
        raise NeedsORM(name)


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to its end at once; NeedsORM if it would wait for anything.

    A lean turn runs inside the open transaction: on SQLite the loop's one connection, whose
    write lock nobody else may wait behind and which another turn would try to begin on. A
    turn that would wait (something still loading in a thread) goes the ordinary way.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    try:
        coro.throw(NeedsORM("the turn would wait"))
    except StopIteration:
        pass
    finally:
        coro.close()
    raise NeedsORM("the turn would wait")
