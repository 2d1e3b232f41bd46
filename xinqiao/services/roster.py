"""Roster import: a school's spreadsheet of people becomes the four-level network.

One row per person (columns and role names: ``roster_file``). Re-importing updates people in
place by (school, id) and replaces their role assignments with the file's. People missing from
the file are left as they are: a partial file for one college is normal, so absence never means
"delete" (deactivating people is a separate, deliberate action). An activation code is kept
unless the file gives a new one. When the file has no ``dorm``, ``phone`` or enrolment-year
(``年级``) column at all, the stored values are kept; when it has the column, its cell (even
blank) is the truth.

Role assignments carry the unit they serve: student, committee and class_advisor a college and
a class (an advisor one assignment per class), informant the dorm, college roles the college,
centre roles nothing. A person's own college/class/dorm are set for students; staff get only
their college (the one their class or college role names; centre staff none).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.code_hash import hash_code, is_hashed, ring_of
from xinqiao.services.roster_file import ParsedRoster, RosterFileError, RosterRow, read_roster
from xinqiao.services.roster_store import (
    SCHOOL,
    Stored,
    ensure_units,
    load_assignments,
    load_people,
    write_people,
)
from xinqiao.services.wecom_people import sync_roster
from xinqiao.storage.crypto import KeyRing
from xinqiao.storage.db import Database

__all__ = ["ImportReport", "RosterFileError", "RosterPreview", "import_parsed", "import_roster",
           "preview_parsed"]


@dataclass(frozen=True)
class ImportReport:
    """What an import did: counts of people, bad rows (row number, reason) and warnings."""

    created: int
    updated: int
    unchanged: int
    errors: list[tuple[int, str]]
    warnings: list[str]

    @property
    def ok(self) -> bool:
        """True when every row was good."""
        return not self.errors


async def import_roster(
    db: Database,
    path: Path,
    *,
    now: datetime,
    strict: bool = False,
    school_code: str = "default",
    school_name: str = "本校",
    actor_person_id: int | None = None,
    wecom: bool = False,
) -> ImportReport:
    """Load ``path`` into the school's roster in one transaction; bad rows are reported."""
    # Reading 30,000 xlsx rows takes seconds: do it off the event loop so the bot keeps answering.
    parsed = await asyncio.to_thread(read_roster, path)
    if strict and parsed.errors:
        return ImportReport(0, 0, 0, sorted(parsed.errors), parsed.warnings)
    async with db.session() as session:
        return await import_parsed(session, parsed, now=now, strict=strict,
                                   school_code=school_code, school_name=school_name,
                                   actor_person_id=actor_person_id, file_name=path.name,
                                   wecom=wecom)


async def import_parsed(
    session: AsyncSession,
    parsed: ParsedRoster,
    *,
    now: datetime,
    file_name: str,
    strict: bool = False,
    school_code: str = "default",
    school_name: str = "本校",
    actor_person_id: int | None = None,
    wecom: bool = False,
) -> ImportReport:
    """Write a parsed roster in the caller's transaction (the CLI's and the console's import).

    ``wecom``: the WeCom app is configured, so roster userids are bound on WeCom now.
    """
    errors = list(parsed.errors)
    if strict and errors:
        return ImportReport(0, 0, 0, sorted(errors), parsed.warnings)
    # Bulk statements go straight to the session's connection: same transaction, no ORM.
    conn = await session.connection()
    # Locking the school row makes a second import of the same school wait for this one
    # instead of racing it into duplicate-key errors (SQLite's BEGIN IMMEDIATE does the same).
    school_id = await conn.scalar(
        select(SCHOOL.c.id).where(SCHOOL.c.code == school_code).with_for_update()
    )
    stored = await load_people(conn, school_id) if school_id is not None else {}
    rows = _one_wecom_each(_check_codes(ring_of(conn), parsed.rows, stored, errors), errors)
    errors.sort()
    if strict and errors:
        return ImportReport(0, 0, 0, errors, parsed.warnings)
    if school_id is None:
        created_school = await conn.execute(
            insert(SCHOOL).values(code=school_code, name=school_name).returning(SCHOOL.c.id)
        )
        school_id = int(created_school.scalar_one())
    units = await ensure_units(conn, school_id, rows)
    held = await load_assignments(conn, school_id)
    created, updated, unchanged = await write_people(
        conn, school_id, rows, stored, held, units, parsed.columns, now
    )
    if wecom and "wecom" in parsed.columns:
        await sync_roster(session, school_id, now)
    await audit.record(
        session,
        at=now,
        action="roster.import",
        actor_person_id=actor_person_id,
        school=school_code,
        file=file_name,
        created=created,
        updated=updated,
        unchanged=unchanged,
        errors=len(errors),
        strict=strict,
    )
    return ImportReport(created, updated, unchanged, errors, parsed.warnings)


@dataclass(frozen=True)
class RosterPreview:
    """What importing a parsed file would do, found without writing: new and known people,
    bad rows (row number, reason, activation-code clashes included) and warnings."""

    new: int
    known: int
    errors: list[tuple[int, str]]
    warnings: list[str]


async def preview_parsed(session: AsyncSession, parsed: ParsedRoster,
                         school_code: str = "default") -> RosterPreview:
    """The rows an import would take and the ones it would refuse; nothing is written."""
    errors = list(parsed.errors)
    conn = await session.connection()
    school_id = await conn.scalar(select(SCHOOL.c.id).where(SCHOOL.c.code == school_code))
    stored = await load_people(conn, school_id) if school_id is not None else {}
    rows = _check_codes(ring_of(conn), parsed.rows, stored, errors)
    known = sum(1 for row in rows if row.external_id in stored)
    return RosterPreview(len(rows) - known, known, sorted(errors), parsed.warnings)


def _check_codes(
    ring: KeyRing, rows: list[RosterRow], stored: dict[str, Stored],
    errors: list[tuple[int, str]],
) -> list[RosterRow]:
    """Drop (as errors) rows whose given code already belongs to someone else."""
    # Stored codes are keyed hashes: compare hashes, whatever state (fresh, spent) they are in.
    owner = {p.code[1:]: ext for ext, p in stored.items() if is_hashed(p.code)}
    good: list[RosterRow] = []
    for row in rows:
        holder = owner.get(hash_code(ring, row.code)[1:]) if row.code else None
        if holder is not None and holder != row.external_id:
            errors.append((row.row, "activation code already used by another person"))
        else:
            good.append(row)
    return good


def _one_wecom_each(rows: list[RosterRow], errors: list[tuple[int, str]]) -> list[RosterRow]:
    """Drop (as errors) rows giving a WeCom userid an earlier row of the file already gave."""
    seen: set[str] = set()
    good: list[RosterRow] = []
    for row in rows:
        if row.wecom_userid and row.wecom_userid in seen:
            errors.append((row.row, "企业微信账号 already given to another person"))
            continue
        if row.wecom_userid:
            seen.add(row.wecom_userid)
        good.append(row)
    return good
