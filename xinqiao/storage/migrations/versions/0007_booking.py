"""counselling booking

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 18:08:15
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.crypto
import xinqiao.storage.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC = xinqiao.storage.types.UTCDateTime
ENCRYPTED = xinqiao.storage.crypto.EncryptedText
HOLDING = "status IN ('booked', 'started', 'attended')"
UPCOMING = "status = 'booked'"
WAITING = "status IN ('waiting', 'offered')"


def _partial(sql: str) -> dict[str, sa.TextClause]:
    return {"sqlite_where": sa.text(sql), "postgresql_where": sa.text(sql)}


def upgrade() -> None:
    op.create_table(
        "counsellor_profile",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("place", sa.String(length=100), nullable=True),
        sa.Column("modes", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "duty_pattern",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start", sa.Time(), nullable=False),
        sa.Column("end", sa.Time(), nullable=False),
        sa.Column("session_minutes", sa.Integer(), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["counsellor_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("duty_pattern", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duty_pattern_counsellor_id"), ["counsellor_id"],
                              unique=False)
    op.create_table(
        "duty_exception",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("start", sa.Time(), nullable=True),
        sa.Column("end", sa.Time(), nullable=True),
        sa.Column("session_minutes", sa.Integer(), nullable=False),
        sa.Column("break_minutes", sa.Integer(), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["counsellor_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("duty_exception", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duty_exception_counsellor_id"), ["counsellor_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_duty_exception_day"), ["day"], unique=False)
    op.create_table(
        "appointment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("counsellor_id", sa.Integer(), nullable=False),
        sa.Column("start_at", UTC(timezone=True), nullable=False),
        sa.Column("end_at", UTC(timezone=True), nullable=False),
        sa.Column("place", sa.String(length=100), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.Column("requested_at", UTC(timezone=True), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("status_at", UTC(timezone=True), nullable=True),
        sa.Column("marked_by", sa.Integer(), nullable=True),
        sa.Column("note", ENCRYPTED(), nullable=True),
        sa.Column("moved_from", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["counsellor_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["marked_by"], ["person.id"]),
        sa.ForeignKeyConstraint(["moved_from"], ["appointment.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_counsellor_id"), ["counsellor_id"],
                              unique=False)
        batch_op.create_index(batch_op.f("ix_appointment_student_id"), ["student_id"],
                              unique=False)
        batch_op.create_index("ix_appointment_start", ["start_at", "status"], unique=False)
        # One live appointment per counsellor start time; one upcoming one per student.
        batch_op.create_index("ux_appointment_slot", ["counsellor_id", "start_at"], unique=True,
                              **_partial(HOLDING))
        batch_op.create_index("ux_appointment_upcoming", ["student_id"], unique=True,
                              **_partial(UPCOMING))
    op.create_table(
        "appointment_move",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("proposed_by", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.Column("answered_at", UTC(timezone=True), nullable=True),
        sa.Column("new_appointment_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"]),
        sa.ForeignKeyConstraint(["new_appointment_id"], ["appointment.id"]),
        sa.ForeignKeyConstraint(["proposed_by"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment_move", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_move_appointment_id"),
                              ["appointment_id"], unique=False)
    op.create_table(
        "referral",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("by_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("to_counsellor_id", sa.Integer(), nullable=True),
        sa.Column("hospital", ENCRYPTED(), nullable=True),
        sa.Column("crisis", sa.Boolean(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("note", ENCRYPTED(), nullable=True),
        sa.Column("outcome", ENCRYPTED(), nullable=True),
        sa.Column("outcome_at", UTC(timezone=True), nullable=True),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"]),
        sa.ForeignKeyConstraint(["by_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["case_id"], ["crisis_case.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["to_counsellor_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("referral", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_referral_student_id"), ["student_id"],
                              unique=False)
    op.create_table(
        "booking_waitlist",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("student_id", sa.Integer(), nullable=False),
        sa.Column("gender", sa.String(length=8), nullable=True),
        sa.Column("mode", sa.String(length=8), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC(timezone=True), nullable=False),
        sa.Column("expires_at", UTC(timezone=True), nullable=False),
        sa.Column("offered_counsellor_id", sa.Integer(), nullable=True),
        sa.Column("offered_start", UTC(timezone=True), nullable=True),
        sa.Column("offer_expires_at", UTC(timezone=True), nullable=True),
        sa.Column("token", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["offered_counsellor_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["student_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("booking_waitlist", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_booking_waitlist_student_id"), ["student_id"],
                              unique=False)
        batch_op.create_index("ix_waitlist_queue", ["status", "id"], unique=False)
        batch_op.create_index("ux_waitlist_student", ["student_id"], unique=True,
                              **_partial(WAITING))


def downgrade() -> None:
    for table in ("booking_waitlist", "referral", "appointment_move", "appointment",
                  "duty_exception", "duty_pattern", "counsellor_profile"):
        op.drop_table(table)
