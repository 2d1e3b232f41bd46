"""The calendar jobs' claims: one row per (job, scheduled time), so N workers run it once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.types import utc_column


class JobRun(SQLModel, table=True):
    """One run of a calendar job, inserted in the transaction that holds the run's effects."""

    __tablename__ = "job_run"
    # The claim is this constraint: a second worker's insert of the same run does nothing.
    __table_args__ = (UniqueConstraint("job", "scheduled_for"),)
    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(sa_column=Column(String(64), nullable=False))
    scheduled_for: datetime = utc_column()
    started_at: datetime = utc_column()
