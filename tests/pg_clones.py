"""Fresh PostgreSQL databases for the tests, copied from the migrated template ahead of time.

Copying the template (``CREATE DATABASE ... TEMPLATE``) and dropping a used copy each take from
a tenth of a second (the suite's own cluster, fsync off) to a second (a shared server, fsync on).
One thread per test process does both while the tests run: a test takes a copy made earlier
and hands its used one back to be dropped. Every test still gets its own untouched copy.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections import deque

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

AHEAD = 2  # copies kept ready: the next test's, and one more while that one is taken


class PgClones:
    """Make copies of ``template`` on the server ``admin_url`` names, in a thread of its own."""

    def __init__(self, admin_url: str, template: str) -> None:
        self.admin_url = admin_url
        self.template = template
        self._ready: deque[str] = deque()
        self._used: deque[str] = deque()
        self._failure: Exception | None = None
        self._closing = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def take(self) -> str:
        """The URL of a fresh copy (waits until one is ready; the first call starts the thread)."""
        with self._changed:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pg-clones", daemon=True)
                self._thread.start()
            while not self._ready:
                if self._failure is not None:
                    raise RuntimeError("copying the test database failed") from self._failure
                self._changed.wait()
            name = self._ready.popleft()
            self._changed.notify_all()
        return self.admin_url.rsplit("/", 1)[0] + "/" + name

    def discard(self, url: str) -> None:
        """Drop a used copy (later, in the thread)."""
        with self._changed:
            self._used.append(url.rsplit("/", 1)[1])
            self._changed.notify_all()

    def close(self) -> None:
        """Drop every copy, used or ready, and stop the thread."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _next(self) -> tuple[str, str] | None:
        """What to do next: ("drop", name), ("create", "") or None to stop; waits for work."""
        with self._changed:
            while True:
                if self._closing:
                    if self._used or self._ready:
                        return "drop", (self._used or self._ready).popleft()
                    return None
                # A test may be waiting for a copy: make it before dropping one, unless used
                # copies pile up (tests faster than copying would leave them all to the end).
                if self._used and (self._ready or len(self._used) >= 2):
                    return "drop", self._used.popleft()
                if len(self._ready) < AHEAD:
                    return "create", ""
                if self._used:
                    return "drop", self._used.popleft()
                self._changed.wait()

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        admin = create_async_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                while (job := await asyncio.to_thread(self._next)) is not None:
                    await self._do(conn, *job)
        except Exception as exc:  # handed to the test waiting for a copy
            with self._changed:
                self._failure = exc
                self._changed.notify_all()
        finally:
            await admin.dispose()

    async def _do(self, conn: AsyncConnection, job: str, name: str) -> None:
        if job == "drop":
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        name = f"xq_test_{uuid.uuid4().hex[:12]}"
        await conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        with self._changed:
            self._ready.append(name)
            self._changed.notify_all()
