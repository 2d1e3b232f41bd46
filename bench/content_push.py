"""Benchmark the weekly tip: 30,000 subscribers pushed in chunks by the durable sweeper.

Each chunk is one timer firing in its own transaction (subscribers → best chat accounts →
outbox rows → the next chunk's timer). Prints how many chunks ran, the median and longest
chunk (the longest any other timer could wait behind one), the total, and checks that every
subscriber got exactly one push.

    .venv/bin/python bench/content_push.py [--subscribers 30000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, insert
from sqlmodel import col, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database

from tests.factories import make_campus
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.content.texts import article_payload
from xinqiao.policy.policy import load_policy
from xinqiao.scheduler.calendar_jobs import tip_jobs
from xinqiao.scheduler.jobs import Jobs
from xinqiao.services.content.push import WeeklyTips
from xinqiao.services.content.service import Content
from xinqiao.services.timers import Sweeper
from xinqiao.storage.content import TipSubscription
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, Person, RoleAssignment

MONDAY = datetime(2026, 10, 12, 9, 0, tzinfo=SHANGHAI)
BATCH = 2000



async def populate(db: Database, clock: FakeClock, n: int) -> None:
    """``n`` bound students who all subscribed to the weekly tip."""
    now = clock.now()
    campus = await make_campus(db, now)
    for start in range(0, n, BATCH):
        ids = range(start, min(start + BATCH, n))
        async with db.session() as s:
            conn = await s.connection()
            await conn.execute(insert(Person), [
                {"school_id": campus.school_id, "external_id": f"B{i:06d}", "name": f"学生{i}",
                 "college_id": campus.college_id, "klass_id": campus.klass_id,
                 "activation_code": "BENCH", "tier": "routine", "active": True,
                 "created_at": now, "updated_at": now} for i in ids])
            people = dict((await s.exec(select(Person.external_id, Person.id).where(
                col(Person.external_id).in_([f"B{i:06d}" for i in ids])))).all())
            await conn.execute(insert(RoleAssignment), [
                {"person_id": pid, "role": "student"} for pid in people.values()])
            await conn.execute(insert(ChannelIdentity), [
                {"channel": "console", "address": f"bench-{ext}", "person_id": pid,
                 "bound_at": now, "bind_failures": 0, "reachable": True, "preferred": False,
                 "created_at": now} for ext, pid in people.items()])
            await conn.execute(insert(TipSubscription), [
                {"person_id": pid, "active": True, "subscribed_at": now}
                for pid in people.values()])


async def run(url: str, subscribers: int) -> None:
    db = Database(url)
    await upgrade(db)
    clock = FakeClock(MONDAY)
    started = time.perf_counter()
    await populate(db, clock, subscribers)
    print(f"{subscribers} subscribers loaded in {time.perf_counter() - started:.1f} s, "
          f"database {'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}")
    policy = load_policy()
    tips = WeeklyTips(policy.content, Content(None, "https://bench.example.edu.cn"),
                      article_payload)
    clock.set(datetime(2026, 10, 14, 12, 30, tzinfo=SHANGHAI))  # Wednesday, the policy's time
    sweeper = Sweeper(db, clock, tips.timer_handlers())
    t = time.perf_counter()
    # the weekly job: picks the tip, arms the first chunk
    assert await Jobs(db, clock, tip_jobs(tips)).run_between(MONDAY, clock.now()) == 1
    plan = time.perf_counter() - t
    chunks: list[float] = []
    while True:
        t = time.perf_counter()
        fired = await sweeper.sweep_once()
        if not fired:
            break
        chunks.append(time.perf_counter() - t)
    async with db.session() as s:
        pushes, people = (await s.exec(select(
            func.count(), func.count(func.distinct(OutboxMessage.person_id))))).one()
    print(f"chunk size (policy [content] chunk):  {policy.content.chunk}")
    print(f"weekly job:                           {plan * 1000:8.1f} ms")
    print(f"chunks:                               {len(chunks):8d}")
    print(f"chunk time median / longest:          {statistics.median(chunks) * 1000:8.1f} / "
          f"{max(chunks) * 1000:.1f} ms")
    print(f"all chunks:                           {sum(chunks):8.2f} s "
          f"({pushes / sum(chunks):.0f} pushes/s)")
    print(f"pushes queued / distinct people:      {pushes} / {people}")
    assert pushes == people == subscribers, "every subscriber exactly once"
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=30_000)
    parser.add_argument("--postgres", default=None, metavar="URL")
    args = parser.parse_args()
    with scratch_database(args.postgres, "xinqiao_content") as url:
        asyncio.run(run(url, args.subscribers))


if __name__ == "__main__":
    main()
