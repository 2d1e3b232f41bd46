"""Benchmark: import a 30,000-person roster (xlsx and csv) on SQLite and PostgreSQL.

Run ``.venv/bin/python bench/roster_import.py``; set XINQIAO_TEST_POSTGRES_URL (a server where the
user may create databases) to include PostgreSQL. Prints seconds and rows/s for a first import
(everyone new), an unchanged re-import, and a re-import where 10% of people changed.
"""

from __future__ import annotations

import asyncio
import csv
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from xinqiao.services.codes import export_codes
from xinqiao.services.roster import import_roster
from xinqiao.services.roster_file import read_roster
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade

HEADER = ["学号/工号", "姓名", "角色", "学院", "班级", "宿舍", "手机", "激活码"]
ROWS = 30_000
COLLEGES, CLASSES_PER_COLLEGE, DORM_SIZE = 20, 40, 5
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉宇轩浩然思远欣怡子涵梓萱"


class People:
    """Invented names and phones from a seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def name(self) -> str:
        """A random two- or three-character name."""
        given = self.rng.choices(GIVEN, k=self.rng.choice((1, 2)))
        return self.rng.choice(SURNAMES) + "".join(given)

    def phone(self) -> str:
        """Half the people leave the phone blank."""
        if self.rng.random() < 0.5:
            return ""
        return f"1{self.rng.choice('3589')}{self.rng.randrange(10**9):09d}"

    def staff(self, ext: str, role: str, college: str = "", classes: str = "") -> list[str]:
        """One staff row."""
        return [ext, self.name(), role, college, classes, "", self.phone(), ""]


def roster(rng: random.Random) -> list[list[str]]:
    """A realistic school: 20 colleges, 800 classes, ~6,000 dorms, staff, 30,000 rows."""
    gen = People(rng)
    staff: list[list[str]] = []
    for c in range(1, COLLEGES + 1):
        college = f"第{c:02d}学院"
        classes = [f"{college[1:3]}{y}{k:02d}班" for y in (22, 23, 24, 25) for k in range(1, 11)]
        for a in range(0, len(classes), 4):  # one advisor per four classes
            served = "、".join(classes[a : a + 4])
            staff.append(gen.staff(f"T{c:02d}{a:03d}", "辅导员", college, served))
        staff.append(gen.staff(f"L{c:02d}", "副书记", college))
        staff += [gen.staff(f"P{c:02d}{n}", "心理辅导员", college) for n in (1, 2)]
    staff += [gen.staff(f"Z{n:02d}", "专职心理教师") for n in range(15)]
    staff.append(gen.staff("Z99", "中心主任"))
    students = ROWS - len(staff)
    per_class = students / (COLLEGES * CLASSES_PER_COLLEGE)
    rows: list[list[str]] = []
    for i in range(students):
        k = int(i / per_class)
        college, klass = f"第{k // CLASSES_PER_COLLEGE + 1:02d}学院", k % CLASSES_PER_COLLEGE
        klass_name = f"{college[1:3]}{22 + klass // 10}{klass % 10 + 1:02d}班"
        seat = i - int(k * per_class) if k else i
        roles = ["学生"]
        if seat == 0:
            roles.append("心理委员")
        if seat % DORM_SIZE == 1:
            roles.append("宿舍信息员")
        dorm = f"{k % 50 + 1}号楼{k:03d}{seat // DORM_SIZE:02d}"
        ext, roles_cell = f"2{i:08d}", "、".join(roles)
        rows.append([ext, gen.name(), roles_cell, college, klass_name, dorm, gen.phone(), ""])
    return [HEADER, *rows, *staff]


def changed(rows: list[list[str]], rng: random.Random) -> list[list[str]]:
    """10% of people changed: names, class moves within the college, role changes."""
    out = [list(r) for r in rows]
    for r in rng.sample(range(1, len(out)), len(out) // 10):
        row = out[r]
        kind = r % 3
        if kind == 0:
            row[1] += "新"
        elif kind == 1 and row[2].startswith("学生"):
            row[4] = row[4][:-3] + "10班"
        elif row[2].startswith("学生"):
            row[2] = "学生" if "、" in row[2] else "学生、宿舍信息员"
        else:
            row[6] = ""
    return out


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    """Write rows with the id column as numbers where it is numeric, as a school's would be."""
    # Not write_only: like Excel, the normal writer puts <dimension> first, which read_only
    # mode needs to avoid an extra pass over the sheet.
    wb = Workbook()
    ws = wb.active
    for n, row in enumerate(rows):
        ws.append([int(row[0]) if n and row[0].isdigit() else row[0], *row[1:]])
    wb.save(path)


def write_csv(path: Path, rows: list[list[str]]) -> None:
    """Write rows as Excel-in-China CSV (GBK) to exercise the fallback decoder."""
    with path.open("w", encoding="gb18030", newline="") as fh:
        csv.writer(fh).writerows(rows)


async def timed(label: str, db: Database, path: Path, now: datetime) -> None:
    """Run one import and print its time and rate."""
    start = time.perf_counter()
    report = await import_roster(db, path, now=now)
    seconds = time.perf_counter() - start
    total = report.created + report.updated + report.unchanged
    assert not report.errors, report.errors[:5]
    print(
        f"  {label:<28} {seconds:6.2f} s  {total / seconds:8.0f} rows/s   "
        f"created {report.created}, updated {report.updated}, unchanged {report.unchanged}"
    )


async def run_backend(label: str, url: str, files: dict[str, Path]) -> None:
    """Fresh migrated database: first import, unchanged re-import, 10%-changed re-import."""
    db = Database(url)
    await upgrade(db)
    now = datetime.now(UTC)
    print(label)
    try:
        steps = [
            ("import xlsx (all new)", "xlsx"),
            ("re-import csv (unchanged)", "csv"),
            ("re-import xlsx (10% changed)", "changed"),
        ]
        for title, key in steps:
            await timed(title, db, files[key], now)
        start = time.perf_counter()
        count = await export_codes(db, files["xlsx"].with_name("codes.xlsx"), now=now)
        seconds = time.perf_counter() - start
        print(f"  {'export codes xlsx':<28} {seconds:6.2f} s  ({count} people)")
    finally:
        await db.dispose()


async def main() -> None:
    """Generate the files, time parsing, then import on each backend."""
    rng = random.Random(20260907)
    rows = roster(rng)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        files = {"xlsx": d / "roster.xlsx", "csv": d / "roster.csv", "changed": d / "changed.xlsx"}
        write_xlsx(files["xlsx"], rows)
        write_csv(files["csv"], rows)
        write_xlsx(files["changed"], changed(rows, rng))
        print(f"roster: {len(rows) - 1} rows")
        for kind in ("xlsx", "csv"):
            start = time.perf_counter()
            parsed = read_roster(files[kind])
            assert not parsed.errors, parsed.errors[:5]
            print(f"  parse {kind:<22} {time.perf_counter() - start:6.2f} s (no database)")
        await run_backend("sqlite", f"sqlite+aiosqlite:///{d / 'bench.db'}", files)
        pg = os.environ.get("XINQIAO_TEST_POSTGRES_URL", "")
        if pg:
            name = f"xq_bench_{uuid.uuid4().hex[:10]}"
            admin = create_async_engine(pg, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                await run_backend("postgresql", pg.rsplit("/", 1)[0] + "/" + name, files)
            finally:
                async with admin.connect() as conn:
                    await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
