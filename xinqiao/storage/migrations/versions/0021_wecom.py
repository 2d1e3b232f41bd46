"""WeCom as the staff channel: the roster's WeCom userid, and per-member send stamps

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 10:00:00

``person.wecom_userid`` binds a member on WeCom without a code. ``member_send`` keeps one row
per push to a WeCom member for an hour, so every worker together keeps to WeCom's per-member
limits (30 a minute, 1,000 an hour), which WeCom enforces by dropping messages silently.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("person", sa.Column("wecom_userid", sa.String(length=64), nullable=True))
    op.create_index("ix_person_wecom_userid", "person", ["wecom_userid"])
    op.create_table(
        "member_send",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("address", sa.String(length=128), nullable=False),
        sa.Column("at", xinqiao.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_member_send_channel_address_at", "member_send",
                    ["channel", "address", "at"])


def downgrade() -> None:
    op.drop_index("ix_member_send_channel_address_at", table_name="member_send")
    op.drop_table("member_send")
    op.drop_index("ix_person_wecom_userid", table_name="person")
    # A plain DROP COLUMN (SQLite >= 3.35 has it): batch mode would copy and drop ``person``,
    # which every other table references, and SQLite's foreign keys refuse that.
    op.drop_column("person", "wecom_userid")
