"""Time `xinqiao serve` (Telegram off, SQLite, already migrated) to its first /healthz 200.

    .venv/bin/python bench/startup.py [--runs 5]
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


def start_once(workdir: str) -> float:
    """Seconds from starting `serve` to its first 200 on /healthz."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XINQIAO_PORT": str(port),
           "XINQIAO_DATABASE_URL": f"sqlite:///{workdir}/startup.db"}
    env.pop("XINQIAO_TELEGRAM_TOKEN", None)
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "xinqiao", "serve"], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < 60:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.02)
        raise SystemExit("no /healthz 200 within 60 s")
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        start_once(workdir)  # creates and migrates the database
        runs = [start_once(workdir) for _ in range(args.runs)]
    print("serve → first /healthz 200: " + " ".join(f"{r:.2f}" for r in runs)
          + f" s; median {statistics.median(runs):.2f} s")


if __name__ == "__main__":
    main()
