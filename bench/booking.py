"""Benchmark booking under contention: 200 students race for 50 slots through the service layer.

Five counsellors each have ten one-hour sessions on one day (50 slots). Every student lists the
free slots in one transaction, picks one of the first few at random (so many pick the same), and
books it in another, as a chat conversation does; a student who loses a race lists again and
retries until booked or nothing is left (``--spread`` sets how many of the first free slots
a student picks among: 5 is a stampede on the earliest times, 50 students choosing freely).
Several ``Database`` objects stand in for worker processes, each with its own connections.
Prints bookings per second, attempts, conflicts and latency, then checks the database: no slot
held twice, no student holding two.

    .venv/bin/python bench/booking.py [--students 200] [--workers N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections import Counter
from datetime import date, datetime
from datetime import time as clock_time
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database

from tests.factories import add_person, make_campus
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.booking import appointments as booking
from xinqiao.services.booking.slots import free_slots
from xinqiao.storage.booking import HOLDING, Appointment, CounsellorProfile, DutyPattern, Mode
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import Person, Role

DAY = date(2026, 9, 8)  # a Tuesday; the fake clock starts on the Monday before
COUNSELLORS = 5



async def setup(db: Database, clock: FakeClock, students: int) -> list[int]:
    """The campus, five counsellors with ten sessions each on DAY, and the students."""
    now = clock.now()
    campus = await make_campus(db, now)
    staff = [await add_person(db, campus, f"C{i}", f"老师{i}", Role.centre_staff, now=now,
                              klass_id=None, dorm_id=None, college_id=None)
             for i in range(COUNSELLORS)]
    async with db.session() as s:
        for pid in staff:
            s.add(CounsellorProfile(person_id=pid, place="心理中心", modes=Mode.offline,
                                    updated_at=now))
            s.add(DutyPattern(counsellor_id=pid, weekday=DAY.isoweekday(),
                              start=clock_time(8), end=clock_time(18), session_minutes=60,
                              break_minutes=0, valid_from=DAY, valid_until=DAY, created_at=now))
    return [await add_person(db, campus, f"S{i:04d}", f"学生{i}", Role.student, now=now)
            for i in range(students)]


async def race(dbs: list[Database], clock: FakeClock, students: list[int], concurrency: int,
               spread: int) -> tuple[Counter[str], list[float], float]:
    """Every student books; returns outcome counts, per-attempt latency and elapsed time."""
    policy = load_policy()
    outcomes: Counter[str] = Counter()
    latency: list[float] = []
    gate = asyncio.Semaphore(concurrency)
    rng = random.Random(5)

    async def student(n: int, person_id: int) -> None:
        db = dbs[n % len(dbs)]
        while True:
            async with gate, db.session() as s:
                slots = await free_slots(s, policy, clock.now(), for_student=person_id)
            if not slots:
                outcomes["nothing left"] += 1
                return
            pick = rng.choice(slots[:spread])
            async with gate:
                t = time.perf_counter()
                async with db.session() as s:
                    person = await s.get(Person, person_id)
                    assert person is not None
                    outcome = await booking.book(s, policy, person, pick.counsellor_id,
                                                 pick.start, clock.now())
                latency.append(time.perf_counter() - t)
            outcomes[outcome.code] += 1
            if outcome.ok:
                return

    started = time.perf_counter()
    await asyncio.gather(*(student(n, pid) for n, pid in enumerate(students)))
    return outcomes, latency, time.perf_counter() - started


async def check(db: Database) -> tuple[int, int, int]:
    """Live appointments, slots held more than once, students holding more than one."""
    holding = [h.value for h in HOLDING]
    async with db.session() as s:
        live = (await s.exec(select(func.count()).select_from(Appointment)
                             .where(col(Appointment.status).in_(holding)))).one()
        double_slots = (await s.exec(
            select(Appointment.counsellor_id, Appointment.start_at)
            .where(col(Appointment.status).in_(holding))
            .group_by(col(Appointment.counsellor_id), col(Appointment.start_at))
            .having(func.count() > 1))).all()
        double_students = (await s.exec(
            select(Appointment.student_id).where(col(Appointment.status).in_(holding))
            .group_by(col(Appointment.student_id)).having(func.count() > 1))).all()
    return int(live), len(double_slots), len(double_students)


async def run(url: str, students: int, workers: int, concurrency: int, spread: int) -> None:
    clock = FakeClock(datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI))
    first = Database(url)
    await upgrade(first)
    people = await setup(first, clock, students)
    dbs = [first, *(Database(url) for _ in range(workers - 1))]
    try:
        outcomes, latency, elapsed = await race(dbs, clock, people, concurrency, spread)
        live, double_slots, double_students = await check(first)
    finally:
        for db in dbs:
            await db.dispose()
    booked = outcomes["booked"]
    conflicts = outcomes["taken"] + outcomes["gone"]
    lat = sorted(latency)
    print(f"{students} students, {COUNSELLORS * 10} slots, {workers} workers, "
          f"{concurrency} requests at once, each picks among the first {spread} free, database "
          f"{'PostgreSQL' if url.startswith('postgresql') else 'SQLite'}")
    rate = booked / elapsed
    print(f"booked:                {booked} in {elapsed:.2f} s ({rate:.1f} bookings/s)")
    print(f"booking attempts:      {len(latency)} ({len(latency) / elapsed:.1f} attempts/s)")
    print(f"conflicts (lost race): {conflicts} (taken {outcomes['taken']}, "
          f"gone {outcomes['gone']})")
    print(f"left without a slot:   {outcomes['nothing left']}")
    print(f"attempt latency p50 / p99: {statistics.median(lat) * 1000:.0f} / "
          f"{lat[int(len(lat) * 0.99) - 1] * 1000:.0f} ms")
    print(f"check: {live} live appointments, {double_slots} slots held twice, "
          f"{double_students} students holding two")
    if double_slots or double_students or live != min(students, COUNSELLORS * 10):
        raise SystemExit("double booking or lost booking detected")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--workers", type=int, default=None,
                        help="database objects standing in for processes (SQLite 1, else 4)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--spread", type=int, default=5,
                        help="students pick among the first N free slots (small N: a stampede)")
    parser.add_argument("--postgres", default=None, metavar="URL")
    args = parser.parse_args()
    # One process is how SQLite runs (its writers queue in the pool, not in busy waits).
    workers = args.workers or (4 if args.postgres else 1)
    with scratch_database(args.postgres, "xinqiao_booking") as url:
        asyncio.run(run(url, args.students, workers, args.concurrency, args.spread))


if __name__ == "__main__":
    main()
