"""An index on person.tier for 关注名单

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-06 10:50:00

关注名单 lists the students on the key and crisis tiers, a few hundred among tens of
thousands: without an index both backends scanned every person on each look (11 ms of the
page on SQLite at 30,000 students, 0.2 ms with it).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_person_tier", "person", ["tier"])


def downgrade() -> None:
    op.drop_index("ix_person_tier", table_name="person")
