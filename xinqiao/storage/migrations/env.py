"""Alembic environment: runs on a connection handed in by xinqiao.storage.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import xinqiao.storage.aftercare
import xinqiao.storage.binding
import xinqiao.storage.booking
import xinqiao.storage.callbacks
import xinqiao.storage.campaigns
import xinqiao.storage.care
import xinqiao.storage.case_records
import xinqiao.storage.cases
import xinqiao.storage.console
import xinqiao.storage.content
import xinqiao.storage.jobs
import xinqiao.storage.models  # registers the tables on SQLModel.metadata
import xinqiao.storage.reports
import xinqiao.storage.screening  # noqa: F401

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `xinqiao db upgrade`, not the alembic CLI")

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
