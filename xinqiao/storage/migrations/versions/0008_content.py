"""psycho-education content: tip subscriptions and content campaigns

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 04:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = xinqiao.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "tip_subscription",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("subscribed_at", UTC(timezone=True), nullable=False),
        sa.Column("unsubscribed_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id"),
    )
    with op.batch_alter_table("tip_subscription", schema=None) as batch_op:
        batch_op.create_index("ix_tip_subscription_active_person", ["active", "person_id"],
                              unique=False)
    op.create_table(
        "content_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("college_id", sa.Integer(), nullable=True),
        sa.Column("enrolment_year", sa.Integer(), nullable=True),
        sa.Column("send_at", UTC(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("pushed", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("finished_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["college_id"], ["college.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("content_campaign", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_content_campaign_send_at"), ["send_at"],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table("content_campaign", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_content_campaign_send_at"))
    op.drop_table("content_campaign")
    with op.batch_alter_table("tip_subscription", schema=None) as batch_op:
        batch_op.drop_index("ix_tip_subscription_active_person")
    op.drop_table("tip_subscription")
