"""binding codes as keyed hashes, per-id lockout, second-channel requests

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-24 10:00:00

Activation codes become keyed hashes (xinqiao/services/code_hash.py) under the service's data
keys: a fresh code for people with no bound account, a spent one for people bound somewhere.
The codes themselves cannot be recovered afterwards: `xinqiao roster codes` issues fresh codes
for the unbound. The downgrade cannot restore the codes either; it leaves the hashes, which
match nothing under the old code, so `roster unbind` or a roster file must issue new ones.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import xinqiao.storage.types
from xinqiao.services.code_hash import FRESH, SPENT, hash_code, is_hashed
from xinqiao.storage.crypto import ring_for_connection

revision: str = "0012"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000


def upgrade() -> None:
    utc = xinqiao.storage.types.UTCDateTime(timezone=True)
    op.create_table(
        "bind_guard",
        sa.Column("target", sa.String(length=32), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", utc, nullable=True),
        sa.Column("updated_at", utc, nullable=False),
        sa.PrimaryKeyConstraint("target"),
    )
    op.create_table(
        "binding_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("identity_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("expires_at", utc, nullable=False),
        sa.Column("decided_at", utc, nullable=True),
        sa.ForeignKeyConstraint(["identity_id"], ["channel_identity.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_binding_request_person_id"), "binding_request", ["person_id"])
    op.create_index(op.f("ix_binding_request_identity_id"), "binding_request", ["identity_id"])
    _hash_codes()


def _hash_codes() -> None:
    conn = op.get_bind()
    person = sa.table("person", sa.column("id", sa.Integer), sa.column("activation_code"))
    identity = sa.table("channel_identity", sa.column("person_id", sa.Integer))
    bound = {pid for (pid,) in conn.execute(
        sa.select(identity.c.person_id).where(identity.c.person_id.is_not(None)))}
    rows = [(pid, code) for pid, code in conn.execute(
        sa.select(person.c.id, person.c.activation_code)) if not is_hashed(code)]
    if not rows:
        return  # no key is needed (nor created) for an empty roster
    ring = ring_for_connection(conn)
    update = sa.update(person).where(person.c.id == sa.bindparam("b_id")).values(
        activation_code=sa.bindparam("b_code"))
    for start in range(0, len(rows), BATCH):
        conn.execute(update, [
            {"b_id": pid, "b_code": hash_code(ring, code, state=SPENT if pid in bound else FRESH)}
            for pid, code in rows[start:start + BATCH]])


def downgrade() -> None:
    op.drop_index(op.f("ix_binding_request_identity_id"), table_name="binding_request")
    op.drop_index(op.f("ix_binding_request_person_id"), table_name="binding_request")
    op.drop_table("binding_request")
    op.drop_table("bind_guard")
