"""Bulk reads and writes behind the roster import: a few queries, whatever the file's size."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable
from sqlmodel import SQLModel

import xinqiao.storage.models  # noqa: F401  # registers the tables read below
from xinqiao.services.code_hash import hash_code, ring_of, same_code
from xinqiao.services.codes import new_activation_code
from xinqiao.services.roster_file import COLLEGE_ROLES, RosterRow
from xinqiao.storage.models import Role

# Core tables: bulk statements on them skip the ORM's per-object work, which 30,000 rows
# would notice (importing the models module registered them in the metadata).
SCHOOL = SQLModel.metadata.tables["school"]
COLLEGE = SQLModel.metadata.tables["college"]
KLASS = SQLModel.metadata.tables["klass"]
DORM = SQLModel.metadata.tables["dorm"]
PERSON = SQLModel.metadata.tables["person"]
ASSIGNMENT = SQLModel.metadata.tables["role_assignment"]
_CHUNK = 1000  # ids per IN (...) list: well under SQLite's and asyncpg's parameter limits

Unit = tuple[str, int | None, int | None, int | None]  # role, college_id, klass_id, dorm_id


@dataclass(frozen=True)
class Stored:
    """What the import needs to know of a person already on the roster."""

    id: int
    name: str
    college_id: int | None
    klass_id: int | None
    dorm_id: int | None
    phone: str | None
    code: str
    enrolment_year: int | None = None
    wecom_userid: str | None = None


@dataclass
class Units:
    """Name → id maps of the school's colleges, (college id, class name) and dorms."""

    colleges: dict[str, int]
    klasses: dict[tuple[int, str], int]
    dorms: dict[str, int]


async def load_people(conn: AsyncConnection, school_id: int) -> dict[str, Stored]:
    """Everyone on the school's roster, by external id."""
    result = await conn.execute(
        select(
            PERSON.c.external_id,
            PERSON.c.id,
            PERSON.c.name,
            PERSON.c.college_id,
            PERSON.c.klass_id,
            PERSON.c.dorm_id,
            PERSON.c.phone,
            PERSON.c.activation_code,
            PERSON.c.enrolment_year,
            PERSON.c.wecom_userid,
        ).where(PERSON.c.school_id == school_id)
    )
    return {r[0]: Stored(*r[1:9], wecom_userid=r[9]) for r in result.all()}


async def load_assignments(conn: AsyncConnection, school_id: int) -> dict[int, Counter[Unit]]:
    """Every role assignment in the school, as a multiset per person id."""
    result = await conn.execute(
        select(
            ASSIGNMENT.c.person_id,
            ASSIGNMENT.c.role,
            ASSIGNMENT.c.college_id,
            ASSIGNMENT.c.klass_id,
            ASSIGNMENT.c.dorm_id,
        )
        .join(PERSON, PERSON.c.id == ASSIGNMENT.c.person_id)
        .where(PERSON.c.school_id == school_id)
    )
    held: dict[int, Counter[Unit]] = {}
    for person_id, role, college_id, klass_id, dorm_id in result.all():
        held.setdefault(person_id, Counter())[(str(role), college_id, klass_id, dorm_id)] += 1
    return held


async def ensure_units(conn: AsyncConnection, school_id: int, rows: list[RosterRow]) -> Units:
    """Create the colleges, classes and dorms the rows name; return name → id maps."""
    colleges: dict[str, int] = await _ids(
        conn, select(COLLEGE.c.name, COLLEGE.c.id).where(COLLEGE.c.school_id == school_id)
    )
    new = sorted({r.college for r in rows if r.college} - colleges.keys())
    colleges |= await _ids(
        conn,
        insert(COLLEGE).returning(COLLEGE.c.name, COLLEGE.c.id),
        [{"school_id": school_id, "name": n} for n in new],
    )
    klasses: dict[tuple[int, str], int] = await _ids(
        conn,
        select(KLASS.c.college_id, KLASS.c.name, KLASS.c.id)
        .join(COLLEGE, COLLEGE.c.id == KLASS.c.college_id)
        .where(COLLEGE.c.school_id == school_id),
    )
    pairs = {(colleges[r.college], c) for r in rows if r.college for c in r.classes}
    klasses |= await _ids(
        conn,
        insert(KLASS).returning(KLASS.c.college_id, KLASS.c.name, KLASS.c.id),
        [{"college_id": c, "name": n} for c, n in sorted(pairs - klasses.keys())],
    )
    dorms: dict[str, int] = await _ids(
        conn, select(DORM.c.name, DORM.c.id).where(DORM.c.school_id == school_id)
    )
    new = sorted({r.dorm for r in rows if r.dorm} - dorms.keys())
    dorms |= await _ids(
        conn,
        insert(DORM).returning(DORM.c.name, DORM.c.id),
        [{"school_id": school_id, "name": n} for n in new],
    )
    return Units(colleges, klasses, dorms)


async def _ids(
    conn: AsyncConnection, stmt: Executable, params: list[dict[str, Any]] | None = None
) -> dict[Any, int]:
    """Run a query or bulk insert whose rows end in an id: key (or key tuple) → id."""
    if params == []:
        return {}
    # An INSERT ... RETURNING with many parameter sets is sent as multi-row VALUES batches
    # (SQLAlchemy's insertmanyvalues), far faster on asyncpg than a row-by-row executemany.
    rows = (await conn.execute(stmt, params)).all()
    return {(row[0] if len(row) == 2 else tuple(row[:-1])): row[-1] for row in rows}


def _assignments(row: RosterRow, units: Units) -> list[Unit]:
    """The role assignments a row asks for, each with the unit it serves."""
    college = units.colleges[row.college] if row.college else None
    klasses = [units.klasses[(college, c)] for c in row.classes] if college else []
    out: list[Unit] = []
    for role in row.roles:
        if role in (Role.student, Role.committee):
            out.append((role.value, college, klasses[0], None))
        elif role is Role.informant:
            out.append((role.value, None, None, units.dorms[row.dorm] if row.dorm else None))
        elif role is Role.class_advisor:
            out.extend((role.value, college, k, None) for k in klasses)
        elif role in COLLEGE_ROLES:
            out.append((role.value, college, None, None))
        else:
            out.append((role.value, None, None, None))
    return out


async def write_people(
    conn: AsyncConnection,
    school_id: int,
    rows: list[RosterRow],
    stored: dict[str, Stored],
    held: dict[int, Counter[Unit]],
    units: Units,
    columns: frozenset[str],
    now: datetime,
) -> tuple[int, int, int]:
    """Insert new people, update changed ones, replace changed role sets; return counts."""
    ring = ring_of(conn)
    inserts: list[dict[str, Any]] = []
    new_roles: dict[str, list[Unit]] = {}
    updates: list[dict[str, Any]] = []
    replace: dict[int, list[Unit]] = {}  # existing people whose role set changed
    updated = unchanged = 0
    for row in rows:
        old = stored.get(row.external_id)
        college = units.colleges[row.college] if row.college else None
        klass = units.klasses[(college, row.classes[0])] if row.is_member and college else None
        if row.is_member and "dorm" not in columns and old is not None:
            dorm = old.dorm_id
        else:
            dorm = units.dorms[row.dorm] if row.dorm else None
        phone = row.phone if "phone" in columns or old is None else old.phone
        year = row.enrolment_year if "year" in columns or old is None else old.enrolment_year
        wecom = row.wecom_userid if "wecom" in columns or old is None else old.wecom_userid
        wanted = _assignments(row, units)
        if old is None:
            # Codes are kept as keyed hashes; a generated one is never shown (nobody could
            # use it): `roster codes` issues the codes people receive.
            code = hash_code(ring, row.code or new_activation_code(set()))
            inserts.append(
                {
                    "school_id": school_id,
                    "external_id": row.external_id,
                    "name": row.name,
                    "college_id": college,
                    "klass_id": klass,
                    "dorm_id": dorm,
                    "phone": phone,
                    "enrolment_year": year,
                    "wecom_userid": wecom,
                    "activation_code": code,
                    "tier": "routine",
                    "active": True,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            new_roles[row.external_id] = wanted
            continue
        code = old.code
        if row.code and not same_code(given := hash_code(ring, row.code), old.code):
            code = given  # a code in the file replaces the old one (a re-import keeps it)
        fields = (row.name, college, klass, dorm, phone, code, year, wecom)
        before = (old.name, old.college_id, old.klass_id, old.dorm_id, old.phone, old.code,
                  old.enrolment_year, old.wecom_userid)
        same_roles = Counter(wanted) == held.get(old.id, Counter())
        if fields == before and same_roles:
            unchanged += 1
            continue
        updated += 1
        # A role change alone also touches the row, so updated_at says when the roster changed.
        keys = ("b_name", "b_college", "b_klass", "b_dorm", "b_phone", "b_code", "b_year",
                "b_wecom")
        updates.append({"b_id": old.id, "b_now": now, **dict(zip(keys, fields, strict=True))})
        if not same_roles:
            replace[old.id] = wanted
    if updates:
        await conn.execute(_UPDATE_PERSON, updates)
    for chunk in _chunks(list(replace)):
        await conn.execute(delete(ASSIGNMENT).where(ASSIGNMENT.c.person_id.in_(chunk)))
    if inserts:
        result = await conn.execute(
            insert(PERSON).returning(PERSON.c.external_id, PERSON.c.id), inserts
        )
        for external_id, person_id in result.all():
            replace[person_id] = new_roles[external_id]
    values = [
        {"person_id": pid, "role": r, "college_id": c, "klass_id": k, "dorm_id": d}
        for pid, wanted in replace.items()
        for r, c, k, d in wanted
    ]
    if values:
        # RETURNING (results unused) makes SQLAlchemy batch the rows as multi-row VALUES.
        await conn.execute(insert(ASSIGNMENT).returning(ASSIGNMENT.c.id), values)
    return len(inserts), updated, unchanged


_UPDATE_PERSON = (
    update(PERSON)
    .where(PERSON.c.id == bindparam("b_id"))
    .values(
        name=bindparam("b_name"),
        college_id=bindparam("b_college"),
        klass_id=bindparam("b_klass"),
        dorm_id=bindparam("b_dorm"),
        phone=bindparam("b_phone"),
        activation_code=bindparam("b_code"),
        enrolment_year=bindparam("b_year"),
        wecom_userid=bindparam("b_wecom"),
        updated_at=bindparam("b_now"),
    )
)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
