"""Telling "the database is away" from a bug, and logging an outage once instead of per failure.

While PostgreSQL restarts or the network to it is cut, every loop and every request fails the
same way many times a second. That is an operations event, not a stream of bugs: each place
that meets it logs one warning when the outage starts and one when it ends, and leaves its work
where it is (inbox rows pending, timers due, pushes pending) to be taken up again afterwards.
"""

from __future__ import annotations

import errno
import logging
import socket
import sqlite3
import sys
import time

from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

_UNAVAILABLE = (
    ConnectionError,  # refused, reset, aborted
    TimeoutError,
    socket.gaierror,  # the database host's name does not resolve
    DisconnectionError,
    PoolTimeoutError,  # every pooled connection is stuck on the dead server
)
_PG_UNAVAILABLE = (
    "PostgresConnectionError",  # class 08, and "connection was closed in the middle of operation"
    "AdminShutdownError",  # pg_ctl stop -m fast / immediate
    "CrashShutdownError",
    "CannotConnectNowError",  # starting up or shutting down
)
_NETWORK_ERRNOS = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN,
                             errno.EHOSTDOWN})
_SQLITE_MARKERS = ("unable to open database", "disk i/o error", "readonly database",
                   "database or disk is full",
                   "database is locked")  # another process holds the write lock


def _unavailable() -> tuple[type[BaseException], ...]:
    # asyncpg takes a tenth of a second to import and SQLite never loads it; without it
    # loaded, none of its errors can have been raised (issue 18).
    pg = sys.modules.get("asyncpg.exceptions")
    if pg is None:
        return _UNAVAILABLE
    return _UNAVAILABLE + tuple(getattr(pg, name) for name in _PG_UNAVAILABLE)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) says the database cannot be reached or written."""
    unavailable = _unavailable()
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, DBAPIError) and err.connection_invalidated:
            return True
        if isinstance(err, unavailable) or (
            isinstance(err, OSError) and err.errno in _NETWORK_ERRNOS
        ):
            return True
        if isinstance(err, sqlite3.OperationalError) and any(
            m in str(err).lower() for m in _SQLITE_MARKERS
        ):
            return True
        orig = getattr(err, "orig", None)
        stack += [err.__cause__, err.__context__,
                  orig if isinstance(orig, BaseException) else None]
    return False


class OutageLog:
    """One warning when a loop first finds the database away, one when it is back."""

    def __init__(self, logger: logging.Logger, what: str) -> None:
        self.log = logger
        self.what = what
        self.since: float | None = None
        self.failures = 0

    def failure(self, exc: BaseException) -> bool:
        """Count ``exc`` if the database is away (True), else leave it to the caller (False)."""
        if not database_unavailable(exc):
            return False
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning("%s: database unavailable (%s); work waits and is retried until "
                             "it is back", self.what, type(exc).__name__)
        return True

    def success(self) -> None:
        """The database answered: close the outage if one was open."""
        if self.since is not None:
            self.log.warning("%s: database back after %.0f s (%d failures meanwhile)",
                             self.what, time.monotonic() - self.since, self.failures)
            self.since, self.failures = None, 0
