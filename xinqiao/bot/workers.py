"""``xinqiao serve --workers N``: N service processes on one port, kept alive by this one.

Each worker is a whole service (webhooks, notifier, deadline sweeper) bound to the same port
with SO_REUSEPORT, so the kernel spreads connections over them. They share one PostgreSQL:
row locks make each deadline fire once and each push go out once, and the WeChat access token
lives in the database, so it is fetched once, not once per process. Only worker 0 polls
Telegram (two pollers would fight over getUpdates). A worker that dies is started again; on
SIGTERM or SIGINT every worker is asked to stop and given time to finish its messages.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger(__name__)
STOP_GRACE = 20.0  # seconds a worker gets to finish in-flight messages
RESTART_DELAY = 1.0


def _worker(index: int, host: str, port: int) -> None:
    """One service process (runs in the child)."""
    from aiohttp import web

    from xinqiao.bot.app import build_app
    from xinqiao.bot.shutdown import exit_stopped, stop_within
    from xinqiao.settings import Settings

    logging.basicConfig(level=logging.INFO,
                        format=f"%(asctime)s %(levelname)s [worker {index}] %(name)s: %(message)s")
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    app = build_app(Settings(), telegram_polling=index == 0)
    stop_within(app)
    web.run_app(app, host=host, port=port, reuse_port=True, access_log=None, print=None)
    exit_stopped()


class Supervisor:
    """Starts the workers, restarts any that die, stops them all on a signal."""

    def __init__(self, workers: int, host: str, port: int) -> None:
        self.count, self.host, self.port = workers, host, port
        self.context = multiprocessing.get_context("spawn")
        self.children: dict[int, BaseProcess] = {}
        self.stopping = False
        self.restarts = 0

    def _start(self, index: int) -> None:
        child = self.context.Process(target=_worker, args=(index, self.host, self.port),
                                     name=f"xinqiao-worker-{index}", daemon=False)
        child.start()
        self.children[index] = child
        log.info("worker %d started (pid %s)", index, child.pid)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> int:
        """Supervise until a stop signal; return the exit status."""
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        for index in range(self.count):
            self._start(index)
        while not self.stopping:
            time.sleep(0.2)
            for index, child in list(self.children.items()):
                if not child.is_alive() and not self.stopping:
                    log.error("worker %d exited with %s; starting it again", index,
                              child.exitcode)
                    self.restarts += 1
                    time.sleep(RESTART_DELAY)
                    self._start(index)
        return self._shutdown()

    def _shutdown(self) -> int:
        for child in self.children.values():
            if child.is_alive() and child.pid is not None:
                child.terminate()  # SIGTERM: aiohttp runs the cleanup (in-flight messages)
        deadline = time.monotonic() + STOP_GRACE
        status = 0
        for index, child in self.children.items():
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                log.error("worker %d did not stop in %.0f s; killing it", index, STOP_GRACE)
                child.kill()
                child.join()
                status = 1
        log.info("all workers stopped")
        return status
