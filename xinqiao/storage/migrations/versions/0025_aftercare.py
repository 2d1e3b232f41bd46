"""How a crisis case ended (an attempt, a death) and the aftercare rounds that follow it

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 14:00:00

``case_incident`` is a case decision recording an attempt or a death (its note encrypted);
``aftercare_round`` is one follow-up round for the student's dorm and class, and
``aftercare_invitation`` each roommate's or classmate's invitation with their answers
(encrypted; removed by retention like a report's free text).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.crypto
import xinqiao.storage.types

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = xinqiao.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "case_incident",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("crisis_case.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.Column("note", xinqiao.storage.crypto.EncryptedText(), nullable=True),
        sa.Column("recorded_by", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("recorded_at", UTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_case_incident_case_id", "case_incident", ["case_id"])
    op.create_table(
        "aftercare_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("crisis_case.id"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("dorm_id", sa.Integer(), sa.ForeignKey("dorm.id"), nullable=True),
        sa.Column("klass_id", sa.Integer(), sa.ForeignKey("klass.id"), nullable=True),
        sa.Column("started_by", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("started_at", UTC(timezone=True), nullable=False),
        sa.Column("remind_at", UTC(timezone=True), nullable=False),
        sa.Column("closes_at", UTC(timezone=True), nullable=False),
        sa.Column("closed_at", UTC(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_aftercare_round_case_id", "aftercare_round", ["case_id"])
    op.create_table(
        "aftercare_invitation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), sa.ForeignKey("aftercare_round.id"),
                  nullable=False),
        sa.Column("person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("reached", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reminded", sa.Integer(), nullable=False),
        sa.Column("answered_at", UTC(timezone=True), nullable=True),
        sa.Column("wants_talk", sa.Boolean(), nullable=False),
        sa.Column("concern", sa.Boolean(), nullable=False),
        sa.Column("escalation_id", sa.Integer(), sa.ForeignKey("escalation.id"), nullable=True),
        sa.Column("answers", xinqiao.storage.crypto.EncryptedJSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "person_id"),
    )
    op.create_index("ix_aftercare_invitation_round_id", "aftercare_invitation", ["round_id"])
    op.create_index("ix_aftercare_invitation_person_id", "aftercare_invitation", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_aftercare_invitation_person_id", table_name="aftercare_invitation")
    op.drop_index("ix_aftercare_invitation_round_id", table_name="aftercare_invitation")
    op.drop_table("aftercare_invitation")
    op.drop_index("ix_aftercare_round_case_id", table_name="aftercare_round")
    op.drop_table("aftercare_round")
    op.drop_index("ix_case_incident_case_id", table_name="case_incident")
    op.drop_table("case_incident")
