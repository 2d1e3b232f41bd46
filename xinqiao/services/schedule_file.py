"""Reading a semester's duty schedule (xlsx or csv) into validated rows; no database here.

One row per counsellor and weekly window. Headers in Chinese or English:
工号 (id), 姓名 (name), 星期 (weekday: 周一 / 星期三 / 1 / Mon, several as 周一、周三),
开始 / 结束 (start, end: 14:00), 时长 (session minutes), 休息 (break minutes), 地点 (place),
方式 (线下 / 线上 / 均可), 性别 (男 / 女), 生效日期 / 截止日期 (valid from / until: 2026-09-07).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

from xinqiao.policy.values import parse_hhmm
from xinqiao.services.spreadsheet import RosterFileError, cell_text, norm_header, table_rows
from xinqiao.storage.booking import Mode

HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("id", "工号", "职工号", "学号工号"),
    "name": ("name", "姓名"),
    "weekday": ("weekday", "星期", "周几"),
    "start": ("start", "开始", "开始时间"),
    "end": ("end", "结束", "结束时间"),
    "minutes": ("minutes", "session", "时长", "每次时长"),
    "break": ("break", "休息", "间隔"),
    "place": ("place", "地点", "咨询室"),
    "mode": ("mode", "方式", "咨询方式"),
    "gender": ("gender", "性别"),
    "from": ("from", "validfrom", "生效日期", "开始日期"),
    "until": ("until", "validuntil", "截止日期", "结束日期"),
}
REQUIRED = ("id", "weekday", "start", "end")
_WEEKDAY_NAMES = {**{c: i for i, c in enumerate("一二三四五六日", 1)}, "天": 7,
                  **{n: i for i, n in enumerate(("mon", "tue", "wed", "thu", "fri", "sat",
                                                 "sun"), 1)}}
_SPLIT = re.compile(r"[,，、;；/\s]+")
MODES = {"线下": Mode.offline, "面谈": Mode.offline, "offline": Mode.offline,
         "线上": Mode.online, "online": Mode.online, "均可": Mode.both,
         "线上线下": Mode.both, "线下线上": Mode.both, "both": Mode.both}
GENDERS = {"女": "female", "female": "female", "f": "female", "男": "male", "male": "male",
           "m": "male"}


@dataclass(frozen=True)
class ScheduleRow:
    """One valid row: a weekly window (possibly on several weekdays) of one counsellor."""

    row: int
    external_id: str
    name: str
    weekdays: tuple[int, ...]
    start: time
    end: time
    minutes: int | None
    brk: int | None
    place: str | None
    mode: Mode | None
    gender: str | None
    valid_from: date | None
    valid_until: date | None


@dataclass
class ParsedSchedule:
    """Good rows and row-numbered errors."""

    rows: list[ScheduleRow] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    error_ids: dict[int, str] = field(default_factory=dict)  # bad row → the 工号 it names


def read_schedule(path: Path) -> ParsedSchedule:
    """Read and validate ``path``; row numbers are the spreadsheet's."""
    return parse_schedule(table_rows(path))


def parse_schedule(rows: Iterable[Sequence[Any]]) -> ParsedSchedule:
    """Validate raw rows whose first non-empty row is the header."""
    result = ParsedSchedule()
    columns: dict[str, int] | None = None
    for number, raw in enumerate(rows, start=1):
        if not any(cell_text(v) for v in raw):
            continue
        if columns is None:
            columns = _header(number, raw)
            continue
        values = {key: raw[i] if i < len(raw) else None for key, i in columns.items()}
        try:
            result.rows.append(_row(number, values))
        except ValueError as exc:
            result.errors.append((number, str(exc)))
            result.error_ids[number] = cell_text(values.get("id"))
    if columns is None:
        raise RosterFileError("the file is empty: no header row")
    return result


def _header(number: int, raw: Sequence[Any]) -> dict[str, int]:
    lookup = {alias: key for key, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, cell in enumerate(raw):
        key = lookup.get(norm_header(cell_text(cell)))
        if key is not None and key not in columns:
            columns[key] = index
    missing = [HEADERS[c][1] for c in REQUIRED if c not in columns]
    if missing:
        raise RosterFileError(f"row {number}: header lacks required column(s): "
                              f"{', '.join(missing)}")
    return columns


def parse_weekdays(text: str) -> tuple[int, ...]:
    """周一、周三 / 星期五 / 1,3 / Mon → ISO weekdays, in order, no repeats."""
    days: list[int] = []
    for token in _SPLIT.split(text.strip().lower()):
        name = token.removeprefix("星期").removeprefix("周").removeprefix("礼拜")
        day = int(name) if name.isdecimal() else _WEEKDAY_NAMES.get(name[:3] if name.isascii()
                                                                      else name)
        if day is None or not 1 <= day <= 7:
            raise ValueError(f"unknown weekday {token!r}")
        if day not in days:
            days.append(day)
    if not days:
        raise ValueError("missing weekday")
    return tuple(days)


def _time(value: Any, what: str) -> time:
    if isinstance(value, datetime):
        return value.time().replace(second=0, microsecond=0)
    if isinstance(value, time):
        return value.replace(second=0, microsecond=0)
    if isinstance(value, float) and 0 <= value < 1:  # Excel stores a time as a day fraction
        minutes = round(value * 24 * 60)
        return time(minutes // 60, minutes % 60)
    text = cell_text(value).replace("：", ":")
    if re.fullmatch(r"\d:\d\d", text):
        text = "0" + text
    try:
        return parse_hhmm(text[:5] if re.fullmatch(r"\d\d:\d\d:\d\d", text) else text)
    except ValueError:
        raise ValueError(f"{what} {cell_text(value)!r} is not a time like 14:00") from None


def _date(value: Any, what: str) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value).replace("/", "-").replace(".", "-")
    if not text:
        return None
    try:
        y, m, d = (int(x) for x in text.split("-"))
        return date(y, m, d)
    except ValueError:
        raise ValueError(f"{what} {cell_text(value)!r} is not a date like 2026-09-07") from None


def _minutes(value: Any, what: str, low: int, high: int) -> int | None:
    text = cell_text(value).removesuffix("分钟").removesuffix("min").strip()
    if not text:
        return None
    if not text.isdecimal() or not low <= int(text) <= high:
        raise ValueError(f"{what} {cell_text(value)!r} must be minutes from {low} to {high}")
    return int(text)


def _row(number: int, v: dict[str, Any]) -> ScheduleRow:
    external_id = cell_text(v.get("id"))
    if not external_id:
        raise ValueError("missing 工号")
    start, end = _time(v.get("start"), "开始"), _time(v.get("end"), "结束")
    if not start < end:
        raise ValueError(f"结束 {end:%H:%M} must be after 开始 {start:%H:%M}")
    mode_text, gender_text = cell_text(v.get("mode")).lower(), cell_text(v.get("gender")).lower()
    if mode_text and mode_text not in MODES:
        raise ValueError(f"方式 {mode_text!r}: write 线下, 线上 or 均可")
    if gender_text and gender_text not in GENDERS:
        raise ValueError(f"性别 {gender_text!r}: write 男 or 女")
    valid_from, valid_until = _date(v.get("from"), "生效日期"), _date(v.get("until"), "截止日期")
    if valid_from and valid_until and valid_until < valid_from:
        raise ValueError(f"截止日期 {valid_until} is before 生效日期 {valid_from}")
    minutes = _minutes(v.get("minutes"), "时长", 15, 180)
    if minutes is not None and start.hour * 60 + start.minute + minutes > end.hour * 60 + \
            end.minute:
        raise ValueError(f"时长 {minutes} does not fit between {start:%H:%M} and {end:%H:%M}")
    return ScheduleRow(
        row=number, external_id=external_id, name=cell_text(v.get("name")),
        weekdays=parse_weekdays(cell_text(v.get("weekday"))), start=start, end=end,
        minutes=minutes, brk=_minutes(v.get("break"), "休息", 0, 120),
        place=cell_text(v.get("place"))[:100] or None,
        mode=MODES[mode_text] if mode_text else None,
        gender=GENDERS[gender_text] if gender_text else None,
        valid_from=valid_from, valid_until=valid_until)
