"""reports joining an open escalation; the centre's sign-off on closing crisis cases

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-24 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0014"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = xinqiao.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "escalation_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.Integer(), nullable=False),
        sa.Column("joined_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("escalation_id", "report_id"),
    )
    with op.batch_alter_table("escalation_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_escalation_report_escalation_id"),
                              ["escalation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_escalation_report_report_id"), ["report_id"],
                              unique=False)
    op.create_table(
        "case_signoff",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.Integer(), nullable=False),
        sa.Column("requested_at", UTC(timezone=True), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("tier", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", UTC(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["crisis_case.id"]),
        sa.ForeignKeyConstraint(["decided_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["requested_by"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_signoff", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_signoff_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_table("case_signoff")
    op.drop_table("escalation_report")
