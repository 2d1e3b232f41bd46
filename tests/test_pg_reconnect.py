"""PostgreSQL without a ping per checkout (issue 18): a restarted server costs the first
statement on each old connection, which is caught and tried once more, never a message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import select

from tests.conftest import PG_DATA_KEY, MakeClient
from tests.factories import add_person, bind, make_campus
from tests.pg_cluster import Cluster
from tests.wechat_server import WeChatServer, reply_content, text_xml
from xinqiao.bot.app import SERVICES
from xinqiao.clock import FakeClock
from xinqiao.storage.db import Database, retry_dropped
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import InboxMessage, InboxStatus, Role

pytestmark = pytest.mark.postgres_only


@pytest.fixture
async def cluster_url(db_url: str, monkeypatch: pytest.MonkeyPatch
                      ) -> AsyncIterator[tuple[Cluster, str]]:
    """A migrated database on a throwaway cluster this test may stop and start."""
    del db_url  # selects the backend only: the shared server must never be restarted
    monkeypatch.setenv("XINQIAO_DATA_KEYS", PG_DATA_KEY)
    cluster = Cluster()
    await asyncio.to_thread(cluster.init)
    await asyncio.to_thread(cluster.start)
    try:
        admin = create_async_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        async with admin.connect() as conn:
            await conn.execute(text("CREATE DATABASE xinqiao"))
        await admin.dispose()
        db = Database(cluster.url("xinqiao"))
        await upgrade(db)
        await db.dispose()
        yield cluster, cluster.url("xinqiao")
    finally:
        await asyncio.to_thread(cluster.remove)


async def _restart(cluster: Cluster) -> None:
    await asyncio.to_thread(cluster.stop)
    await asyncio.to_thread(cluster.start)


async def test_no_ping_per_checkout_and_a_restart_costs_no_message(
    cluster_url: tuple[Cluster, str], make_client: MakeClient, clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cluster, url = cluster_url
    client = await make_client(database_url=url)
    db: Database = client.app[SERVICES].db
    campus = await make_campus(db, clock.now())
    student = await add_person(db, campus, "S1", "小林", Role.student, now=clock.now())
    await bind(db, student, "wechat", "o-lin", clock.now())
    pings: list[Any] = []
    dialect = db.engine.sync_engine.dialect
    ping = dialect.do_ping

    def counted(conn: Any) -> bool:
        pings.append(conn)
        return ping(conn)

    monkeypatch.setattr(dialect, "do_ping", counted)
    server = WeChatServer(client, "testtoken")
    status, body = await server.post(text_xml("o-lin", "菜单"))
    assert status == 200 and "小林" in reply_content(body)
    assert pings == []  # no round trip before each checkout
    # The server restarts under the service: every pooled connection is dead.
    await _restart(cluster)
    # The ordinary path (booking reads through the ORM) and the lean one both carry on.
    status, body = await server.post(text_xml("o-lin", "1"))
    assert status == 200 and "咨询时段" in reply_content(body)
    status, body = await server.post(text_xml("o-lin", "菜单"))
    assert status == 200 and "请选择你需要的服务" in reply_content(body)

    async def stored() -> list[InboxMessage]:
        async with db.session() as s:
            return list((await s.exec(select(InboxMessage))).all())

    rows = await retry_dropped(stored)  # the engine's pool may still hold the old connections
    assert [r.status for r in rows] == [InboxStatus.done] * 3
    assert pings == []
    await _restart(cluster)
    await db.ping()  # /healthz after a restart: answered, not a 503
