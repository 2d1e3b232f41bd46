"""Shared fixtures: a migrated database on every backend, a fake clock, settings."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests import pg_databases
from tests.headless import close_browser
from tests.telegram_stub import TOKEN, TelegramStub
from tests.telegram_user import SECRET
from tests.wechat_stub import WeChatStub
from xinqiao.bot.app import TELEGRAM, build_app
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]

# The suite runs on SQLite always and on PostgreSQL when this variable points at a server where
# the user may create databases: postgresql+asyncpg://user@host:port/postgres. `make test` starts
# a throwaway cluster and sets it (tests/pg_cluster.py); `make test-fast` leaves it unset.
PG_URL = os.environ.get("XINQIAO_TEST_POSTGRES_URL", "")
BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]
# PostgreSQL refuses to start without data keys; SQLite tests use the key file beside the file.
PG_DATA_KEY = "qlsYpEp1ZgA0sX2q6Z7pUj4o4rZ5Jm4p3oXJ7vX3yQ8="


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        db = Database(f"sqlite+aiosqlite:///{path}")
        await upgrade(db)
        await db.dispose()

    asyncio.run(build())
    return path


async def _pg_database(template: str | None = None) -> str:
    return await pg_databases.create_database(PG_URL, template)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A PostgreSQL database migrated once per test process: the tests' databases are copies.

    Copying a template is much faster than migrating a new database.
    """
    import asyncio

    if not PG_URL:
        yield None
        return
    previous = os.environ.get("XINQIAO_DATA_KEYS")
    os.environ["XINQIAO_DATA_KEYS"] = PG_DATA_KEY

    async def build() -> str:
        url = await _pg_database()
        db = Database(url)
        await upgrade(db)
        await db.dispose()
        return url

    try:
        url = asyncio.run(build())
    finally:
        if previous is None:
            os.environ.pop("XINQIAO_DATA_KEYS", None)
        else:
            os.environ["XINQIAO_DATA_KEYS"] = previous
    try:
        yield url.rsplit("/", 1)[1]
    finally:
        asyncio.run(_pg_drop(url))


async def _pg_drop(url: str) -> None:
    await pg_databases.drop_database(PG_URL, url)


@pytest.fixture(scope="session")
def pg_reused(pg_template: str | None) -> Iterator[pg_databases.Reused | None]:
    """One copy of the template for all of this process's PostgreSQL tests (see db_url)."""
    if pg_template is None:
        yield None
        return
    reused = pg_databases.Reused(PG_URL, pg_template)
    try:
        yield reused
    finally:
        reused.drop()


@pytest.fixture(params=BACKENDS)
async def db_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, pg_reused: pg_databases.Reused | None,
) -> AsyncIterator[str]:
    """The URL of a migrated database on the parametrised backend, holding no test's rows:
    a copy of the SQLite template; on PostgreSQL, this process's database reset."""
    if request.param == "sqlite":
        target = tmp_path / "xinqiao.db"
        shutil.copy(sqlite_template, target)
        yield f"sqlite+aiosqlite:///{target}"
        return
    monkeypatch.setenv("XINQIAO_DATA_KEYS", PG_DATA_KEY)
    assert pg_reused is not None
    # Reset before the test, not after the last one: whatever that test left running has
    # stopped by now, so no late write of its lands in this test's tables.
    yield await pg_reused.clean()


def _aiosqlite_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.endswith("(_connection_worker_thread)")}


@pytest.fixture(autouse=True)
async def aiosqlite_threads_end() -> AsyncIterator[None]:
    """Every aiosqlite thread a test started ends while the test's event loop still runs.

    A SQLite connection that fails to open (a missing directory) has aiosqlite stop its thread
    without waiting for it; when the loop closed first, the thread died with "Event loop is
    closed", reported in whichever test ran next. A thread still there after every fixture's
    teardown is a connection nobody closed: that fails the test.
    """
    before = _aiosqlite_threads()
    yield
    started = time.monotonic()
    collected = False
    while left := _aiosqlite_threads() - before:
        waited = time.monotonic() - started
        if waited > 0.2 and not collected:
            gc.collect()  # a connection only garbage refers to stops its thread when collected
            collected = True
        if waited > 10:
            names = sorted(t.name for t in left)
            pytest.fail(f"{len(left)} SQLite connection(s) left open: {names}")
        await asyncio.sleep(0.005)


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    """A migrated database, disposed after the test."""
    database = Database(db_url)
    yield database
    await database.dispose()


@pytest.fixture
async def stub(clock: FakeClock) -> AsyncIterator[WeChatStub]:
    """A local stand-in of the WeChat API, on the test's fake clock."""
    async with WeChatStub(clock=clock) as server:
        yield server


@pytest.fixture
async def tg(clock: FakeClock) -> AsyncIterator[TelegramStub]:
    """The Bot API stand-in."""
    async with TelegramStub(clock=clock) as stub:
        yield stub


@pytest.fixture
async def make_client(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, tg: TelegramStub
) -> AsyncIterator[MakeClient]:
    """The real app (no background loops) with Telegram on; polling runs when asked for."""
    stop = asyncio.Event()
    pollers: list[asyncio.Task[None]] = []

    async def make(**changes: Any) -> TestClient[Any, Any]:
        cfg = settings.model_copy(update={
            "telegram_token": TOKEN, "telegram_api_base": tg.url,
            "telegram_webhook_secret": SECRET, "telegram_api_timeout_seconds": 2.0,
            "telegram_poll_timeout_seconds": 1, **changes})
        client: TestClient[Any, Any] = await aiohttp_client(build_app(cfg, clock,
                                                                      background=False))
        poller = client.app[TELEGRAM].poller
        if poller is not None:
            pollers.append(asyncio.create_task(poller.run(stop)))
        return client

    yield make
    stop.set()
    await asyncio.gather(*pollers)


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so (starts 2026-09-07 09:00 Shanghai)."""
    return FakeClock()


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    """Settings for a test service on the test database, with WeChat plaintext mode."""
    return Settings(
        database_url=db_url,
        wechat_token="testtoken",
        wechat_appid="wx2c2769f8efd9abc2",
        wechat_secret="testsecret",
        _env_file=None,
    )


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers: PostgreSQL-only behaviour, and tests needing provisioned tools."""
    config.addinivalue_line("markers", "postgres_only: run only on the PostgreSQL backend")
    if getattr(config.option, "loadscopereorder", None) is not None:
        # xdist would re-sort the files by their number of tests; keep LONGEST_FIRST's order
        config.option.loadscopereorder = False
    config.addinivalue_line("markers", "provisioned: needs a tool .ci/provision installs "
                            "(Chromium, nginx, openssl, systemd-analyze, PostgreSQL's programs); "
                            "`make test` has them, `make test-fast` leaves these tests out")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Stop the Chromium the console tests shared (a test worker may skip atexit)."""
    close_browser()


# The files that take longest (measured with --durations; see the commit that last changed
# this list), longest first. `--dist loadfile` hands whole files to the test processes in
# collection order: these go first, so that none of them is left running alone at the end
# while the other processes have nothing more to do. The rest follow, most tests first.
LONGEST_FIRST = (
    "test_crisis_model.py", "test_shutdown.py", "test_fuzz_chat.py", "test_cli.py",
    "test_db_outage.py", "test_crash.py", "test_console_pages.py", "test_fuzz.py",
    "test_api_outage.py", "test_send_budget.py", "test_content_cli.py", "test_deploy.py",
    "test_workers.py", "test_retention.py",
)


def _longest_first(items: list[pytest.Item]) -> None:
    files = Counter(item.nodeid.split("::", 1)[0] for item in items)
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: _file_order(item.nodeid.split("::", 1)[0], rank, files))


def _file_order(name: str, rank: dict[str, int], files: Counter[str]) -> tuple[int, int, str]:
    return rank.get(name.removeprefix("tests/"), len(rank)), -files[name], name


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the SQLite runs of postgres_only tests (they are not skips: CI has PostgreSQL);
    put the longest files first (see LONGEST_FIRST)."""
    _longest_first(items)
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        backend = callspec.params.get("db_url") if callspec else None
        if item.get_closest_marker("postgres_only") and backend != "postgresql":
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
