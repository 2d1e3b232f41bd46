"""A throwaway PostgreSQL cluster on a free port, with its data directory under /tmp.

The shared test server (``XINQIAO_TEST_POSTGRES_URL``) must never be stopped; a test that takes
the database away starts one of these. ``make test`` runs the suite inside one as well:
``python -m tests.pg_cluster -- COMMAND...`` starts a cluster, runs the command with
``XINQIAO_TEST_POSTGRES_URL`` pointing at it and removes the cluster afterwards, whatever the
command's outcome. When ``XINQIAO_TEST_POSTGRES_URL`` is already set it runs the command on that
server and starts none.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path


def _bindir() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()])
    if found:
        return found[-1].parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    return Path(initdb).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """``initdb`` in a fresh temporary directory, then ``start()`` / ``stop()`` at will.

    The directory is outside pytest's (root-only) tmp_path so that the postgres user can use it;
    ``remove()`` stops the server if it runs and deletes it.
    """

    def __init__(self, max_connections: int = 100) -> None:
        self.max_connections = max_connections
        self.bin = _bindir()
        self.dir = Path(tempfile.mkdtemp(prefix="xinqiao-pg-"))
        self.data = self.dir / "data"
        self.port = _free_port()
        # initdb refuses to run as root: run the server as the postgres user then.
        self.run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str) -> None:
        subprocess.run([*self.run_as, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> None:
        """Create the cluster (trust authentication on 127.0.0.1 only)."""
        if self.run_as:
            shutil.chown(self.dir, "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A",
                  "trust", "-E", "UTF8", "--locale=C.UTF-8")

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                f"-c max_connections={self.max_connections}")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "log"),
                  "-w", "-o", opts, "start")

    def stop(self) -> None:
        """``pg_ctl stop -m fast``: sessions are cut, the port closes."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        """The asyncpg URL of ``database`` on this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def remove(self) -> None:
        """Stop the server if it is running and delete the cluster."""
        subprocess.run([*self.run_as, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


ENV = "XINQIAO_TEST_POSTGRES_URL"
_INTERRUPTED_GRACE = 30.0  # seconds the command gets to clean up after Ctrl-C before it is killed


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through ``finally``: the cluster is still removed


def run_with_cluster(command: Sequence[str]) -> int:
    """Run ``command`` with ``XINQIAO_TEST_POSTGRES_URL`` set; return its exit status."""
    if os.environ.get(ENV):
        return subprocess.run(command, check=False).returncode
    signal.signal(signal.SIGTERM, _terminated)
    # The xdist workers each hold a few connections per running test.
    cluster = Cluster(max_connections=300)
    proc: subprocess.Popen[bytes] | None = None
    try:
        try:
            cluster.init()
            cluster.start()
        except subprocess.CalledProcessError as e:
            log = cluster.dir / "log"
            print(f"could not start PostgreSQL for the tests: {e}\n{e.stderr.decode()}"
                  f"{log.read_text() if log.exists() else ''}", file=sys.stderr)
            return 1
        print(f"PostgreSQL for the tests: {cluster.url()} (data in {cluster.dir})",
              file=sys.stderr, flush=True)
        proc = subprocess.Popen(command, env={**os.environ, ENV: cluster.url()})
        try:
            return proc.wait()
        except KeyboardInterrupt:  # the command got the same Ctrl-C: let it finish its own way
            return proc.wait(timeout=_INTERRUPTED_GRACE)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        cluster.remove()


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit("usage: python -m tests.pg_cluster -- COMMAND [ARG...]")
    sys.exit(run_with_cluster(args))
