"""A stop that always ends: ``serve`` exits within a deadline of its stop signal.

A graceful stop waits for work in progress, and that work can be stuck where no cancel helps:
a statement waiting out SQLite's busy timeout while another process holds the write lock, or
a driver waiting for a connection thread that has gone (aiosqlite, when a connection is closed
from two sides at once during a cancel). Then, rather than hang until systemd's SIGKILL, the
process ends itself. That loses nothing, as ``kill -9`` loses nothing (``tests/test_crash``):
a transaction not committed is rolled back by the database, a message not yet handled stays
pending in the inbox and the next start's recovery handles it, a claimed job run not committed
is run by the next start's catch-up.
"""

from __future__ import annotations

import logging
import os
import threading

from aiohttp import web

log = logging.getLogger(__name__)
# systemd's TimeoutStopSec is 20 s (deploy/systemd): well inside it.
STOP_DEADLINE_SECONDS = 9.0


def stop_within(app: web.Application, seconds: float = STOP_DEADLINE_SECONDS) -> None:
    """Make the process exit at most ``seconds`` after ``app`` starts shutting down.

    Only for a process that runs nothing but ``app`` (``serve``): it ends the whole process.
    """
    async def arm(_: web.Application) -> None:
        timer = threading.Timer(seconds, _exit_now, args=(seconds,))
        timer.daemon = True  # a stop that finishes in time exits without waiting for it
        timer.start()

    app.on_shutdown.append(arm)


def exit_stopped() -> None:
    """End the process once the app has stopped, without the interpreter's teardown.

    Everything is closed by then; the teardown's final collection over the loaded models
    and dictionaries alone takes seconds.
    """
    logging.shutdown()
    os._exit(0)


def _exit_now(seconds: float) -> None:
    log.warning("still stopping %.0f s after the stop signal: exiting now; messages not yet "
                "handled stay in the inbox and are handled at the next start", seconds)
    logging.shutdown()
    os._exit(0)
