"""Benchmark the deadline sweeper: 100,000 pending timers of which 1,000 are due.

The 1,000 due timers are real escalation deadlines (each climbs a level: a row lock, the
recipients, outbox alerts, the next timer); the 99,000 others are due later. Prints the cost of
an idle sweep, the time to fire the due ones, then (on the wall clock, with the sweeper's own
loop asleep until they fall due) the lag of each due deadline: fired minus due.

    .venv/bin/python bench/sweep.py [--pending 100000] [--due 1000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database

from tests.factories import add_person, bind, make_campus
from xinqiao.clock import FakeClock
from xinqiao.handlers import push_texts as push_texts  # the services' push wording
from xinqiao.policy.policy import load_policy
from xinqiao.services.escalation.engine import Subject
from xinqiao.services.network import Network
from xinqiao.services.timers import Sweeper
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import Role
from xinqiao.storage.reports import Severity, Timer


async def run(url: str, pending: int, due: int) -> None:
    db = Database(url)
    await upgrade(db)
    clock = FakeClock()
    network = Network(load_policy())
    campus = await make_campus(db, clock.now())
    now = clock.now()
    for i, role in enumerate((Role.class_advisor, Role.college_lead, Role.centre_staff)):
        pid = await add_person(db, campus, f"staff{i}", f"老师{i}", role, now=now,
                               dorm_id=None)
        await bind(db, pid, "console", f"c-staff{i}", now)
    started = time.perf_counter()
    async with db.session() as s:  # `due` real escalations, 'soon': next level in 60 min
        for n in range(due):
            await network.escalations.open(
                s, Subject(key=f"bench:{n}", kind="dorm", title="压测", college_id=
                           campus.college_id, klass_id=campus.klass_id), Severity.soon, now)
    opened = time.perf_counter() - started
    later = now + timedelta(days=30)
    rows = [{"kind": "bench.later", "ref": str(n), "token": 0, "due_at": later,
             "created_at": now, "attempts": 0} for n in range(pending - due)]
    async with db.session() as s:
        for i in range(0, len(rows), 5000):
            await s.exec(insert(Timer).values(rows[i:i + 5000]))
    sweeper = Sweeper(db, clock, network.timer_handlers(), network.timer_batch_handlers())
    print(f"{pending} pending timers ({due} escalations opened in {opened:.1f} s), "
          f"database {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}")
    t = time.perf_counter()
    assert await sweeper.sweep_once() == 0
    idle = time.perf_counter() - t
    clock.advance(minutes=60)  # now the `due` deadlines are due
    due_at = clock.now()
    fired_at: list[float] = []
    t = time.perf_counter()
    total = 0
    while True:
        fired = await sweeper.sweep_once(limit=500)
        total += fired
        fired_at.extend([time.perf_counter() - t] * fired)
        if fired == 0:
            break
    elapsed = time.perf_counter() - t
    async with db.session() as s:
        left = (await s.exec(select(Timer.id).where(
            Timer.kind == "escalation.deadline", Timer.fired_at.is_(None),  # type: ignore[union-attr]
            Timer.due_at <= due_at))).all()
    lag = sorted(fired_at)
    print(f"idle sweep (nothing due):           {idle * 1000:8.1f} ms")
    print(f"fire {total} due deadlines:          {elapsed:8.2f} s  "
          f"({total / elapsed:.0f} per second, each one escalation step)")
    print(f"firing lag p50 / p99 / max:         {statistics.median(lag):.2f} / "
          f"{lag[int(len(lag) * 0.99) - 1]:.2f} / {lag[-1]:.2f} s after the sweep began")
    print(f"due left unfired:                   {len(left)}")
    await wall_clock_lag(db, network, clock, campus, due)
    await db.dispose()


class Shifted:
    """The wall clock, moved so that the bench's deadlines fall due a second from now."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        """The shifted current time."""
        return datetime.now(UTC) + self.offset


async def wall_clock_lag(db: Database, network: Network, clock: FakeClock, campus: object,
                         due: int) -> None:
    """Open ``due`` more items; let the sweep loop sleep until they (and the first ``due``,
    climbing again) fall due together, and measure how late each one fires."""
    now = clock.now()
    async with db.session() as s:
        for n in range(due):
            await network.escalations.open(
                s, Subject(key=f"wall:{n}", kind="dorm", title="压测", college_id=
                           campus.college_id, klass_id=campus.klass_id),  # type: ignore[attr-defined]
                Severity.soon, now)
    due_at = now + timedelta(minutes=60)
    wall = Shifted(due_at - timedelta(seconds=1) - datetime.now(UTC))
    sweeper = Sweeper(db, wall, network.timer_handlers(), network.timer_batch_handlers())
    stop = asyncio.Event()
    loop = asyncio.create_task(sweeper.run(stop, longest_sleep=5))
    while True:
        await asyncio.sleep(0.25)
        async with db.session() as s:
            rows = (await s.exec(select(Timer.fired_at).where(
                Timer.kind == "escalation.deadline", Timer.due_at == due_at))).all()
        if all(r is not None for r in rows):
            break
    stop.set()
    await loop
    lags = sorted((r - due_at).total_seconds() for r in rows if r is not None)
    print(f"{len(lags)} due at once, sweep loop asleep until then: fired "
          f"{statistics.median(lags):.2f} / {lags[-1]:.2f} s (p50 / max) after due")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=1_000)
    parser.add_argument("--postgres", default=None, metavar="URL")
    args = parser.parse_args()
    with scratch_database(args.postgres, "xinqiao_sweep") as url:
        asyncio.run(run(url, args.pending, args.due))


if __name__ == "__main__":
    main()
