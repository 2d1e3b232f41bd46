"""One turn's unit of work: the services a flow calls run inside its transaction.

A flow never holds the database session. It names the service and its arguments —
``await ctx.run(booking.upcoming, person_id, now)`` — and the turn's ``Work`` supplies the
session as the service's first argument. Handlers may not import storage, SQLAlchemy or
SQLModel (the ``handlers-talk`` contract in pyproject.toml), so a flow can neither build a
query nor reach a row except through a service.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

# The session type as handlers name it in signatures, without importing SQLModel themselves.
Session = AsyncSession

P = ParamSpec("P")
T = TypeVar("T")


class Work:
    """The transaction one inbound message is handled in, lent only to services."""

    __slots__ = ("_session",)

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def run(self, service: Callable[Concatenate[AsyncSession, P], Awaitable[T]],
                  /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``service(session, *args, **kwargs)`` in this unit of work."""
        return await service(self._session, *args, **kwargs)
