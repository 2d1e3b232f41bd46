"""Crash test at scale: kill -9 the real server mid-burst, restart it, count what survived.

    .venv/bin/python bench/crash.py [--students 100] [--kill-at 0.5] [--downtime 5]
                                    [--postgres URL]

Prints the traffic, the kill, and each promise (see tests/crash_harness.py): every acknowledged
message stored once, every report escalated, every seeded deadline fired once, every push
delivered (text pushes resent at most once when the kill fell between send and record).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from scratch import scratch_database

from tests.crash_harness import run


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--kill-at", type=float, default=0.5)
    parser.add_argument("--downtime", type=float, default=5.0)
    parser.add_argument("--postgres", default=None, metavar="URL")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="xinqiao-crash-"))
    with scratch_database(args.postgres, "xinqiao_crash", work) as url:
        report = asyncio.run(run(url, work, students=args.students, kill_at=args.kill_at,
                                 downtime=args.downtime))
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{backend}: {report.messages} messages from {args.students + 3} people, "
          f"kill -9 after {report.acknowledged_before_kill} acknowledged, "
          f"{args.downtime:.0f} s down, {report.seconds:.0f} s in all")
    print(f"resent by the platform (unacknowledged): {report.resent_unacknowledged}; "
          f"acknowledged ones redelivered: {report.redelivered_duplicates}")
    print(f"acknowledged and stored exactly once:  {report.acknowledged}/{report.messages}")
    print(f"seeded deadlines (due while down):     {report.deadlines_seeded}, each fired once"
          if not any("deadline" in p for p in report.problems) else "deadlines: BROKEN")
    print(f"pushes delivered: {report.pushes}; text pushes resent after the kill: "
          f"{report.push_duplicates}")
    print("problems: " + ("none" if not report.problems else "; ".join(report.problems[:10])))
    sys.exit(1 if report.problems else 0)


if __name__ == "__main__":
    main()
