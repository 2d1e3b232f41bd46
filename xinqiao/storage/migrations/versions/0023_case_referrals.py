"""A crisis case's referrals out, family contact, return assessments and the contacts they owe

Revision ID: 0023
Revises: 0021
Create Date: 2026-12-06 11:00:00

``case_referral``, ``case_family_contact`` and ``case_return`` keep issue 20's green channel on
record (free text encrypted like case notes); ``case_contact_due`` is each day a contact is
owed (a referral's next contact, a return assessment's follow-ups), reminded by a timer.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.crypto
import xinqiao.storage.types

revision: str = "0023"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, xinqiao.storage.crypto.EncryptedText(), nullable=nullable)


def _common(table: str, *columns: sa.Column) -> None:  # type: ignore[type-arg]
    op.create_table(
        table,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        *columns,
        sa.ForeignKeyConstraint(["case_id"], ["crisis_case.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(f"ix_{table}_case_id", table, ["case_id"])


def _recorded() -> tuple[sa.Column, ...]:  # type: ignore[type-arg]
    return (sa.Column("recorded_by", sa.Integer(), sa.ForeignKey("person.id"), nullable=False),
            sa.Column("recorded_at", xinqiao.storage.types.UTCDateTime(timezone=True),
                      nullable=False))


def upgrade() -> None:
    _common("case_referral", _text("institution"), sa.Column("referred_on", sa.Date(),
            nullable=False), sa.Column("consent", sa.String(length=16), nullable=False),
            _text("accompanied_by", True), _text("outcome", True),
            sa.Column("next_contact_on", sa.Date(), nullable=True), *_recorded())
    _common("case_family_contact", _text("who"),
            sa.Column("contacted_on", sa.Date(), nullable=False), _text("agreed"), *_recorded())
    _common("case_return", sa.Column("returning_from", sa.String(length=16), nullable=False),
            sa.Column("assessed_on", sa.Date(), nullable=False), _text("result"),
            sa.Column("every_days", sa.Integer(), nullable=False),
            sa.Column("times", sa.Integer(), nullable=False), *_recorded())
    _common("case_contact_due", sa.Column("kind", sa.String(length=16), nullable=False),
            sa.Column("source_id", sa.Integer(), nullable=False),
            sa.Column("due_on", sa.Date(), nullable=False),
            sa.Column("done_at", xinqiao.storage.types.UTCDateTime(timezone=True),
                      nullable=True),
            sa.Column("done_by", sa.Integer(), sa.ForeignKey("person.id"), nullable=True))


def downgrade() -> None:
    for table in ("case_contact_due", "case_return", "case_family_contact", "case_referral"):
        op.drop_index(f"ix_{table}_case_id", table_name=table)
        op.drop_table(table)
