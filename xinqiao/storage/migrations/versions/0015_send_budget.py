"""one send budget per channel, shared by every worker

Revision ID: 0015
Revises: 0012
Create Date: 2026-12-06 10:00:00

`serve --workers N` used to give each worker the whole WECHAT_SEND_RATE; the platforms limit
the account (or the bot), so the workers now take their tokens from one row per channel.
Rows are created on first use; the table starts empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0015"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_budget",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", xinqiao.storage.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.PrimaryKeyConstraint("channel"),
    )


def downgrade() -> None:
    op.drop_table("send_budget")
