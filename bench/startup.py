"""Time `xinqiao serve` (Telegram off, SQLite, already migrated) to its first /healthz 200.

    .venv/bin/python bench/startup.py [--runs 5] [--against OTHER_TREE]

With ``--against``, the two trees start alternately in the same loop (each on its own
database), so both medians come from one run on the same machine load. Beside the wall time it
prints the CPU seconds its main thread had used by then (Linux; the warm-up threads' loads
are left out): on a shared, loaded machine the wall time mostly measures the load, the CPU time
what start-up costs.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid``'s main thread so far (0 off Linux)."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start_once(workdir: str, root: Path = ROOT) -> tuple[float, float]:
    """Seconds from starting `serve` (of the tree ``root``) to its first 200 on /healthz, and
    the CPU seconds it had used by then."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(root), "XINQIAO_PORT": str(port),
           "XINQIAO_DATABASE_URL": f"sqlite:///{workdir}/startup.db"}
    env.pop("XINQIAO_TELEGRAM_TOKEN", None)
    # Bytecode as an installed service has it: the first (migrating) start compiles the tree
    # into a cache of its own, the timed ones read it (with PYTHONDONTWRITEBYTECODE set, every
    # start would compile all of xinqiao again: about half a second of CPU).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = f"{workdir}/pycache"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "xinqiao", "serve"], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - started, cpu_seconds(proc.pid)
            except OSError:
                time.sleep(0.02)
        raise SystemExit("no /healthz 200 within 60 s")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--against", type=Path, help="another tree, started alternately")
    args = parser.parse_args()
    trees = [ROOT, *([args.against.resolve()] if args.against else [])]
    runs: dict[Path, list[tuple[float, float]]] = {tree: [] for tree in trees}
    with tempfile.TemporaryDirectory() as workdir:
        dirs = {tree: Path(workdir) / str(i) for i, tree in enumerate(trees)}
        for tree in trees:
            dirs[tree].mkdir()
            start_once(str(dirs[tree]), tree)  # creates and migrates the database
        for _ in range(args.runs):
            for tree in trees:
                runs[tree].append(start_once(str(dirs[tree]), tree))
    for tree in trees:
        wall, cpu = [w for w, _ in runs[tree]], [c for _, c in runs[tree]]
        print(f"{tree}: serve → first /healthz 200: "
              + " ".join(f"{r:.2f}" for r in wall)
              + f" s; median {statistics.median(wall):.2f} s; main thread's CPU by then "
              + " ".join(f"{c:.2f}" for c in cpu) + f" s, median {statistics.median(cpu):.2f} s")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
