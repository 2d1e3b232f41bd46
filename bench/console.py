"""Benchmark the staff console's pages over HTTP: p50/p95 render time at a school's scale.

Seeds 30,000 students in 1,000 classes of 20 colleges, 1,000 open items sent to the centre
lead, 200 open crisis cases, and six weeks of check-ins (every class but one in forty sends
each), then signs the centre lead and one college lead in through a real login link and
fetches each page repeatedly from the real app (``build_app``, a fake clock): 待办, 关注名单
(the 200 students with a case are on the crisis tier, the items' students are yellow), 晴雨表
(the centre's college overview, one college's class grid, the college lead's grid) and 测评.
Prints one line per page: wall-clock p50/p95, CPU time, statements a fetch.

``--before TREE`` first runs the same bench (this file, this seed) against another tree's code
in a child process (``git archive <commit> | tar -x -C TREE``), then against this one, so
before and after come from one run on the same machine.

    .venv/bin/python bench/console.py [--students 30000] [--runs 40] [--postgres URL]
                                      [--before /tmp/old-tree]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import event, insert, update
from sqlalchemy.engine import Engine

# ``--tree DIR``: import the service (and the tests' factories) from another checkout.
sys.path.insert(0, sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv
                else str(Path(__file__).resolve().parents[1]))

from scratch import scratch_database

from tests.factories import add_person, make_campus
from xinqiao.bot.app import build_app
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services import console_auth
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import College, Klass, Person, Role, RoleAssignment
from xinqiao.storage.reports import CheckIn, Escalation, EscalationRecipient, Report

NOW = datetime(2026, 11, 20, 18, 0, tzinfo=SHANGHAI)  # a Friday evening, after the due time
COLLEGES, CLASSES = 20, 1000
CHAIN = [{"notify": ["class_advisor"], "ack_within_s": 86400.0, "working_hours": False,
          "resolve_within_s": 604800.0, "resolve_working_hours": False}]


async def _ids(conn: object, table: object, rows: list[dict[str, object]]) -> list[int]:
    result = await conn.execute(insert(table).returning(table.id), rows)  # type: ignore[attr-defined,arg-type]
    return list(result.scalars().all())


async def seed(db: Database, students: int) -> tuple[int, int]:
    """The school at scale; returns (centre lead, college lead) person ids."""
    campus = await make_campus(db, NOW)
    async with db.session() as s:
        conn = await s.connection()
        colleges = await _ids(conn, College, [{"school_id": campus.school_id,
                                               "name": f"学院{c:02d}"} for c in range(COLLEGES)])
        klasses = await _ids(conn, Klass, [{"college_id": colleges[k % COLLEGES],
                                            "name": f"班{k:04d}"} for k in range(CLASSES)])
        college_of = {k: colleges[i % COLLEGES] for i, k in enumerate(klasses)}
        people: list[int] = []
        for start in range(0, students, 5000):
            rows = [{"school_id": campus.school_id, "external_id": f"B{i:06d}",
                     "name": f"学生{i}", "klass_id": klasses[i % CLASSES],
                     "college_id": college_of[klasses[i % CLASSES]],
                     "activation_code": f"C{i:08d}", "tier": "routine", "active": True,
                     "created_at": NOW, "updated_at": NOW}
                    for i in range(start, min(start + 5000, students))]
            ids = await _ids(conn, Person, rows)
            await _ids(conn, RoleAssignment, [
                {"person_id": pid, "role": "student", "college_id": r["college_id"],
                 "klass_id": r["klass_id"]} for pid, r in zip(ids, rows, strict=True)])
            people += ids
    centre = await add_person(db, campus, "D1", "中心主任", Role.centre_lead, now=NOW,
                              klass_id=None, dorm_id=None, college_id=None)
    lead = await add_person(db, campus, "L1", "学院书记", Role.college_lead, now=NOW,
                            klass_id=None, dorm_id=None, college_id=colleges[0])
    async with db.session() as s:
        conn = await s.connection()
        items = await _ids(conn, Escalation, [
            {"subject": f"report:{n}", "kind": "dorm",
             "subject_person_id": people[(n * 7) % len(people)],
             "college_id": college_of[klasses[(n * 7) % CLASSES]],
             "klass_id": klasses[(n * 7) % CLASSES], "severity": "soon", "chain": CHAIN,
             "level": 0, "repeats": 0, "token": 1, "status": "open",
             "due_at": NOW + timedelta(hours=n % 30), "opened_at": NOW - timedelta(hours=n % 48)}
            for n in range(1000)])
        await _ids(conn, EscalationRecipient, [
            {"escalation_id": e, "person_id": who, "level": 0, "notified_at": NOW}
            for e in items for who in (centre, lead)])
        await _ids(conn, Case, [{"person_id": people[(n * 11) % len(people)], "status": "open",
                                 "opened_at": NOW, "source": "bench", "followup_days": 1,
                                 "token": 0} for n in range(200)])
        await conn.execute(update(Person).where(Person.id.in_(  # type: ignore[union-attr]
            [people[(n * 11) % len(people)] for n in range(200)])).values(tier="crisis"))
        friday = date(2026, 11, 20)
        periods = [friday - timedelta(weeks=w) for w in range(6)]
        wanted = [(k, p) for n, k in enumerate(klasses) for p in periods if n % 40]
        for start in range(0, len(wanted), 2000):
            chunk = wanted[start:start + 2000]
            reports = await _ids(conn, Report, [
                {"kind": "checkin", "reporter_person_id": None, "klass_id": k,
                 "college_id": college_of[k], "severity": "routine", "factors": [],
                 "answers": {}, "created_at": NOW} for k, _ in chunk])
            await _ids(conn, CheckIn, [
                {"klass_id": k, "period": p, "report_id": r, "nothing_to_report": True,
                 "submitted_at": NOW - timedelta(days=(friday - p).days), "versions": 1}
                for (k, p), r in zip(chunk, reports, strict=True)])
    return centre, lead


async def sign_in(db: Database, client: TestClient, person_id: int) -> None:  # type: ignore[type-arg]
    async with db.session() as s:
        person = await s.get(Person, person_id)
        assert person is not None
        link = await console_auth.issue_link(s, person, "console", "http://x", NOW)
    token = link.rsplit("=", 1)[1]
    resp = await client.post("/console/login", data={"token": token})
    assert resp.status == 200, resp.status


STATEMENTS = [0]  # every statement any engine of this process runs


def _count(*_: object) -> None:
    STATEMENTS[0] += 1


async def measure(client: TestClient, path: str,  # type: ignore[type-arg]
                  runs: int) -> tuple[list[float], list[float], int]:
    """Wall-clock ms per fetch, this process's CPU ms per fetch, statements per fetch.

    On a loaded machine the wall clock is mostly waiting for a core; CPU time (the app and,
    on SQLite, the database's thread) and the statement count hardly move with the load.
    """
    took, cpu = [], []
    for n in range(runs + 2):
        started, used, ran = time.perf_counter(), time.process_time(), STATEMENTS[0]
        resp = await client.get(path)
        body = await resp.read()
        took.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        statements = STATEMENTS[0] - ran if n else 0
        assert resp.status == 200 and body, (path, resp.status)
    return took[2:], cpu[2:], statements  # the first fetches warm caches and templates


async def run(url: str, students: int, runs: int, label: str) -> None:
    db = Database(url)
    await upgrade(db)
    event.listen(Engine, "before_cursor_execute", _count)
    t = time.perf_counter()
    centre, lead = await seed(db, students)
    print(f"{label}: seeded {students} students, {CLASSES} classes, 1000 open items, "
          f"200 cases in {time.perf_counter() - t:.1f}s")
    clock = FakeClock()
    clock.set(NOW)
    settings = Settings(database_url=url, _env_file=None)
    pages = [("centre", "待办", "/console/"), ("centre", "晴雨表 全校", "/console/checkins"),
             ("centre", "晴雨表 一个学院", "/console/checkins?college=3"),
             ("lead", "晴雨表 学院书记", "/console/checkins"),
             ("lead", "待办 学院书记", "/console/"),
             ("centre", "关注名单", "/console/watch"),
             ("lead", "关注名单 学院书记", "/console/watch"),
             ("centre", "测评", "/console/rounds")]
    for who, person in (("centre", centre), ("lead", lead)):
        client = TestClient(TestServer(build_app(settings, clock, background=False)))
        await client.start_server()
        try:
            await sign_in(db, client, person)
            for viewer, name, path in pages:
                if viewer != who:
                    continue
                took, cpu, statements = await measure(client, path, runs)
                took.sort()
                p95 = took[max(0, int(len(took) * 0.95) - 1)]
                print(f"{label}: {name:<12} p50 {statistics.median(took):6.1f} ms   "
                      f"p95 {p95:6.1f} ms   cpu p50 {statistics.median(cpu):5.1f} ms   "
                      f"{statements:2d} statements   ({runs} runs)", flush=True)
        finally:
            await client.close()
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--postgres", default=None, help="server URL to create a scratch db on")
    parser.add_argument("--before", default=None, help="another tree to measure first")
    parser.add_argument("--tree", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.before:
        again = [a for a in sys.argv[1:] if a not in ("--before", args.before)]
        print(f"before ({args.before}):", flush=True)
        subprocess.run([sys.executable, __file__, *again, "--tree", args.before], check=True)
        print("after (this tree):", flush=True)
    with scratch_database(args.postgres, "console_bench") as url:
        asyncio.run(run(url, args.students, args.runs,
                        "postgresql" if args.postgres else "sqlite"))


if __name__ == "__main__":
    main()
