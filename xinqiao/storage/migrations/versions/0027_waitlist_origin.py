"""A waitlist entry remembers how the student came onto it

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 01:00:00

A student placed on the waitlist by the centre after a positive screen is told so in those
words, never as if they had queued themselves; the flow reads that from ``origin``. Existing
rows read as the student's own (a live entry placed by a screen before the upgrade keeps the
words it had).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("booking_waitlist") as batch:
        batch.add_column(sa.Column("origin", sa.String(length=16), nullable=False,
                                   server_default="student"))


def downgrade() -> None:
    with op.batch_alter_table("booking_waitlist") as batch:
        batch.drop_column("origin")
