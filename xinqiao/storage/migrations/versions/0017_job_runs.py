"""calendar jobs are claimed per run: job_run (job, scheduled_for) unique

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10 10:00:00

The daily plan, the morning booking list, the weekly tip, the coverage check and the monthly
report used to be timers that re-armed themselves; APScheduler's cron triggers drive them now,
and each run claims its row here first. Their pending self-armed timers are marked fired (the
jobs take over; a run missed meanwhile is caught up at start within its grace). Downgrading
drops the table; the old code re-arms its plan timers at start by itself.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SUPERSEDED = ("plan.daily", "booking.morning", "content.tip", "coverage.daily",
               "monthly.generate")


def upgrade() -> None:
    op.create_table(
        "job_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("scheduled_for", xinqiao.storage.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.Column("started_at", xinqiao.storage.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("job", "scheduled_for"),
    )
    op.execute(sa.text(
        "UPDATE timer SET fired_at = CURRENT_TIMESTAMP, "
        "last_error = 'superseded by the job scheduler' "
        "WHERE fired_at IS NULL AND kind IN :kinds"
    ).bindparams(sa.bindparam("kinds", value=list(_SUPERSEDED), expanding=True)))


def downgrade() -> None:
    op.drop_table("job_run")
