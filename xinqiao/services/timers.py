"""Durable deadlines: timers are rows, and the sweeper fires each due one exactly once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, func, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import Clock
from xinqiao.scheduler.timer_kinds import (
    BatchHandler,
    TimerHandler,
    TimerPriority,
    priority_for,
)
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.outage import OutageLog, database_unavailable
from xinqiao.storage.reports import Timer

log = logging.getLogger(__name__)
__all__ = ["BatchHandler", "Sweeper", "TimerHandler", "TimerPriority", "priority_for",
           "schedule", "schedule_many"]

_EARLIEST = "xinqiao.timers.earliest"  # session.info: the earliest due_at scheduled in it
_WATCHERS: set[Callable[[datetime], None]] = set()  # running sweepers of this process


async def schedule(
    session: AsyncSession, *, kind: str, ref: str, due_at: datetime, now: datetime, token: int = 0,
    priority: int | None = None,
) -> None:
    """Add a timer unless the same (kind, ref, token) exists: safe to call again."""
    values = {"kind": kind, "ref": ref, "token": token, "due_at": due_at, "created_at": now,
              "priority": priority_for(kind) if priority is None else priority}
    await schedule_many(session, [values])


async def schedule_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """``schedule`` for many timers in one statement (rows carry every column but id)."""
    if not rows:
        return
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    stmt = insert(Timer).on_conflict_do_nothing(index_elements=["kind", "ref", "token"])
    if len(rows) == 1:
        await session.exec(stmt.values(**rows[0]))
    else:
        await (await session.connection()).execute(stmt, rows)
    earliest = min(r["due_at"] for r in rows)
    known = session.info.get(_EARLIEST)
    session.info[_EARLIEST] = earliest if known is None else min(known, earliest)


@event.listens_for(Session, "after_commit")
def _wake_sweepers(session: Session) -> None:
    # A sweeper asleep until a later timer is woken for one just committed in this process.
    earliest = session.info.pop(_EARLIEST, None)
    if earliest is not None:
        for watcher in list(_WATCHERS):
            watcher(earliest)


@event.listens_for(Session, "after_rollback")
def _forget_scheduled(session: Session) -> None:
    session.info.pop(_EARLIEST, None)


async def _first(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


def _columns() -> list[Any]:
    return [col(Timer.id), col(Timer.kind), col(Timer.ref), col(Timer.token),
            col(Timer.due_at), col(Timer.fired_at), col(Timer.created_at),
            col(Timer.attempts), col(Timer.priority)]


def _timer(row: Any) -> Timer:
    return Timer(id=row.id, kind=row.kind, ref=row.ref, token=row.token, due_at=row.due_at,
                 fired_at=row.fired_at, created_at=row.created_at, attempts=row.attempts,
                 priority=row.priority)


class Sweeper:
    """Claims due timers, most urgent first, and runs their handlers; any number of processes
    may sweep.

    A timer is marked fired in the transaction that holds its handler's effects: a crash
    before the commit leaves it due, a commit means it never fires again. Kinds with a batch
    handler are claimed many at a time (``UPDATE … RETURNING``, SKIP LOCKED on PostgreSQL so a
    second sweeper takes other rows); the rest one at a time. A batch that fails is fired again
    one timer at a time, so a failing handler backs off alone and never holds the others up.
    """

    # Timers per batch transaction: on SQLite it holds the one write lock, and a callback
    # waiting to be stored answers 503 after about a second, so a batch stays well under that.
    batch_size = 200

    def __init__(self, db: Database, clock: Clock, handlers: Mapping[str, TimerHandler],
                 batch_handlers: Mapping[str, BatchHandler] | None = None):
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.batch_handlers = dict(batch_handlers or {})

    async def sweep_once(self, limit: int = 500) -> int:
        """Fire up to ``limit`` timers due now, most urgent first; return how many fired."""
        now = self.clock.now()
        async with self.db.session() as s:
            due = (await s.exec(
                select(Timer.id, Timer.kind)
                .where(col(Timer.fired_at).is_(None), col(Timer.due_at) <= now)
                .order_by(col(Timer.priority), col(Timer.due_at), col(Timer.id))
                .limit(limit)
            )).all()
        fired, i = 0, 0
        while i < len(due):  # in order; consecutive timers of a batch kind go together
            kind, j = due[i][1], i + 1
            if kind in self.batch_handlers:
                while j < len(due) and due[j][1] == kind and j - i < self.batch_size:
                    j += 1
                fired += await self._fire_batch(kind, [t for t, _ in due[i:j] if t is not None])
            elif await self._fire(due[i][0] or 0):
                fired += 1
            i = j
        return fired

    async def next_due(self) -> datetime | None:
        """When the earliest unfired timer is due (None when there is none)."""
        async with self.db.session() as s:
            return (await s.exec(select(func.min(Timer.due_at)).where(
                col(Timer.fired_at).is_(None)))).one()

    async def run(self, stop: asyncio.Event, longest_sleep: float) -> None:
        """Sweep until ``stop``: again at once while timers fire, else asleep until the
        earliest is due, woken early when this process commits an earlier one. Other
        processes' timers are seen within ``longest_sleep`` seconds."""
        wake = asyncio.Event()
        earliest: list[datetime | None] = [None]

        def scheduled(due_at: datetime) -> None:
            if earliest[0] is None or due_at < earliest[0]:
                wake.set()

        _WATCHERS.add(scheduled)
        outage = OutageLog(log, "deadline sweep loop")
        try:
            while not stop.is_set():
                delay = longest_sleep
                try:
                    if await self.sweep_once():
                        delay = 0.0
                    else:
                        earliest[0] = await self.next_due()
                        if earliest[0] is not None:  # locked by another sweeper: look again soon
                            wait = (earliest[0] - self.clock.now()).total_seconds()
                            delay = min(longest_sleep, max(wait, 0.25))
                    outage.success()
                except Exception as exc:  # a failing loop must not die: log, wait, try again
                    if not outage.failure(exc):
                        log.exception("deadline sweep loop failed")
                wake.clear()
                earliest[0] = None if delay == 0 else earliest[0]
                if delay > 0:
                    await _first(stop, wake, delay)
        finally:
            _WATCHERS.discard(scheduled)

    async def _fire_batch(self, kind: str, ids: list[int]) -> int:
        try:
            async with self.db.session() as s:
                claim = col(Timer.id).in_(ids)
                if dialect_name(s) == "postgresql":  # rows another sweeper holds are its own
                    claim = col(Timer.id).in_(
                        select(Timer.id).where(claim, col(Timer.fired_at).is_(None))
                        .with_for_update(skip_locked=True))
                rows = (await s.exec(
                    update(Timer).where(claim, col(Timer.fired_at).is_(None))
                    .values(fired_at=self.clock.now()).returning(*_columns())
                )).all()
                timers = sorted((_timer(r) for r in rows), key=lambda t: ids.index(t.id or 0))
                done = await self.batch_handlers[kind](s, timers) if timers else set()
                for timer in timers:
                    if timer.id not in done:
                        await self.handlers[kind](s, timer)
            return len(timers)
        except Exception as exc:
            if database_unavailable(exc):
                raise
            log.warning("a batch of %s timers failed (%s); firing them one at a time",
                        kind, type(exc).__name__)
            return sum([await self._fire(timer_id) for timer_id in ids])

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
