"""Helpers that write roster spreadsheets for the tests (and read exports back)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

EN_HEADER = ["id", "name", "roles", "college", "class", "dorm", "phone", "activation_code"]
ZH_HEADER = ["学号/工号", "姓名", "角色", "学院", "班级", "宿舍", "手机", "激活码"]

Row = Sequence[Any]


def write_csv(path: Path, rows: Sequence[Row], *, encoding: str = "utf-8-sig") -> Path:
    """Write ``rows`` (header first) as CSV in ``encoding``; return the path."""
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_xlsx(path: Path, rows: Sequence[Row]) -> Path:
    """Write ``rows`` (header first) to the first sheet, keeping numbers as numbers."""
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(list(row))
    wb.save(path)
    return path


def read_xlsx(path: Path) -> dict[str, list[list[str]]]:
    """Every sheet of a workbook as rows of text, by sheet title."""
    wb = load_workbook(path, read_only=True)
    try:
        return {
            ws.title: [
                ["" if v is None else str(v) for v in values]
                for values in ws.iter_rows(values_only=True)
            ]
            for ws in wb.worksheets
        }
    finally:
        wb.close()


def read_csv(path: Path) -> list[list[str]]:
    """A UTF-8 (with BOM) CSV as rows of text."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))
