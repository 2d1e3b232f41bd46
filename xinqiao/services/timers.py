"""Durable deadlines: timers are rows, and the sweeper fires each due one exactly once."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import Clock
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.outage import database_unavailable
from xinqiao.storage.reports import Timer

log = logging.getLogger(__name__)

# A timer handler does its one step inside the transaction that marks the timer fired.
TimerHandler = Callable[[AsyncSession, Timer], Awaitable[None]]


async def schedule(
    session: AsyncSession, *, kind: str, ref: str, due_at: datetime, now: datetime, token: int = 0
) -> None:
    """Add a timer unless the same (kind, ref, token) exists: safe to call again."""
    values = {"kind": kind, "ref": ref, "token": token, "due_at": due_at, "created_at": now}
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    stmt = insert(Timer).values(**values).on_conflict_do_nothing(
        index_elements=["kind", "ref", "token"]
    )
    await session.exec(stmt)


class Sweeper:
    """Claims due timers and runs their handlers; any number of processes may sweep.

    Each timer is fired in its own transaction that locks the row (SKIP LOCKED on PostgreSQL,
    so a second sweeper moves on) and sets ``fired_at`` together with the handler's effects:
    a crash before commit leaves it due, a commit means it never fires again.
    """

    def __init__(self, db: Database, clock: Clock, handlers: Mapping[str, TimerHandler]):
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)

    async def sweep_once(self, limit: int = 500) -> int:
        """Fire what is due now; return how many timers fired."""
        now = self.clock.now()
        async with self.db.session() as s:
            due = (
                await s.exec(
                    select(Timer.id)
                    .where(col(Timer.fired_at).is_(None), col(Timer.due_at) <= now)
                    .order_by(col(Timer.due_at), col(Timer.id))
                    .limit(limit)
                )
            ).all()
        fired = 0
        for timer_id in due:
            if timer_id is not None and await self._fire(timer_id):
                fired += 1
        return fired

    async def _fire(self, timer_id: int) -> bool:
        try:
            async with self.db.session() as s:
                query = select(Timer).where(Timer.id == timer_id, col(Timer.fired_at).is_(None))
                if dialect_name(s) == "postgresql":
                    query = query.with_for_update(skip_locked=True)
                timer = (await s.exec(query)).first()
                if timer is None:  # fired by another sweeper meanwhile
                    return False
                handler = self.handlers.get(timer.kind)
                # Set first so a handler can tell how late it fires (a reminder after an
                # outage may be past its event); committed only with the handler's effects.
                timer.fired_at = self.clock.now()
                if handler is None:
                    log.error("timer %s has unknown kind %r; marked fired", timer.id, timer.kind)
                else:
                    await handler(s, timer)
                timer.fired_at = self.clock.now()
                s.add(timer)
            return True
        except Exception as exc:
            if database_unavailable(exc):  # still due; the sweep loop logs the outage once
                raise
            log.exception("timer %s failed; it will be tried again", timer_id)
            await self._postpone(timer_id, exc)
            return False

    async def _postpone(self, timer_id: int, exc: Exception) -> None:
        # A failing handler must not spin: back off 1, 2, 4 ... minutes, at most an hour.
        try:
            async with self.db.session() as s:
                timer = await s.get(Timer, timer_id)
                if timer is None or timer.fired_at is not None:
                    return
                timer.attempts += 1
                timer.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                delay = min(60 * 2 ** (timer.attempts - 1), 3600)
                timer.due_at = self.clock.now() + timedelta(seconds=delay)
                s.add(timer)
        except Exception as exc:  # the database is down: the timer is still due, try next sweep
            if not database_unavailable(exc):
                log.exception("could not postpone timer %s", timer_id)
