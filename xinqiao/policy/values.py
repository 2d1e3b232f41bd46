"""How the policy file writes its values: durations, local times, working periods and dates."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta

_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
_HHMM = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


def parse_duration(value: object) -> timedelta:
    """Parse "60m", "8h", "1d" or a combination such as "1h30m"."""
    if isinstance(value, timedelta):
        return value
    m = _DURATION.fullmatch(value.strip()) if isinstance(value, str) else None
    if not isinstance(value, str) or m is None or not any(m.groups()):
        raise ValueError(f"{value!r} is not a duration; write e.g. '60m', '8h', '1d' or '1h30m'")
    days, hours, minutes = (int(g or 0) for g in m.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def format_duration(value: timedelta) -> str:
    """Write a duration as ``parse_duration`` reads it, in hours and whole minutes ("1h30m")."""
    # Never days: "1d" is refused on a working-hours level, and snapshots must read back.
    hours, minutes = divmod(int(value.total_seconds() // 60), 60)
    text = f"{hours}h" if hours else ""
    return text + (f"{minutes}m" if minutes or not text else "")


def parse_hhmm(value: object) -> time:
    """Parse a local wall time written "HH:MM"."""
    if isinstance(value, time) and value.tzinfo is None:
        return value
    m = _HHMM.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"{value!r} is not a local time; write HH:MM, e.g. '17:00'")
    return time(int(m[1]), int(m[2]))


def parse_hours(value: object) -> tuple[time, time]:
    """Parse a local working period written "HH:MM-HH:MM"."""
    if isinstance(value, str) and value.count("-") == 1:
        a, b = (parse_hhmm(part) for part in value.split("-"))
        if a < b:
            return a, b
        raise ValueError(f"{value!r}: the range must end after it starts")
    raise ValueError(f"{value!r} is not a time range; write 'HH:MM-HH:MM', e.g. '08:00-12:00'")


def parse_date(value: object) -> date:
    """Parse a date written "YYYY-MM-DD" (a TOML date is taken as is)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        if isinstance(value, str):
            return date.fromisoformat(value.strip())
    except ValueError:
        pass
    raise ValueError(f"{value!r} is not a date; write YYYY-MM-DD")


def parse_days(value: object) -> tuple[date, ...]:
    """Dates written "YYYY-MM-DD" or as a range "YYYY-MM-DD..YYYY-MM-DD" (both ends included)."""
    if not isinstance(value, list | tuple):
        raise ValueError('write a list of dates, e.g. ["2027-01-01", "2027-02-06..2027-02-12"]')
    days: list[date] = []
    for item in value:
        if isinstance(item, str) and ".." in item:
            first, last = (parse_date(part) for part in item.split("..", 1))
            if last < first:
                raise ValueError(f"{item!r}: the range must end on or after it starts")
            days += [first + timedelta(days=i) for i in range((last - first).days + 1)]
        else:
            days.append(parse_date(item))
    return tuple(days)
