"""Working time on the official Chinese calendar: office hours, weekends, holidays and 调休."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import chinese_calendar
import chinese_calendar.constants

from xinqiao.clock import SHANGHAI

log = logging.getLogger(__name__)

DEFAULT_HOURS: tuple[tuple[time, time], ...] = (
    (time(8, 0), time(12, 0)),
    (time(14, 0), time(18, 0)),
)
# A calendar with no workday in a whole year is misconfigured; stop instead of looping forever.
_MAX_IDLE_DAYS = 366
_warned_years: set[int] = set()


def chinese_workday(day: date) -> bool:
    """True on an official Chinese workday: make-up workdays count, public holidays do not."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The package only knows the years the State Council has published; outside them the
        # best guess is Monday to Friday. Say so once per year so an operator upgrades it.
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning(
                "chinesecalendar has no data for %d; treating Monday-Friday as workdays "
                "(upgrade the chinesecalendar package)",
                day.year,
            )
        return day.isoweekday() <= 5


@lru_cache(maxsize=4096)
def holiday_name(day: date) -> str | None:
    """The official holiday ``day`` belongs to (its days off and its make-up workdays), if any."""
    try:
        _, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return None
    return str(name) if name else None


@lru_cache(maxsize=1024)
def makeup_replaces(day: date) -> date | None:
    """For a make-up workday (调休上班) on a weekend, the weekday off it pays back.

    The State Council moves weekdays next to a holiday into it (in-lieu days) and pays them back
    on weekends; pairing the holiday's make-up days with its in-lieu days in date order tells
    which weekday each weekend workday stands in for (2026-09-20, a Sunday, pays back Tuesday
    2026-10-06). None when ``day`` is no such day or the data does not pair up.
    """
    name = holiday_name(day)
    if name is None or day.isoweekday() <= 5 or not chinese_workday(day):
        return None
    around = [day + timedelta(days=i) for i in range(-40, 41)]
    try:
        makeups = [d for d in around if d.isoweekday() > 5 and holiday_name(d) == name
                   and chinese_calendar.is_workday(d)]
        in_lieu = [d for d in around if chinese_calendar.is_in_lieu(d) and holiday_name(d) == name]
    except NotImplementedError:
        return None
    if len(makeups) != len(in_lieu):
        return None
    return in_lieu[makeups.index(day)]


# The last year the installed package publishes; later years need a centre's [calendar.YYYY].
PACKAGE_LAST_YEAR: int = max(chinese_calendar.constants.holidays).year


@dataclass(frozen=True)
class YearDays:
    """One year's official days off and make-up workdays (调休上班), as a centre declares them."""

    holidays: frozenset[date]
    workdays: frozenset[date]


def check_year(year: int, holidays: Sequence[date], workdays: Sequence[date]) -> YearDays:
    """A declared year that makes sense, else ValueError saying what does not.

    Every date lies in that year and is named once; a make-up workday falls on a weekend (a
    weekday is a workday already); holidays are listed, at least one on a weekday (a year with
    none, or only weekend ones, declares nothing and is almost certainly a slip).
    """
    if not 2000 <= year <= 2100:
        raise ValueError(f"{year}: not a plausible year")
    for label, days in (("holidays", holidays), ("workdays", workdays)):
        if stray := sorted(d for d in days if d.year != year):
            raise ValueError(f"{label}: {stray[0]} is not in {year}")
        if repeated := sorted(d for d in set(days) if list(days).count(d) > 1):
            raise ValueError(f"{label}: {repeated[0]} is listed twice")
    if both := sorted(set(holidays) & set(workdays)):
        raise ValueError(f"{both[0]} is both a holiday and a make-up workday")
    if weekday := sorted(d for d in workdays if d.isoweekday() <= 5):
        raise ValueError(f"workdays: {weekday[0]} is a weekday already; list only the "
                         "weekend days worked to make up for a holiday")
    if not holidays:
        raise ValueError("holidays: none listed; a declared year replaces the Monday-Friday "
                         "guess, so copy every official day off from the State Council's "
                         "notice for the year (and the weekend days worked under workdays)")
    if all(d.isoweekday() > 5 for d in holidays):
        raise ValueError("holidays: every day listed is a weekend; list the official days off")
    return YearDays(frozenset(holidays), frozenset(workdays))


class OfficialDays:
    """The official calendar: the package's years, and the years a centre declares past them
    (a declared year replaces the package's own for that year)."""

    __slots__ = ("_declared",)

    def __init__(self, declared: Mapping[int, YearDays] | None = None) -> None:
        self._declared = dict(declared or {})

    def is_workday(self, day: date) -> bool:
        """True on an official workday: make-up workdays count, public holidays do not."""
        year = self._declared.get(day.year)
        if year is None:
            return chinese_workday(day)
        return day in year.workdays or (day.isoweekday() <= 5 and day not in year.holidays)

    def is_holiday(self, day: date) -> bool:
        """True on an official day off for a public holiday (not an ordinary weekend)."""
        year = self._declared.get(day.year)
        if year is None:
            return not chinese_workday(day) and holiday_name(day) is not None
        return day in year.holidays

    def known_until(self) -> date:
        """The last day of the last year known without a gap (package, then declared years)."""
        last = PACKAGE_LAST_YEAR
        while last + 1 in self._declared:
            last += 1
        return date(last, 12, 31)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"an aware datetime is required, got naive {at!r}")
    return at


def _span(a: time, b: time) -> timedelta:
    return datetime.combine(date.min, b) - datetime.combine(date.min, a)


class WorkingCalendar:
    """Office hours (Asia/Shanghai wall time) on workdays; everything else is off."""

    __slots__ = ("_day_total", "_hours", "_official", "_workday")

    def __init__(
        self,
        hours: Sequence[tuple[time, time]] = DEFAULT_HOURS,
        workday: Callable[[date], bool] | None = None,
        official: OfficialDays | None = None,
    ) -> None:
        spans = tuple(hours)
        if not spans:
            raise ValueError("working hours must name at least one period")
        for i, (a, b) in enumerate(spans):
            if a.tzinfo is not None or b.tzinfo is not None:
                raise ValueError("working hours are local wall times without tzinfo")
            if not a < b:
                raise ValueError(f"working period {a:%H:%M}-{b:%H:%M} must end after it starts")
            if i and a < spans[i - 1][1]:
                raise ValueError(f"working period {a:%H:%M}-{b:%H:%M} overlaps or is out of order")
        self._hours = spans
        self._official = official or OfficialDays()
        self._workday = workday or self._official.is_workday
        self._day_total = sum((_span(a, b) for a, b in spans), timedelta())

    @property
    def hours(self) -> tuple[tuple[time, time], ...]:
        """The daily working periods, local wall time, in order."""
        return self._hours

    @property
    def day_total(self) -> timedelta:
        """Working time in one full workday."""
        return self._day_total

    def is_workday(self, d: date) -> bool:
        """True when ``d`` is a workday on this calendar."""
        return self._workday(d)

    def is_holiday(self, d: date) -> bool:
        """True when ``d`` is an official public holiday (a day off that is no plain weekend)."""
        return self._official.is_holiday(d)

    @property
    def known_until(self) -> date:
        """The last day the official calendar is known; later days fall back to Monday–Friday."""
        return self._official.known_until()

    def is_working_time(self, at: datetime) -> bool:
        """True when ``at`` (aware) falls inside a working period of a workday."""
        loc = _aware(at).astimezone(SHANGHAI)
        if not self._workday(loc.date()):
            return False
        t = loc.time().replace(tzinfo=None)
        return any(a <= t < b for a, b in self._hours)

    def next_working_start(self, at: datetime) -> datetime:
        """``at`` itself if it is working time, else the start of the next working period (UTC)."""
        return self.add_working(at, timedelta())

    def add_working(self, start: datetime, delta: timedelta) -> datetime:
        """The UTC moment when ``delta`` of working time has elapsed after ``start``."""
        if delta < timedelta():
            raise ValueError(f"working time to add must not be negative, got {delta}")
        loc = _aware(start).astimezone(SHANGHAI).replace(tzinfo=None)
        day = loc.date()
        cursor: time | None = loc.time()  # None: from the start of the day
        remaining = delta
        idle = 0
        while True:
            if self._workday(day):
                idle = 0
                if cursor is None and remaining > self._day_total:
                    # A whole workday fits inside what is left: skip it in one step.
                    remaining -= self._day_total
                else:
                    for a, b in self._hours:
                        begin = a if cursor is None else max(a, cursor)
                        if begin >= b:
                            continue
                        avail = _span(begin, b)
                        if remaining <= avail:
                            end = datetime.combine(day, begin) + remaining
                            return end.replace(tzinfo=SHANGHAI).astimezone(UTC)
                        remaining -= avail
            else:
                idle += 1
                if idle > _MAX_IDLE_DAYS:
                    raise ValueError(f"no workday in the {_MAX_IDLE_DAYS} days before {day}")
            day += timedelta(days=1)
            cursor = None
