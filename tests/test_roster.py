"""Roster import, code export and the demo school, on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from tests.roster_files import EN_HEADER, ZH_HEADER, read_csv, read_xlsx, write_csv, write_xlsx
from xinqiao.clock import FakeClock
from xinqiao.services.code_hash import CodeState, check, is_hashed
from xinqiao.services.codes import CODE_ALPHABET, export_codes, new_activation_code
from xinqiao.services.demo import load_demo
from xinqiao.services.roster import ImportReport, RosterFileError, import_roster
from xinqiao.services.roster_file import ROLE_NAMES, parse_roles, parse_year
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    AuditEntry,
    ChannelIdentity,
    College,
    Dorm,
    Klass,
    Person,
    Role,
    RoleAssignment,
)

# id, name, roles, college, class, dorm, phone, code
INFO = "信息工程学院"
GOOD: list[list[Any]] = [
    ["S001", "李明", "student", "信息工程学院", "计算机2301", "1号楼101", "138 0013 8000", ""],
    ["S002", "王芳", "committee", "信息工程学院", "计算机2301", "1号楼101", "", ""],
    ["S003", "张伟", "student,informant", INFO, "计算机2301", "1号楼102", "", "ABCD2345"],
    ["S004", "赵丽", "", "经济管理学院", "会计2301", "2号楼201", "", ""],
    ["T001", "陈老师", "class_advisor", "信息工程学院", "计算机2301、软件2301", "", "", ""],
    ["T002", "周书记", "college_lead", "信息工程学院", "", "", "0571-88886666", ""],
    ["C001", "吴老师", "centre_staff", "", "", "", "", ""],
]


async def _people(db: Database) -> dict[str, Person]:
    async with db.session() as s:
        return {p.external_id: p for p in await s.exec(select(Person))}


async def _roles(db: Database, person_id: int | None) -> list[tuple[str, Any, Any, Any]]:
    async with db.session() as s:
        rows = await s.exec(select(RoleAssignment).where(RoleAssignment.person_id == person_id))
        return sorted(
            ((r.role, r.college_id, r.klass_id, r.dorm_id) for r in rows),
            key=lambda t: (t[0], t[1] or 0, t[2] or 0, t[3] or 0),
        )


Units = tuple[dict[str, int], dict[tuple[int, str], int], dict[str, int]]


async def _units(db: Database) -> Units:
    async with db.session() as s:
        colleges = {c.name: c.id for c in await s.exec(select(College)) if c.id}
        klasses = {(k.college_id, k.name): k.id for k in await s.exec(select(Klass)) if k.id}
        dorms = {d.name: d.id for d in await s.exec(select(Dorm)) if d.id}
    return colleges, klasses, dorms


async def _import(db: Database, path: Path, clock: FakeClock, **kw: Any) -> ImportReport:
    return await import_roster(db, path, now=clock.now(), **kw)


def _rows(header: Sequence[str], body: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    return [list(header), *body]


async def test_csv_english_headers_load_everyone_and_units(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "roster.csv", _rows(EN_HEADER, GOOD))
    report = await _import(db, path, clock)
    assert (report.created, report.updated, report.unchanged) == (7, 0, 0)
    assert report.errors == [] and report.warnings == []
    people = await _people(db)
    colleges, klasses, dorms = await _units(db)
    assert set(colleges) == {"信息工程学院", "经济管理学院"}
    info = colleges["信息工程学院"]
    cs, se = klasses[(info, "计算机2301")], klasses[(info, "软件2301")]
    assert len(klasses) == 3 and len(dorms) == 3
    s001 = people["S001"]
    assert (s001.college_id, s001.klass_id, s001.dorm_id) == (info, cs, dorms["1号楼101"])
    assert s001.phone == "13800138000" and s001.tier == "routine" and s001.active
    assert people["T002"].phone == "0571-88886666"
    # codes are stored as keyed hashes only; the file's code is the one that works
    assert check(db.keys, people["S003"].activation_code, "abcd 2345") is CodeState.fresh
    assert check(db.keys, people["S003"].activation_code, "ABCD2346") is None
    for p in people.values():
        assert is_hashed(p.activation_code)
    generated = new_activation_code(set())
    assert len(generated) == 8 and set(generated) <= set(CODE_ALPHABET)
    assert not set(generated) & set("0O1IL")
    # Role assignments carry the unit each role serves.
    assert await _roles(db, s001.id) == [("student", info, cs, None)]
    # a committee member is a student with an extra role
    assert await _roles(db, people["S002"].id) == [
        ("committee", info, cs, None), ("student", info, cs, None)]
    assert await _roles(db, people["S003"].id) == [
        ("informant", None, None, dorms["1号楼102"]),
        ("student", info, cs, None),
    ]
    econ = colleges["经济管理学院"]
    assert await _roles(db, people["S004"].id) == [
        ("student", econ, klasses[(econ, "会计2301")], None)
    ]
    assert await _roles(db, people["T001"].id) == [
        ("class_advisor", info, cs, None),
        ("class_advisor", info, se, None),
    ]
    t001 = people["T001"]
    assert (t001.college_id, t001.klass_id, t001.dorm_id) == (info, None, None)
    assert await _roles(db, people["T002"].id) == [("college_lead", info, None, None)]
    assert await _roles(db, people["C001"].id) == [("centre_staff", None, None, None)]
    assert people["C001"].college_id is None
    async with db.session() as s:
        entries = list(await s.exec(select(AuditEntry)))
    assert [e.action for e in entries] == ["roster.import"]
    assert entries[0].detail["created"] == 7 and entries[0].detail["file"] == "roster.csv"


async def test_xlsx_chinese_headers_numbers_and_chinese_roles(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    header = [" 学号 ", "姓名", "角色", "学院", "班级", "宿舍", "手机", "备注"]
    body: list[list[Any]] = [
        [2023001, "李明", "学生", "信息工程学院", 2301, "101", 13800138000, "x"],
        [2023002.0, "王芳", "班级心理委员、宿舍心理信息员", "信息工程学院", 2301, 101, None, None],
        ["T9", "陈老师", "辅导员；学院心理辅导员", "信息工程学院", "2301;2302", None, None, None],
        [None, None, None, None, None, None, None, None],  # blank rows are skipped
        ["C1", "吴老师", "心理中心主任，咨询师", None, None, None, None, None],
    ]
    path = write_xlsx(tmp_path / "名单.xlsx", _rows(header, body))
    report = await _import(db, path, clock)
    assert report.errors == []
    assert report.warnings == ["unknown column '备注' ignored"]
    assert report.created == 4
    people = await _people(db)
    assert set(people) == {"2023001", "2023002", "T9", "C1"}
    assert people["2023001"].phone == "13800138000"
    _, klasses, dorms = await _units(db)
    assert sorted(name for _, name in klasses) == ["2301", "2302"]
    assert set(dorms) == {"101"}
    assert [r[0] for r in await _roles(db, people["2023002"].id)] == [
        "committee", "informant", "student"]
    assert [r[0] for r in await _roles(db, people["T9"].id)] == [
        "class_advisor",
        "class_advisor",
        "college_counsellor",
    ]
    assert [r[0] for r in await _roles(db, people["C1"].id)] == ["centre_lead", "centre_staff"]


@pytest.mark.parametrize(
    ("cell", "roles"),
    [
        ("", ("student",)),
        ("学生", ("student",)),
        ("心理委员 / 班级心理委员", ("student", "committee")),
        ("宿舍信息员;宿舍心理信息员；心理信息员", ("student", "informant")),
        ("辅导员,班主任", ("class_advisor",)),
        ("学院负责人，副书记、学院心理工作负责人", ("college_lead",)),
        ("心理辅导员 学院心理辅导员", ("college_counsellor",)),
        ("专职心理教师、心理中心老师、咨询师", ("centre_staff",)),
        ("中心主任、心理中心主任", ("centre_lead",)),
        ("Student, COMMITTEE", ("student", "committee")),
    ],
)
def test_role_cell_spellings(cell: str, roles: tuple[str, ...]) -> None:
    assert parse_roles(cell) == tuple(Role(r) for r in roles)
    assert set(ROLE_NAMES.values()) == set(Role)


async def test_gbk_csv_is_read(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gbk.csv", _rows(ZH_HEADER, GOOD[:2]), encoding="gbk")
    report = await _import(db, path, clock)
    assert report.errors == [] and report.created == 2
    assert (await _people(db))["S001"].name == "李明"


async def test_same_class_name_in_two_colleges_is_two_classes(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    body = [
        ["A1", "甲", "", "信息工程学院", "2301班", "", "", ""],
        ["A2", "乙", "", "经济管理学院", "2301班", "", "", ""],
    ]
    await _import(db, write_csv(tmp_path / "r.csv", _rows(EN_HEADER, body)), clock)
    people = await _people(db)
    assert people["A1"].klass_id != people["A2"].klass_id
    _, klasses, _ = await _units(db)
    assert len(klasses) == 2


BAD: list[tuple[list[Any], str]] = [
    (["", "无号", "", "信息工程学院", "计算机2301", "", "", ""], "missing id"),
    (["B02", "", "", "信息工程学院", "计算机2301", "", "", ""], "missing name"),
    (["B03", "甲", "janitor", "信息工程学院", "计算机2301", "", "", ""], "unknown role 'janitor'"),
    (["B04", "乙", "student", "信息工程学院", "", "", "", ""], "student needs college and class"),
    (["B05", "丙", "committee", "", "计算机2301", "", "", ""], "committee needs college"),
    (["B06", "丁", "informant", "信息工程学院", "计算机2301", "", "", ""], "informant needs dorm"),
    (["B07", "戊", "informant", "", "", "1号楼101", "", ""], "informant needs college and class"),
    (["B08", "己", "class_advisor", "信息工程学院", "", "", "", ""], "class_advisor needs"),
    (["B09", "庚", "college_lead", "", "", "", "", ""], "college roles need college"),
    (["B10", "辛", "college_counsellor", "", "", "", "", ""], "college roles need college"),
    (["B11", "壬", "", "信息工程学院", "计算机2301", "", "12345", ""], "malformed phone"),
    (["S001", "重复", "", "信息工程学院", "计算机2301", "", "", ""], "duplicate id S001"),
    (["B13", "癸", "", "信息工程学院", "计算机2301", "", "", "AB!"], "activation code"),
    (["B14", "子", "", "信息工程学院", "计算机2301", "", "", "abcd2345"], "duplicate activation"),
    (["B15", "丑", "student,centre_staff", "信息工程学院", "计算机2301", "", "", ""], "mix"),
    (["B16", "寅", "", "信息工程学院", "计算机2301、软件2301", "", "", ""], "exactly one class"),
    (["2.02301E+11", "卯", "", "信息工程学院", "计算机2301", "", "", ""], "scientific notation"),
]


async def test_bad_rows_are_reported_with_row_numbers_and_good_rows_load(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    body = [*GOOD, *(row for row, _ in BAD)]
    path = write_csv(tmp_path / "bad.csv", _rows(EN_HEADER, body))
    report = await _import(db, path, clock)
    assert report.created == len(GOOD)
    assert [row for row, _ in report.errors] == list(range(len(GOOD) + 2, len(body) + 2))
    for (row, message), (_, expected) in zip(report.errors, BAD, strict=True):
        assert expected in message, (row, message)
    assert set(await _people(db)) == {row[0] for row in GOOD}


async def test_strict_loads_nothing_when_any_row_is_bad(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    body = [*GOOD, BAD[0][0]]
    path = write_csv(tmp_path / "bad.csv", _rows(EN_HEADER, body))
    report = await _import(db, path, clock, strict=True)
    assert report.errors == [(len(body) + 1, "missing id")]
    assert (report.created, report.updated, report.unchanged) == (0, 0, 0)
    assert await _people(db) == {}
    colleges, _, _ = await _units(db)
    assert colleges == {}


async def test_file_level_problems_raise(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    with pytest.raises(RosterFileError, match="required column"):
        await _import(db, write_csv(tmp_path / "a.csv", [["姓名", "学院"], ["甲", "x"]]), clock)
    with pytest.raises(RosterFileError, match="empty"):
        await _import(db, write_csv(tmp_path / "b.csv", []), clock)
    (tmp_path / "c.xls").write_bytes(b"old")
    with pytest.raises(RosterFileError, match="xlsx"):
        await _import(db, tmp_path / "c.xls", clock)
    (tmp_path / "d.xlsx").write_bytes(b"not a zip")
    with pytest.raises(RosterFileError, match="cannot open"):
        await _import(db, tmp_path / "d.xlsx", clock)


async def test_reimport_updates_in_place_and_keeps_codes(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await _import(db, write_csv(tmp_path / "one.csv", _rows(EN_HEADER, GOOD)), clock)
    before = await _people(db)
    changed = [list(r) for r in GOOD]
    changed[0][1] = "李明明"  # name change
    changed[1][4] = "软件2301"  # class move (committee moves with her class)
    changed[3][2] = "committee"  # role change
    changed[2][7] = "NEWC0DE9"  # a new code replaces the old one
    changed = [r for r in changed if r[0] != "C001"]  # absent people are left alone
    clock.advance(days=1)
    report = await _import(db, write_csv(tmp_path / "two.csv", _rows(EN_HEADER, changed)), clock)
    assert (report.created, report.updated, report.unchanged) == (0, 4, 2)
    after = await _people(db)
    assert set(after) == set(before)
    assert after["S001"].name == "李明明" and after["S001"].id == before["S001"].id
    assert after["S001"].updated_at == clock.now()
    assert after["T001"].updated_at == before["T001"].updated_at
    colleges, klasses, _ = await _units(db)
    se = klasses[(colleges["信息工程学院"], "软件2301")]
    assert after["S002"].klass_id == se
    info = colleges["信息工程学院"]
    assert await _roles(db, after["S002"].id) == [
        ("committee", info, se, None), ("student", info, se, None)]
    assert [r[0] for r in await _roles(db, after["S004"].id)] == ["committee", "student"]
    assert check(db.keys, after["S003"].activation_code, "NEWC0DE9") is CodeState.fresh
    for ext in ("S001", "S002", "S004", "T001", "C001"):
        assert after[ext].activation_code == before[ext].activation_code
    assert await _roles(db, after["C001"].id) == [("centre_staff", None, None, None)]
    async with db.session() as s:
        count = len(list(await s.exec(select(RoleAssignment))))
    # 7 people; S002, S003 and S004 are students with a network role, the advisor has two classes
    assert count == 11
    again = await _import(db, write_csv(tmp_path / "two.csv", _rows(EN_HEADER, changed)), clock)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)


async def test_missing_optional_columns_keep_stored_values(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await _import(db, write_csv(tmp_path / "one.csv", _rows(EN_HEADER, GOOD[:1])), clock)
    slim = [["学号", "姓名", "学院", "班级"], ["S001", "李明", "信息工程学院", "计算机2301"]]
    report = await _import(db, write_csv(tmp_path / "slim.csv", slim), clock)
    assert report.unchanged == 1
    s001 = (await _people(db))["S001"]
    assert s001.phone == "13800138000" and s001.dorm_id is not None


async def test_code_taken_by_someone_else_is_an_error(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await _import(db, write_csv(tmp_path / "one.csv", _rows(EN_HEADER, GOOD)), clock)
    body = [["S999", "新人", "", "信息工程学院", "计算机2301", "", "", "ABCD2345"]]
    report = await _import(db, write_csv(tmp_path / "two.csv", _rows(EN_HEADER, body)), clock)
    assert report.errors == [(2, "activation code already used by another person")]
    assert "S999" not in await _people(db)


async def _bind(db: Database, clock: FakeClock, external_id: str) -> None:
    async with db.session() as s:
        person = (await s.exec(select(Person).where(Person.external_id == external_id))).one()
        s.add(
            ChannelIdentity(
                channel="console",
                address=f"addr-{external_id}",
                person_id=person.id,
                bound_at=clock.now(),
                created_at=clock.now(),
            )
        )
        s.add(ChannelIdentity(channel="console", address="stranger", created_at=clock.now()))


async def test_codes_export_xlsx_groups_by_college_and_class(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await _import(db, write_csv(tmp_path / "r.csv", _rows(EN_HEADER, GOOD)), clock)
    await _bind(db, clock, "S002")
    people = await _people(db)
    count = await export_codes(db, tmp_path / "codes.xlsx", now=clock.now(), actor_person_id=None)
    assert count == 7
    sheets = read_xlsx(tmp_path / "codes.xlsx")
    assert list(sheets) == ["信息工程学院", "经济管理学院", "心理健康教育中心"]
    header = ["学院", "班级", "学号/工号", "姓名", "激活码", "绑定状态"]
    info = sheets["信息工程学院"]
    assert info[0] == header
    assert [r[1:4] for r in info[1:]] == [
        ["计算机2301", "S001", "李明"],
        ["计算机2301", "S002", "王芳"],
        ["计算机2301", "S003", "张伟"],
        ["教职工", "T001", "陈老师"],
        ["教职工", "T002", "周书记"],
    ]
    # the bound get no code; the unbound a fresh one (only its hash is kept)
    assert info[2] == ["信息工程学院", "计算机2301", "S002", "王芳", "", "已绑定"]
    assert info[1][5] == "未绑定" and info[1][4] != people["S001"].activation_code
    after = await _people(db)
    assert check(db.keys, after["S001"].activation_code, info[1][4]) is CodeState.fresh
    assert sheets["心理健康教育中心"][1][2:4] == ["C001", "吴老师"]
    async with db.session() as s:
        actions = [e.action for e in await s.exec(select(AuditEntry).order_by(col(AuditEntry.id)))]
    assert actions == ["roster.import", "roster.codes_export"]


async def test_codes_export_csv_for_one_college(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await _import(db, write_csv(tmp_path / "r.csv", _rows(EN_HEADER, GOOD)), clock)
    await _bind(db, clock, "S004")
    out = tmp_path / "codes.csv"
    count = await export_codes(db, out, now=clock.now(), college="经济管理学院")
    assert count == 1
    assert out.read_bytes().startswith("\ufeff".encode())
    assert read_csv(out) == [
        ["学院", "班级", "学号/工号", "姓名", "激活码", "绑定状态"],
        ["经济管理学院", "会计2301", "S004", "赵丽", "", "已绑定"],
    ]
    with pytest.raises(ValueError, match="no college"):
        await export_codes(db, out, now=clock.now(), college="不存在学院")


async def test_demo_loads_and_is_idempotent(db: Database, clock: FakeClock) -> None:
    first = await load_demo(db, clock.now())
    assert first.errors == [] and first.created == 41
    second = await load_demo(db, clock.now())
    assert (second.created, second.updated, second.unchanged) == (0, 0, 41)
    people = await _people(db)
    assert len(people) == 41
    assert check(db.keys, people["S2023001"].activation_code, "DEMO0101") is CodeState.fresh
    assert check(db.keys, people["T2001"].activation_code, "DEMO2001") is CodeState.fresh
    colleges, klasses, dorms = await _units(db)
    assert len(colleges) == 2 and len(klasses) == 4 and len(dorms) == 8
    async with db.session() as s:
        roles = [r.role for r in await s.exec(select(RoleAssignment))]
    assert roles.count(Role.committee) == 4
    assert roles.count(Role.informant) == 8
    assert roles.count(Role.class_advisor) == 4
    assert roles.count(Role.college_lead) == roles.count(Role.college_counsellor) == 2
    assert roles.count(Role.centre_staff) == 2 and roles.count(Role.centre_lead) == 1


@pytest.mark.parametrize(("cell", "year"), [
    ("2026", 2026), ("2026级", 2026), ("26级", 2026), ("2023 级", 2023), ("2025届", 2025),
    ("", None),
])
def test_enrolment_year_spellings(cell: str, year: int | None) -> None:
    assert parse_year(cell) == year


async def test_enrolment_year_is_stored_checked_and_kept_when_the_column_is_absent(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    header = ["学号", "姓名", "角色", "学院", "班级", "年级"]
    report = await _import(db, write_csv(tmp_path / "a.csv", _rows(header, [
        ["S1", "新生", "学生", "文学院", "汉语言2601", "2026级"],
        ["S2", "老生", "心理委员", "文学院", "汉语言2401", "2024"],
        ["S3", "写错", "学生", "文学院", "汉语言2401", "二四级"],
        ["T1", "老师", "辅导员", "文学院", "汉语言2401", "2010"],
    ])), clock)
    assert report.errors == [
        (4, "malformed enrolment year '二四级': write it like 2026 or 2026级")]
    people = await _people(db)
    assert (people["S1"].enrolment_year, people["S2"].enrolment_year) == (2026, 2024)
    assert people["T1"].enrolment_year is None  # staff have no cohort
    # A later file without the column (say, a dorm update) keeps the stored years.
    await _import(db, write_csv(tmp_path / "b.csv", _rows(header[:5], [
        ["S1", "新生", "学生", "文学院", "汉语言2601"]])), clock)
    assert (await _people(db))["S1"].enrolment_year == 2026
