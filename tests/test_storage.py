"""The schema: migrations build exactly the models, on every backend; UTC round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import xinqiao.storage.binding
import xinqiao.storage.booking
import xinqiao.storage.callbacks
import xinqiao.storage.campaigns
import xinqiao.storage.case_records
import xinqiao.storage.cases
import xinqiao.storage.reports
import xinqiao.storage.screening  # noqa: F401
from xinqiao.storage.db import Database
from xinqiao.storage.models import School


async def test_migrations_match_models(db: Database) -> None:
    def diff(conn: Connection) -> list[object]:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(ctx, SQLModel.metadata))

    async with db.engine.connect() as conn:
        changes = await conn.run_sync(diff)
    assert changes == []


async def test_datetimes_come_back_aware_utc(db: Database) -> None:
    from xinqiao.storage.models import AccessToken

    beijing = timezone(timedelta(hours=8))
    when = datetime(2026, 9, 1, 8, 30, tzinfo=beijing)
    async with db.session() as s:
        s.add(School(code="s", name="学校"))
        s.add(AccessToken(appid="wx", token="t", expires_at=when))
    async with db.session() as s:
        row = await s.get(AccessToken, "wx")
        assert row is not None and row.expires_at == when
        assert row.expires_at.tzinfo == UTC
