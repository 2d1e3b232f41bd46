"""A roster version bumped by every change to people and roles

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 18:40:00

The webhook's hot path keeps who people are (person row and roles) per process, valid while
``roster_version.version`` reads the same. Triggers bump it, so no writer can forget to: the
console, the chat flows, ``xinqiao roster import`` in another process. On PostgreSQL the bump
is a deferred constraint trigger, once per transaction at its commit: the row is locked only
for the instant before the commit, after every other lock the transaction takes, so two
roster writers cannot deadlock on it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("person", "role_assignment")
EVENTS = ("INSERT", "UPDATE", "DELETE")

PG_BUMP = """
CREATE FUNCTION roster_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE roster_version SET version = version + 1, bumped_in = txid_current()
    WHERE id = 1 AND bumped_in IS DISTINCT FROM txid_current();
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "roster_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("bumped_in", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO roster_version (id, version) VALUES (1, 0)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_BUMP)
        for table in TABLES:
            op.execute(f"CREATE CONSTRAINT TRIGGER roster_version_{table} "
                       f"AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                       "EXECUTE FUNCTION roster_version_bump()")
        return
    for table in TABLES:
        for event in EVENTS:
            op.execute(f"CREATE TRIGGER roster_version_{table}_{event.lower()} "  # noqa: S608
                       f"AFTER {event} ON {table} BEGIN "
                       "UPDATE roster_version SET version = version + 1 WHERE id = 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER roster_version_{table} ON {table}")
        op.execute("DROP FUNCTION roster_version_bump()")
    else:
        for table in TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER roster_version_{table}_{event.lower()}")
    op.drop_table("roster_version")
