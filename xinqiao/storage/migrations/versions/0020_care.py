"""care around an alert: safety plans (versioned, encrypted) and practice sessions

Revision ID: 0020
Revises: 0018
Create Date: 2026-12-12 10:00:00

A student's safety plan keeps every version (an edit adds one); its steps are encrypted like
other free text a student writes. Practice sessions and the runs practised in them hold no
answers: who practised which kind of report, and when. All three tables start empty.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.crypto
import xinqiao.storage.types

revision: str = "0020"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = xinqiao.storage.types.UTCDateTime
ENCRYPTED_JSON = xinqiao.storage.crypto.EncryptedJSON


def upgrade() -> None:
    op.create_table(
        "safety_plan",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("steps", ENCRYPTED_JSON(), nullable=False),
        sa.Column("written_by", sa.Integer(), nullable=True),
        sa.Column("written_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["written_by"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("person_id", "version"),
    )
    op.create_index("ix_safety_plan_person_id", "safety_plan", ["person_id"])
    op.create_table(
        "practice_session",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.Column("ended_at", UTC(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=16), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_practice_session_person_id", "practice_session", ["person_id"])
    op.create_table(
        "practice_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", UTC(timezone=True), nullable=False),
        sa.Column("crisis_word", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["practice_session.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_practice_run_session_id", "practice_run", ["session_id"])
    op.create_index("ix_practice_run_person_id", "practice_run", ["person_id"])


def downgrade() -> None:
    op.drop_index("ix_practice_run_person_id", table_name="practice_run")
    op.drop_index("ix_practice_run_session_id", table_name="practice_run")
    op.drop_table("practice_run")
    op.drop_index("ix_practice_session_person_id", table_name="practice_session")
    op.drop_table("practice_session")
    op.drop_index("ix_safety_plan_person_id", table_name="safety_plan")
    op.drop_table("safety_plan")
