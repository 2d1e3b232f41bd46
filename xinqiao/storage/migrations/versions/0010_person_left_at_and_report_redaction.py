"""person left_at and report redaction (retention)

Revision ID: 0010
Revises: 0008
Create Date: 2026-11-23 18:29:51
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            "left_at", xinqiao.storage.types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("report", schema=None) as batch_op:
        batch_op.add_column(sa.Column(
            "redacted_at", xinqiao.storage.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): a batch copy of person or report would trip the
    # foreign keys other tables hold on them.
    op.drop_column("report", "redacted_at")
    op.drop_column("person", "left_at")
