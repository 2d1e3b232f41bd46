"""Benchmark a screening round for a whole school: invite 30,000 students, then remind them.

Seeds N bound students (one WeChat identity each), opens a round by hand and sweeps until the
chunked invitation timers are done, then fires the first reminder. Prints the time to invite and
remind everyone, and the longest single chunk (one transaction: how long the SQLite writer is
held at most).

    .venv/bin/python bench/campaign.py [--students 30000] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

from sqlalchemy import func, insert
from sqlmodel import col, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database

from tests.factories import make_campus
from xinqiao.clock import FakeClock
from xinqiao.handlers import push_texts as push_texts  # the services' push wording
from xinqiao.policy.policy import load_policy
from xinqiao.services.network import Network
from xinqiao.services.screening_rounds import CHUNK, Round, create_campaign
from xinqiao.services.timers import Sweeper
from xinqiao.storage.campaigns import CampaignKind, ScreeningInvitation
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, Person, RoleAssignment


async def seed(db: Database, students: int, clock: FakeClock) -> None:
    """``students`` bound students in one class (bulk inserts, not the code under test)."""
    now = clock.now()
    campus = await make_campus(db, now)
    async with db.session() as s:
        conn = await s.connection()
        for start in range(0, students, 5000):
            n = range(start, min(start + 5000, students))
            ids = (await conn.execute(insert(Person).returning(col(Person.id)), [
                {"school_id": campus.school_id, "external_id": f"B{i:06d}", "name": f"学生{i}",
                 "college_id": campus.college_id, "klass_id": campus.klass_id,
                 "activation_code": f"C{i:08d}", "tier": "routine", "active": True,
                 "enrolment_year": 2023 + i % 4, "created_at": now, "updated_at": now}
                for i in n])).scalars().all()
            await conn.execute(insert(RoleAssignment).returning(col(RoleAssignment.id)), [
                {"person_id": pid, "role": "student", "college_id": campus.college_id,
                 "klass_id": campus.klass_id} for pid in ids])
            await conn.execute(insert(ChannelIdentity).returning(col(ChannelIdentity.id)), [
                {"channel": "wechat", "address": f"openid-{pid}", "person_id": pid,
                 "bound_at": now, "bind_failures": 0, "reachable": True, "preferred": False,
                 "created_at": now} for pid in ids])


async def sweep_all(sweeper: Sweeper) -> list[float]:
    """Sweep until nothing is due; the duration of each sweep that fired something."""
    took: list[float] = []
    while True:
        t = time.perf_counter()
        if await sweeper.sweep_once() == 0:
            return took
        took.append(time.perf_counter() - t)


async def run(url: str, students: int) -> None:
    db = Database(url)
    await upgrade(db)
    clock = FakeClock()
    policy = load_policy()
    await seed(db, students, clock)
    network = Network(policy)
    sweeper = Sweeper(db, clock, network.timer_handlers())
    async with db.session() as s:
        await create_campaign(s, policy, Round("bench", "压测测评", CampaignKind.manual),
                              opens_at=clock.now(), now=clock.now())
    t = time.perf_counter()
    chunks = await sweep_all(sweeper)
    invited = time.perf_counter() - t
    async with db.session() as s:
        invitations = (await s.exec(select(func.count()).select_from(ScreeningInvitation))).one()
        pushes = (await s.exec(select(func.count()).select_from(OutboxMessage))).one()
    clock.advance(days=policy.screening.reminder_days[0] + 2)  # past the first reminder
    t = time.perf_counter()
    remind_chunks = await sweep_all(sweeper)
    reminded = time.perf_counter() - t
    async with db.session() as s:
        after = (await s.exec(select(func.count()).select_from(OutboxMessage))).one()
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    print(f"{students} students, {backend}, chunks of {CHUNK}")
    print(f"invite everyone:      {invited:7.1f} s  ({students / invited:.0f} students/s; "
          f"{invitations} invitations, {pushes} pushes queued)")
    print(f"longest chunk:        {max(chunks) * 1000:7.0f} ms  "
          f"(p50 {statistics.median(chunks) * 1000:.0f} ms over {len(chunks)} sweeps)")
    print(f"first reminder:       {reminded:7.1f} s  ({after - pushes} pushes queued; longest "
          f"chunk {max(remind_chunks or [0]) * 1000:.0f} ms)")
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--students", type=int, default=30_000)
    parser.add_argument("--postgres", default=None, metavar="URL")
    args = parser.parse_args()
    with scratch_database(args.postgres, "xinqiao_campaign") as url:
        asyncio.run(run(url, args.students))


if __name__ == "__main__":
    main()
