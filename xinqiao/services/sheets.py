"""Spreadsheets the service writes: text that a spreadsheet would run as a formula stays text.

A roster name such as ``=HYPERLINK("http://…"&E2,"点我")`` would otherwise become a live
formula in ``roster codes`` output (and could send the neighbouring activation code away when
the sheet is opened). Every .xlsx and .csv the project writes goes through this module: in
.xlsx such text is a string cell, in .csv it gets a leading apostrophe (what Excel itself
shows for text typed that way).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def risky(value: object) -> bool:
    """True for text a spreadsheet could read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def csv_value(value: object) -> object:
    """The value for a .csv cell: risky text gets a leading apostrophe."""
    return "'" + value if isinstance(value, str) and risky(value) else value


def write_csv(out: Path, header: Sequence[object], rows: Iterable[Sequence[object]]) -> None:
    """A UTF-8 .csv with a BOM (how Excel knows it is UTF-8), every cell made safe."""
    with out.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([csv_value(v) for v in header])
        writer.writerows([csv_value(v) for v in row] for row in rows)


def xlsx_row(sheet: Any, values: Iterable[object]) -> list[Any]:
    """Cells for ``sheet.append``: risky text is a string cell, never a formula."""
    cells: list[Any] = []
    for value in values:
        # append() places the cell; row/column here only keep openpyxl's repr working
        from openpyxl.cell.cell import Cell  # only when writing a sheet: slow to import

        cell = Cell(sheet, row=1, column=1, value=value)
        if risky(value):
            cell.data_type = "s"  # the value setter made "=…" a formula; keep it text
        cells.append(cell)
    return cells


def display_width(value: object) -> int:
    """Columns a value takes on screen: CJK and full-width characters count two."""
    text = f"{value:.0%}" if isinstance(value, float) else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def fit_columns(sheet: Any, first_row: int = 1, least: int = 8, most: int = 60) -> None:
    """Widen every column to its longest value from ``first_row`` on (a title row above is
    left out: it spans the columns), within ``least``..``most`` characters."""
    widths: dict[str, int] = {}
    for row in sheet.iter_rows(min_row=first_row):
        for cell in row:
            if cell.value is not None:
                letter = cell.column_letter
                widths[letter] = max(widths.get(letter, 0), display_width(cell.value))
    for letter, width in widths.items():
        sheet.column_dimensions[letter].width = max(least, min(most, width + 2))
