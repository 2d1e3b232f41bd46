"""The scale-out table: `xinqiao serve --workers N` on one PostgreSQL, for N = 1, 2, 4.

For each N, on a fresh scratch database: 300 bound students and a chain of bound staff; the
WeChat API played by tests/wechat_stub.py (it counts every access token it issues and every
push it receives); `--deadlines` escalation deadlines seeded to fall due *during* the load;
then signed, encrypted WeChat messages over loopback with the given concurrency. Afterwards
it waits for the sweepers and outboxes of all N processes to go quiet and checks:

- each seeded deadline fired exactly once (one level-1 climb per escalation), although every
  process sweeps the same timers table;
- every alert reached the stand-in exactly once (templates carry a client_msg_id);
- the access token was fetched once in all, not once per process (it lives in the database).

    .venv/bin/python bench/scaleout.py --postgres postgresql+asyncpg://postgres@127.0.0.1:55432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from scratch import scratch_database
from sqlalchemy import func, update
from sqlmodel import col, select
from webhook import AES_KEY, APPID, TEXTS, TOKEN, Client, free_port, load, wait_ready

from tests.crash_harness import add_staff_chain, seed_escalations, settle
from tests.factories import add_person, bind, make_campus
from tests.wechat_stub import SECRET, WeChatStub
from xinqiao.bot.sending import ALERT_KINDS
from xinqiao.clock import SystemClock
from xinqiao.services.escalation.engine import DEADLINE
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import OutboxMessage, Role
from xinqiao.storage.reports import EscalationStep, Timer


@dataclass
class Row:
    """One line of the table."""

    workers: int
    rps: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    errors: int = 0
    fired_once: int = 0
    fired_twice: int = 0
    unfired: int = 0
    alerts: int = 0
    alert_duplicates: int = 0
    tokens: int = 0


async def world(db: Database, students: int, deadlines: int) -> tuple[list[str], list[int]]:
    """Bound students (their openids), the staff chain and seeded escalations (their ids)."""
    now = SystemClock().now()
    campus = await make_campus(db, now)
    openids = []
    for i in range(students):
        pid = await add_person(db, campus, f"b{i:05d}", f"学生{i}", Role.student, now=now)
        await bind(db, pid, "wechat", f"o-bench-{i}", now)
        openids.append(f"o-bench-{i}")
    await add_staff_chain(db, campus, now)
    return openids, await seed_escalations(db, campus, deadlines, "scale", now)


async def spread_deadlines(db: Database, seeded: list[int], within: float) -> datetime:
    """Make the seeded deadlines fall due at random moments of the next ``within`` seconds;
    returns when the last one falls due."""
    rng = random.Random(11)
    now = last = SystemClock().now()
    async with db.session() as s:
        for esc_id in seeded:
            at = now + timedelta(seconds=rng.uniform(0.5, within))
            last = max(last, at)
            await s.exec(update(Timer).where(
                col(Timer.kind) == DEADLINE, col(Timer.fired_at).is_(None),
                col(Timer.ref) == str(esc_id)).values(due_at=at))
    return last


def start_server(env: dict[str, str], port: int, workers: int, log: Path
                 ) -> subprocess.Popen[bytes]:
    """`xinqiao serve --workers N`, its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "xinqiao", "serve", "--port", str(port),
                                 "--workers", str(workers)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the supervisor stops its workers and exits."""
    server.terminate()
    server.wait(timeout=30)


async def run_one(args: argparse.Namespace, n: int, url: str, work: Path) -> Row:
    """One N on the fresh database ``url``: a stand-in, the server, the load, the checks."""
    row = Row(n)
    db = Database(url)
    server: subprocess.Popen[bytes] | None = None
    try:
        await upgrade(db)
        openids, seeded = await world(db, args.users, args.deadlines)
        async with WeChatStub(appid=APPID) as stub:
            port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
            env.update(XINQIAO_DATABASE_URL=url, XINQIAO_DATA_KEYS=os.environ["XINQIAO_DATA_KEYS"],
                       XINQIAO_WECHAT_TOKEN=TOKEN, XINQIAO_WECHAT_APPID=APPID,
                       XINQIAO_WECHAT_AES_KEY=AES_KEY, XINQIAO_WECHAT_SECRET=SECRET,
                       XINQIAO_WECHAT_API_BASE=stub.url,
                       XINQIAO_WECHAT_ALERT_TEMPLATE_ID="TPL-ALERT",
                       XINQIAO_SWEEP_SECONDS="0.5", XINQIAO_OUTBOX_POLL_SECONDS="0.2")
            server = start_server(env, port, n, work / f"server-{n}.log")
            await wait_ready(f"http://127.0.0.1:{port}/healthz", server)
            await asyncio.sleep(1.0 * n)  # let every worker come up before the clock starts
            rng = random.Random(7)
            jobs = [(rng.choice(openids), rng.choice(TEXTS)) for _ in range(args.requests)]
            last_due = await spread_deadlines(db, seeded, args.spread)
            wall, lat, row.errors, _ = await load(f"http://127.0.0.1:{port}/wechat", Client(),
                                                  jobs, args.concurrency, False)
            await asyncio.sleep(max(0.0, (last_due - SystemClock().now()).total_seconds()))
            await settle(db, within=120)
            lat_ms = sorted(x * 1000 for x in lat)
            row.rps = len(lat) / wall
            row.p50 = lat_ms[len(lat_ms) // 2]
            row.p99 = lat_ms[max(0, int(len(lat_ms) * 0.99) - 1)]
            async with db.session() as s:
                steps = (await s.exec(select(EscalationStep).where(
                    col(EscalationStep.action) == "notified",
                    col(EscalationStep.level) == 1))).all()
                alerts = (await s.exec(select(func.count()).select_from(OutboxMessage).where(
                    col(OutboxMessage.kind).in_(ALERT_KINDS)))).one()
            climbs = Counter(st.escalation_id for st in steps)
            row.fired_once = sum(1 for e in seeded if climbs[e] == 1)
            row.fired_twice = sum(1 for e in seeded if climbs[e] > 1)
            row.unfired = sum(1 for e in seeded if climbs[e] == 0)
            templates = [s for s in stub.sent if s.endpoint.endswith("template/send")]
            row.alerts = len(templates)
            row.alert_duplicates = max(0, len(templates) - int(alerts))
            row.tokens = len(stub.issued_tokens)
    finally:
        if server is not None:
            stop_server(server)
        await db.dispose()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--postgres", required=True, metavar="URL")
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--deadlines", type=int, default=100)
    parser.add_argument("--spread", type=float, default=10.0,
                        help="seconds over which the seeded deadlines fall due")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xinqiao-scale-"))
    print(f"{args.requests} signed, encrypted messages, concurrency {args.concurrency}, "
          f"{args.users} students, {args.deadlines} deadlines due during the load, "
          f"{os.cpu_count()} CPU cores; server logs in {work}")
    print(f"{'workers':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
          f"{'fired 1x':>8} {'2x+':>4} {'unfired':>7} {'alerts':>6} {'dup':>4} {'tokens':>6}")
    failed = False
    for n in args.workers:
        with scratch_database(args.postgres, f"xinqiao_scale_{n}") as url:
            r = asyncio.run(run_one(args, n, url, work))
        print(f"{r.workers:>7} {r.rps:>7.0f} {r.p50:>7.0f} {r.p99:>7.0f} {r.errors:>6} "
              f"{r.fired_once:>8} {r.fired_twice:>4} {r.unfired:>7} {r.alerts:>6} "
              f"{r.alert_duplicates:>4} {r.tokens:>6}", flush=True)
        failed |= bool(r.errors or r.fired_twice or r.unfired or r.alert_duplicates
                       or r.tokens != 1)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
