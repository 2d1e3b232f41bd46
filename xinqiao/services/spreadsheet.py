"""Reading a spreadsheet's rows (.xlsx, or .csv in UTF-8 or GBK) as clean text cells.

Shared by the roster, the duty rota and the counsellors' schedule files; no database here.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any


class RosterFileError(ValueError):
    """The file as a whole cannot be read: wrong type, no header, a required column missing."""


def table_rows(path: Path) -> Iterator[Sequence[Any]]:
    """The raw rows of a spreadsheet (.xlsx, or .csv in UTF-8 or GBK), header included."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _xlsx_rows(path)
    if suffix in (".csv", ".txt"):
        return _csv_rows(path)
    raise RosterFileError(f"unsupported file type {suffix!r}: save the file as .xlsx or .csv")


def _xlsx_rows(path: Path) -> Iterator[Sequence[Any]]:
    try:
        from openpyxl import load_workbook  # only for a spreadsheet: it is slow to import

        wb = load_workbook(path, read_only=True, data_only=True)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise RosterFileError(f"cannot open {path.name} as .xlsx: {exc}") from exc
    try:
        ws = wb.worksheets[0]
        # Files written by other tools may carry a wrong <dimension>; read what is there.
        ws.reset_dimensions()
        yield from ws.iter_rows(min_row=1, values_only=True)
    finally:
        wb.close()


def _csv_rows(path: Path) -> Iterator[Sequence[Any]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel in China saves "CSV" in the ANSI code page, GBK; GB18030 is its superset.
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError as exc:
            raise RosterFileError(f"{path.name} is neither UTF-8 nor GBK text") from exc
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    yield from csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def norm_header(value: str) -> str:
    """A header cell as compared: lower case, without spaces, ``_``, ``-`` or ``/``."""
    return re.sub(r"[\s_\-/／]", "", value).lower()


def cell_text(value: Any) -> str:
    """A cell as clean text: 2023001.0 typed as a number becomes ``"2023001"``."""
    if isinstance(value, str):
        # strip() takes the full-width space \u3000 too; a stray BOM or zero-width space not.
        return value.strip().strip("\ufeff\u200b").strip()
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()
