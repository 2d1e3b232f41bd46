"""crisis cases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crisis_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("opened_at", xinqiao.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("lead_person_id", sa.Integer(), nullable=True),
        sa.Column("plan", sa.Text(), nullable=True),
        sa.Column("followup_days", sa.Integer(), nullable=False),
        sa.Column("next_followup_at", xinqiao.storage.types.UTCDateTime(timezone=True),
                  nullable=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("closed_at", xinqiao.storage.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.Integer(), nullable=True),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["closed_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["escalation_id"], ["escalation.id"]),
        sa.ForeignKeyConstraint(["lead_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("crisis_case", schema=None) as batch_op:
        batch_op.create_index("ix_case_open", ["status", "next_followup_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_crisis_case_person_id"), ["person_id"],
                              unique=False)
    op.create_table(
        "case_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("added_at", xinqiao.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["crisis_case.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "person_id"),
    )
    with op.batch_alter_table("case_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_member_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_member_person_id"), ["person_id"],
                              unique=False)
    op.create_table(
        "case_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("at", xinqiao.storage.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("author_person_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["author_person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["crisis_case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_note_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    op.drop_table("case_note")
    op.drop_table("case_member")
    op.drop_table("crisis_case")
