"""Activation codes: how they are made, and the per-class sheets that hand them out."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import SQLModel

import xinqiao.storage.models  # noqa: F401  # registers the tables read below
from xinqiao.services import audit
from xinqiao.services.code_hash import hash_code, ring_of
from xinqiao.services.sheets import write_csv, xlsx_row
from xinqiao.storage.db import Database

# No 0/O, 1/I/L: codes are read off paper and typed on a phone.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 8

HEADERS = ("学院", "班级", "学号/工号", "姓名", "激活码", "绑定状态")
CENTRE_GROUP = "心理健康教育中心"  # people with no college: the centre's staff
STAFF_GROUP = "教职工"  # in the class column, for a college's staff (they serve, not belong)
_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")
SCHOOL = SQLModel.metadata.tables["school"]
COLLEGE = SQLModel.metadata.tables["college"]
KLASS = SQLModel.metadata.tables["klass"]
PERSON = SQLModel.metadata.tables["person"]
IDENTITY = SQLModel.metadata.tables["channel_identity"]


def new_activation_code(taken: set[str]) -> str:
    """A fresh random code not in ``taken`` (the caller adds it)."""
    base = len(CODE_ALPHABET)
    while True:
        # One draw per code, spelled in base 31: uniform, and 8x fewer calls than per letter.
        n = secrets.randbelow(base**CODE_LENGTH)
        letters = []
        for _ in range(CODE_LENGTH):
            n, digit = divmod(n, base)
            letters.append(CODE_ALPHABET[digit])
        code = "".join(letters)
        if code not in taken:
            return code


@dataclass(frozen=True)
class CodeLine:
    """One line of the distribution sheet."""

    college: str
    klass: str
    external_id: str
    name: str
    code: str
    bound: bool

    def cells(self) -> tuple[str, str, str, str, str, str]:
        """The line as the sheet's cells, in HEADERS order."""
        status = "已绑定" if self.bound else "未绑定"
        return (self.college, self.klass, self.external_id, self.name, self.code, status)


async def export_codes(
    db: Database,
    out: Path,
    *,
    now: datetime,
    actor_person_id: int | None = None,
    school_code: str = "default",
    college: str | None = None,
) -> int:
    """Write active people's codes grouped by college and class (.xlsx or .csv); return count."""
    suffix = out.suffix.lower()
    if suffix not in (".xlsx", ".csv"):
        raise ValueError(f"unsupported export type {suffix!r}: use .xlsx or .csv")
    async with db.session() as session:
        lines = await _code_lines(await session.connection(), school_code, college)
        issued = sum(1 for line in lines if line.code)
        # Logged before the file exists: a failed write leaves an extra entry, never a gap.
        await audit.record(
            session,
            at=now,
            action="roster.codes_export",
            actor_person_id=actor_person_id,
            school=school_code,
            college=college,
            file=out.name,
            count=len(lines),
            issued=issued,
        )
    # Written after the transaction (SQLite holds its write lock until commit) and off the
    # event loop: 30,000 rows of xlsx take seconds.
    await asyncio.to_thread(_write_csv if suffix == ".csv" else _write_xlsx, out, lines)
    return len(lines)


async def _code_lines(
    conn: AsyncConnection, school_code: str, college: str | None
) -> list[CodeLine]:
    """Every active person of the school (or one college) with binding, sorted.

    Only keyed hashes of codes are stored, so a sheet cannot repeat a code: everyone not yet
    bound gets a fresh code here (which replaces their old one), the bound get none.
    """
    school_id = await conn.scalar(select(SCHOOL.c.id).where(SCHOOL.c.code == school_code))
    if school_id is None:
        raise ValueError(f"no school {school_code!r}")
    result = await conn.execute(
        select(COLLEGE.c.id, COLLEGE.c.name).where(COLLEGE.c.school_id == school_id)
    )
    colleges: dict[int, str] = {id_: name for id_, name in result.all()}
    query = select(
        PERSON.c.id,
        PERSON.c.external_id,
        PERSON.c.name,
        PERSON.c.college_id,
        PERSON.c.klass_id,
    ).where(PERSON.c.school_id == school_id, PERSON.c.active.is_(True))
    if college is not None:
        matches = [cid for cid, name in colleges.items() if name == college]
        if not matches:
            raise ValueError(f"no college {college!r}")
        query = query.where(PERSON.c.college_id == matches[0])
    result = await conn.execute(
        select(KLASS.c.id, KLASS.c.name).where(KLASS.c.college_id.in_(list(colleges)))
    )
    klasses: dict[int, str] = {id_: name for id_, name in result.all()}
    bound_query = (
        select(IDENTITY.c.person_id)
        .join(PERSON, PERSON.c.id == IDENTITY.c.person_id)
        .where(PERSON.c.school_id == school_id)
        .distinct()
    )
    bound = set((await conn.execute(bound_query)).scalars().all())
    ring, lines, fresh = ring_of(conn), [], []
    for pid, ext, name, cid, kid in (await conn.execute(query)).all():
        code = "" if pid in bound else new_activation_code(set())
        if code:
            fresh.append({"b_id": pid, "b_code": hash_code(ring, code)})
        lines.append(CodeLine(
            college=colleges[cid] if cid is not None else CENTRE_GROUP,
            klass=klasses[kid] if kid is not None else STAFF_GROUP,
            external_id=ext, name=name, code=code, bound=pid in bound))
    for start in range(0, len(fresh), 1000):
        await conn.execute(_SET_CODE, fresh[start:start + 1000])
    return sorted(lines, key=_order)


_SET_CODE = update(PERSON).where(PERSON.c.id == bindparam("b_id")).values(
    activation_code=bindparam("b_code"))


def _order(line: CodeLine) -> tuple[bool, str, bool, str, str]:
    # Colleges by name, the centre last; in a college its classes first, its staff after.
    return (
        line.college == CENTRE_GROUP,
        line.college,
        line.klass == STAFF_GROUP,
        line.klass,
        line.external_id,
    )


def _write_csv(out: Path, lines: Iterable[CodeLine]) -> None:
    write_csv(out, HEADERS, (line.cells() for line in lines))


def _write_xlsx(out: Path, lines: list[CodeLine]) -> None:
    """One sheet per college (the centre has its own), so each college gets its own tab."""
    from openpyxl import Workbook  # only when writing a sheet: slow to import

    wb = Workbook(write_only=True)
    sheets: dict[str, Any] = {}  # openpyxl ships no types
    used: set[str] = set()
    for line in lines:
        ws = sheets.get(line.college)
        if ws is None:
            ws = wb.create_sheet(_sheet_title(line.college, used))
            ws.append(xlsx_row(ws, HEADERS))
            sheets[line.college] = ws
        ws.append(xlsx_row(ws, line.cells()))
    if not sheets:
        wb.create_sheet("激活码").append(list(HEADERS))
    wb.save(out)


def _sheet_title(name: str, used: set[str]) -> str:
    # Excel limits titles to 31 characters without []:*?/\ and they must be unique.
    base = _SHEET_BAD.sub("_", name)[:31] or "Sheet"
    title, n = base, 1
    while title in used:
        n += 1
        suffix = f"~{n}"
        title = base[: 31 - len(suffix)] + suffix
    used.add(title)
    return title
