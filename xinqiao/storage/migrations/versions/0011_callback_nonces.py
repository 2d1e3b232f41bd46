"""callback nonces: the (timestamp, nonce) pairs webhooks accepted, for replay refusal

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0011"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_nonce",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", xinqiao.storage.types.UTCDateTime(timezone=True),
                  nullable=False),
        sa.PrimaryKeyConstraint("channel", "timestamp", "nonce"),
    )
    op.create_index("ix_callback_nonce_expires_at", "callback_nonce", ["expires_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_callback_nonce_expires_at", table_name="callback_nonce")
    op.drop_table("callback_nonce")
