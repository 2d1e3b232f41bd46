"""Reading a roster file (xlsx or csv) into validated rows; no database here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# RosterFileError is re-exported: the roster's importers catch it from here.
from xinqiao.services.spreadsheet import RosterFileError as RosterFileError
from xinqiao.services.spreadsheet import cell_text, norm_header, table_rows
from xinqiao.storage.models import Role

# Header spellings, compared after norm_header (lower case, no spaces, _, -, /).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "id": ("id", "学号工号", "学号", "工号", "学工号"),
    "name": ("name", "姓名"),
    "roles": ("roles", "role", "角色"),
    "college": ("college", "学院"),
    "class": ("class", "klass", "班级"),
    "dorm": ("dorm", "宿舍", "寝室"),
    "phone": ("phone", "手机", "手机号", "电话"),
    "year": ("enrolmentyear", "enrollmentyear", "year", "grade", "年级", "入学年份", "入学年级"),
    "activation_code": ("activationcode", "code", "激活码"),
    "wecom": ("wecomuserid", "wecom", "企业微信账号", "企业微信", "企业微信userid"),
}
REQUIRED_COLUMNS = ("id", "name")

# What a school may type in the roles cell besides the role code itself (matched exactly, the
# English codes in any case). 辅导员 is a class advisor; 心理辅导员 a college counsellor.
ROLE_ALIASES: dict[Role, tuple[str, ...]] = {
    Role.student: ("学生",),
    Role.committee: ("心理委员", "班级心理委员"),
    Role.informant: ("宿舍信息员", "宿舍心理信息员", "心理信息员"),
    Role.class_advisor: ("辅导员", "班主任"),
    Role.college_lead: ("学院负责人", "副书记", "学院心理工作负责人"),
    Role.college_counsellor: ("心理辅导员", "学院心理辅导员"),
    Role.centre_staff: ("专职心理教师", "心理中心老师", "咨询师"),
    Role.centre_lead: ("中心主任", "心理中心主任"),
}
ROLE_NAMES: dict[str, Role] = {
    name: role for role, aliases in ROLE_ALIASES.items() for name in (role.value, *aliases)
}
MEMBER_ROLES = frozenset({Role.student, Role.committee, Role.informant})
COLLEGE_ROLES = frozenset({Role.college_lead, Role.college_counsellor})

_ROLE_SPLIT = re.compile(r"[,，、;；/\s]+")
_UNIT_SPLIT = re.compile(r"[,，、;；]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")
_CODE = re.compile(r"[A-Z0-9]{6,16}")
# Excel shows a long numeric id as 2.02301E+11 and saves it so in CSV: the digits are lost.
# 2026, 2026级, 2026年, 26级: the year a student enrolled.
_YEAR = re.compile(r"(\d{4}|\d{2})\s*(级|年|届)?")
_SCIENTIFIC = re.compile(r"\d(\.\d+)?[eE]\+\d+")
_MAX_LEN = {"id": 64, "name": 100, "college": 200, "class": 200, "dorm": 100, "wecom": 64}


@dataclass(frozen=True)
class RosterRow:
    """One valid spreadsheet row, cleaned; ``classes`` has one entry for members."""

    row: int
    external_id: str
    name: str
    roles: tuple[Role, ...]
    college: str | None
    classes: tuple[str, ...]
    dorm: str | None
    phone: str | None
    code: str | None
    enrolment_year: int | None = None
    wecom_userid: str | None = None  # staff only: bound on WeCom without a code

    @property
    def is_member(self) -> bool:
        """True for students, committee members and informants (they belong to a class)."""
        return any(r in MEMBER_ROLES for r in self.roles)


@dataclass
class ParsedRoster:
    """Everything read from a file: good rows, bad rows, warnings, which columns it had."""

    rows: list[RosterRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    columns: frozenset[str] = frozenset()


def read_roster(path: Path) -> ParsedRoster:
    """Read and validate ``path`` (.xlsx or .csv); row numbers are the spreadsheet's."""
    return parse_rows(table_rows(path))


def _header_map(header: Sequence[Any]) -> tuple[dict[str, list[int]], list[str]]:
    lookup = {alias: key for key, aliases in HEADER_ALIASES.items() for alias in aliases}
    columns: dict[str, list[int]] = {}
    unknown: list[str] = []
    for index, raw in enumerate(header):
        text = cell_text(raw)
        if not text:
            continue
        key = lookup.get(norm_header(text))
        if key is None:
            unknown.append(text)
        else:
            columns.setdefault(key, []).append(index)
    return columns, unknown


def parse_rows(rows: Iterable[Sequence[Any]]) -> ParsedRoster:
    """Validate raw rows whose first non-empty row is the header."""
    result = ParsedRoster()
    columns: dict[str, list[int]] | None = None
    seen_ids: dict[str, int] = {}
    seen_codes: dict[str, int] = {}
    for number, raw in enumerate(rows, start=1):
        cells = [cell_text(v) for v in raw]
        if not any(cells):
            continue
        if columns is None:
            columns, unknown = _header_map(cells)
            missing = [c for c in REQUIRED_COLUMNS if c not in columns]
            if missing:
                raise RosterFileError(
                    f"row {number}: header lacks required column(s): {', '.join(missing)}"
                )
            result.columns = frozenset(columns)
            result.warnings.extend(f"unknown column {name!r} ignored" for name in unknown)
            continue
        values = {key: _first(cells, idx) for key, idx in columns.items()}
        try:
            row = _validate(number, values)
            if row.external_id in seen_ids:
                raise ValueError(
                    f"duplicate id {row.external_id} (first on row {seen_ids[row.external_id]})"
                )
            if row.code is not None and row.code in seen_codes:
                raise ValueError(
                    f"duplicate activation code (first on row {seen_codes[row.code]})"
                )
        except ValueError as exc:
            result.errors.append((number, str(exc)))
            continue
        seen_ids[row.external_id] = number
        if row.code is not None:
            seen_codes[row.code] = number
        result.rows.append(row)
    if columns is None:
        raise RosterFileError("the file is empty: no header row")
    return result


def _first(cells: list[str], indexes: list[int]) -> str:
    # A sheet may have both a 学号 and a 工号 column: take whichever this row filled in.
    for i in indexes:
        if i < len(cells) and cells[i]:
            return cells[i]
    return ""


def parse_roles(cell: str) -> tuple[Role, ...]:
    """Roles named in one cell, in order, without repeats; empty means student.

    A committee member or dorm informant is a student with an extra role: ``student`` is added
    in front when the cell names only the network role.
    """
    roles: list[Role] = []
    for token in _ROLE_SPLIT.split(cell):
        if not token:
            continue
        role = ROLE_NAMES.get(token.lower())
        if role is None:
            raise ValueError(f"unknown role {token!r}")
        if role not in roles:
            roles.append(role)
    if Role.student not in roles and {Role.committee, Role.informant} & set(roles):
        roles.insert(0, Role.student)
    return tuple(roles) or (Role.student,)


def normalise_phone(cell: str) -> str | None:
    """A mobile (11 digits, +86 dropped) or landline (0571-88886666); None when blank."""
    if not cell:
        return None
    if _MOBILE.fullmatch(cell):
        return cell
    compact = re.sub(r"[\s()（）]", "", cell)
    compact = re.sub(r"^(\+?86)(?=1\d{10}$)", "", compact)
    if _MOBILE.fullmatch(compact):
        return compact
    if _LANDLINE.fullmatch(compact):
        return compact
    raise ValueError(f"malformed phone {cell!r}")


def parse_year(cell: str) -> int | None:
    """The enrolment year a cell names (``2026``, ``2026级``, ``26级``); None when blank."""
    if not cell:
        return None
    match = _YEAR.fullmatch(cell)
    if match is None or (len(match.group(1)) == 2 and not match.group(2)):
        raise ValueError(f"malformed enrolment year {cell!r}: write it like 2026 or 2026级")
    year = int(match.group(1))
    year = year + 2000 if year < 100 else year
    if not 1990 <= year <= 2100:
        raise ValueError(f"enrolment year {year} is out of range")
    return year


def _validate(number: int, values: dict[str, str]) -> RosterRow:
    external_id, name = values.get("id", ""), values.get("name", "")
    if not external_id:
        raise ValueError("missing id")
    if not name:
        raise ValueError("missing name")
    if _SCIENTIFIC.fullmatch(external_id):
        raise ValueError(
            f"id {external_id} is in scientific notation: format the id column as text and re-save"
        )
    for key, limit in _MAX_LEN.items():
        if len(values.get(key, "")) > limit:
            raise ValueError(f"{key} longer than {limit} characters")
    roles = parse_roles(values.get("roles", ""))
    college = values.get("college") or None
    klass, dorm = values.get("class", ""), values.get("dorm") or None
    member = any(r in MEMBER_ROLES for r in roles)
    staff = [r for r in roles if r not in MEMBER_ROLES]
    if member and staff:
        # One row has one class cell: a student's own class cannot also be the classes served.
        raise ValueError("a row cannot mix student roles with staff roles; use two ids")
    classes = tuple(c.strip() for c in _UNIT_SPLIT.split(klass) if c.strip())
    if member:
        if not college or not classes:
            named = next((r for r in roles if r is not Role.student), Role.student)
            raise ValueError(f"{named.value} needs college and class")
        if len(classes) > 1:
            raise ValueError("a student belongs to exactly one class")
        if Role.informant in roles and not dorm:
            raise ValueError("informant needs dorm")
    else:
        dorm = None
        if Role.class_advisor in roles and (not college or not classes):
            raise ValueError("class_advisor needs college and class")
        if Role.class_advisor not in roles:
            classes = ()
        if COLLEGE_ROLES.intersection(roles) and not college:
            raise ValueError("college roles need college")
        if not (Role.class_advisor in roles or COLLEGE_ROLES.intersection(roles)):
            college = None
    wecom = values.get("wecom") or None
    if wecom and member:
        raise ValueError("企业微信账号 is for staff rows only (students use the Official Account)")
    code = values.get("activation_code", "").replace(" ", "").upper() or None
    if code is not None and not _CODE.fullmatch(code):
        raise ValueError("activation code must be 6-16 letters or digits")
    return RosterRow(
        row=number,
        external_id=external_id,
        name=name,
        roles=roles,
        college=college,
        classes=classes,
        dorm=dorm,
        phone=normalise_phone(values.get("phone", "")),
        code=code,
        # Only members have a cohort; a staff row's cell is ignored.
        enrolment_year=parse_year(values.get("year", "")) if member else None,
        wecom_userid=wecom,
    )
