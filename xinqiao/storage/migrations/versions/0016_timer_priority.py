"""timers carry a priority: crisis and urgent deadlines are fired before bulk ones

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-08 10:00:00

The sweeper claims due timers in batches ordered by (priority, due_at), so a crisis
escalation's next step never waits behind a Monday wave of check-in reminders. Existing rows
take the ordinary priority; escalation deadlines already pending get theirs from their item's
severity.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("timer") as batch:
        batch.add_column(sa.Column("priority", sa.SmallInteger(), nullable=False,
                                   server_default="50"))
    # The values of xinqiao.services.timers.priority_for at the time of this migration.
    op.execute(
        "UPDATE timer SET priority = CASE "
        "WHEN (SELECT severity FROM escalation WHERE CAST(escalation.id AS VARCHAR(64)) = "
        "timer.ref) IN ('crisis', 'urgent') THEN 0 ELSE 10 END "
        "WHERE kind = 'escalation.deadline' AND fired_at IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("timer") as batch:
        batch.drop_column("priority")
