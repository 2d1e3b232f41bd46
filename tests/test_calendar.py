"""Working time on the official Chinese calendar; expected values are worked out by hand."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from functools import cache

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xinqiao.clock import SHANGHAI
from xinqiao.policy import calendar as calendar_module
from xinqiao.policy.calendar import WorkingCalendar
from xinqiao.policy.values import format_duration, parse_duration, parse_hhmm, parse_hours

CAL = WorkingCalendar()
H = timedelta(hours=1)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock moment."""
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def u(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A UTC moment (Shanghai is UTC+8 all year)."""
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def test_official_workdays_2026() -> None:
    assert CAL.is_workday(date(2026, 9, 8))  # Tuesday
    assert not CAL.is_workday(date(2026, 9, 12))  # Saturday
    assert not CAL.is_workday(date(2026, 9, 25))  # Friday, Mid-autumn
    assert not CAL.is_workday(date(2026, 10, 1))  # Thursday, National Day
    assert not CAL.is_workday(date(2026, 10, 7))
    assert CAL.is_workday(date(2026, 10, 8))
    assert CAL.is_workday(date(2026, 9, 20))  # Sunday, make-up workday
    assert CAL.is_workday(date(2026, 10, 10))  # Saturday, make-up workday
    # The package agrees, so the make-up tests below test what they claim.
    assert chinese_calendar.is_workday(date(2026, 10, 10))


def test_working_time_on_an_ordinary_day() -> None:
    day = (2026, 9, 8)  # Tuesday
    assert not CAL.is_working_time(sh(*day, 7, 59))
    assert CAL.is_working_time(sh(*day, 8, 0))
    assert CAL.is_working_time(sh(*day, 11, 59))
    assert not CAL.is_working_time(sh(*day, 12, 0))  # lunch
    assert not CAL.is_working_time(sh(*day, 13, 30))
    assert CAL.is_working_time(sh(*day, 14, 0))
    assert CAL.is_working_time(sh(*day, 17, 59))
    assert not CAL.is_working_time(sh(*day, 18, 0))
    assert CAL.is_working_time(u(2026, 9, 8, 1, 0))  # 09:00 in Shanghai
    assert not CAL.is_working_time(u(2026, 9, 8, 11, 0))  # 19:00 in Shanghai
    assert not CAL.is_working_time(sh(2026, 9, 12, 10))  # Saturday
    assert not CAL.is_working_time(sh(2026, 10, 1, 10))  # National Day
    assert CAL.is_working_time(sh(2026, 10, 10, 10))  # make-up Saturday


def test_friday_afternoon_plus_two_hours_is_monday_morning() -> None:
    assert CAL.add_working(sh(2026, 9, 11, 17), 2 * H) == u(2026, 9, 14, 1)  # Mon 09:00


def test_national_day_is_skipped() -> None:
    # Wed 30 Sep: one hour left that day; 1-7 Oct off; Thu 8 Oct 09:00.
    assert CAL.add_working(sh(2026, 9, 30, 17), 2 * H) == u(2026, 10, 8, 1)
    # Thu 24 Sep 17:00: Mid-autumn Fri 25 to Sun 27 off; Mon 28 Sep 09:00.
    assert CAL.add_working(sh(2026, 9, 24, 17), 2 * H) == u(2026, 9, 28, 1)


def test_make_up_saturday_counts() -> None:
    # Fri 9 Oct 17:00: one hour on Friday, the second on the make-up Saturday 10 Oct.
    assert CAL.add_working(sh(2026, 10, 9, 17), 2 * H) == u(2026, 10, 10, 1)


def test_lunch_gap_is_not_working_time() -> None:
    assert CAL.add_working(sh(2026, 9, 8, 11), 2 * H) == u(2026, 9, 8, 7)  # 15:00
    assert CAL.add_working(sh(2026, 9, 8, 12, 30), H) == u(2026, 9, 8, 7)  # 15:00
    assert CAL.add_working(sh(2026, 9, 8, 11, 45), timedelta(minutes=30)) == u(2026, 9, 8, 6, 15)


def test_start_outside_working_hours() -> None:
    assert CAL.add_working(sh(2026, 9, 8, 7), H) == u(2026, 9, 8, 1)  # 09:00 same day
    assert CAL.add_working(sh(2026, 9, 8, 20), H) == u(2026, 9, 9, 1)  # Wed 09:00
    assert CAL.add_working(sh(2026, 9, 12, 10), H) == u(2026, 9, 14, 1)  # Sat -> Mon 09:00
    assert CAL.next_working_start(sh(2026, 9, 12, 10)) == u(2026, 9, 14, 0)  # Mon 08:00


def test_zero_delta_and_period_ends() -> None:
    assert CAL.add_working(sh(2026, 9, 8, 9, 30), timedelta()) == u(2026, 9, 8, 1, 30)
    assert CAL.add_working(sh(2026, 9, 8, 12), timedelta()) == u(2026, 9, 8, 6)  # 14:00
    assert CAL.add_working(sh(2026, 9, 11, 18), timedelta()) == u(2026, 9, 14, 0)  # Mon 08:00
    assert CAL.next_working_start(sh(2026, 9, 8, 9, 30)) == u(2026, 9, 8, 1, 30)
    # Used up exactly at the end of a period: that end, not the next morning.
    assert CAL.add_working(sh(2026, 9, 8, 16), 2 * H) == u(2026, 9, 8, 10)  # 18:00
    assert CAL.add_working(sh(2026, 9, 8, 8), 4 * H) == u(2026, 9, 8, 4)  # 12:00


def test_long_deltas() -> None:
    # Mon 14 Sep 08:00 + 40 h = five full days: Fri 18 Sep 18:00.
    assert CAL.add_working(sh(2026, 9, 14, 8), 40 * H) == u(2026, 9, 18, 10)
    # Mon 21 Sep: 21-24 Sep (32 h), Mid-autumn off, Mon 28 Sep (40 h) ends 18:00.
    assert CAL.add_working(sh(2026, 9, 21, 8), 40 * H) == u(2026, 9, 28, 10)
    # Wed 30 Sep 10:00: 6 h that day, 8 Oct 8 h (14), 9 Oct (22), make-up Sat 10 Oct (30),
    # Mon 12 Oct (38), Tue 13 Oct 08:00-10:00 (40).
    assert CAL.add_working(sh(2026, 9, 30, 10), 40 * H) == u(2026, 10, 13, 2)


def test_results_are_utc_whatever_the_input_zone() -> None:
    from_local = CAL.add_working(sh(2026, 9, 11, 17), 2 * H)
    from_utc = CAL.add_working(u(2026, 9, 11, 9), 2 * H)
    assert from_local == from_utc
    for result in (from_local, from_utc, CAL.next_working_start(sh(2026, 9, 12, 10))):
        assert result.tzinfo is UTC


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        CAL.add_working(datetime(2026, 9, 8, 9), H)  # naive on purpose
    with pytest.raises(ValueError, match="aware"):
        CAL.is_working_time(datetime(2026, 9, 8, 9))
    with pytest.raises(ValueError, match="negative"):
        CAL.add_working(sh(2026, 9, 8, 9), -H)
    with pytest.raises(ValueError, match="at least one"):
        WorkingCalendar([])
    with pytest.raises(ValueError, match="overlaps"):
        WorkingCalendar([(time(8), time(12)), (time(11), time(18))])
    with pytest.raises(ValueError, match="end after"):
        WorkingCalendar([(time(12), time(8))])
    with pytest.raises(ValueError, match="no workday"):
        WorkingCalendar(workday=lambda d: False).add_working(sh(2026, 9, 8, 9), H)


def test_custom_hours_and_workdays() -> None:
    cal = WorkingCalendar([(time(9), time(17))], workday=lambda d: d.isoweekday() <= 5)
    assert cal.day_total == 8 * H
    assert cal.hours == ((time(9), time(17)),)
    assert not cal.is_workday(date(2026, 10, 10))  # no make-up days on a plain Mon-Fri calendar
    # Fri 9 Oct 16:00 + 2 h: one hour Friday, then Mon 12 Oct 09:00-10:00.
    assert cal.add_working(sh(2026, 10, 9, 16), 2 * H) == u(2026, 10, 12, 2)


def test_whole_days_are_skipped_not_walked() -> None:
    calls: list[date] = []

    def weekdays(d: date) -> bool:
        calls.append(d)
        return d.isoweekday() <= 5

    cal = WorkingCalendar(workday=weekdays)
    # 400 h = 50 eight-hour days = ten weeks: Mon 14 Sep to Fri 20 Nov, 18:00.
    assert cal.add_working(sh(2026, 9, 14, 8), 400 * H) == u(2026, 11, 20, 10)
    assert len(calls) == 68  # one look-up per calendar day, 14 Sep .. 20 Nov


def test_years_without_data_fall_back_to_monday_to_friday(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calendar_module, "_warned_years", set())
    with caplog.at_level(logging.WARNING, logger="xinqiao.policy.calendar"):
        assert CAL.is_workday(date(2030, 1, 1))  # a Tuesday
        assert not CAL.is_workday(date(2030, 1, 5))  # a Saturday
    warnings = [r for r in caplog.records if "2030" in r.getMessage()]
    assert len(warnings) == 1


def test_time_text() -> None:
    assert parse_duration("60m") == 60 * timedelta(minutes=1)
    assert parse_duration("8h") == 8 * H
    assert parse_duration("1d") == 24 * H
    assert parse_duration(" 1h30m ") == timedelta(minutes=90)
    assert parse_duration("0m") == timedelta()
    for bad in ("", "h", "8", "1.5h", "-1h", "8 hours", "30m1h", 8):
        with pytest.raises(ValueError, match="not a duration"):
            parse_duration(bad)
    assert format_duration(timedelta(minutes=90)) == "1h30m"
    assert format_duration(48 * H) == "48h"
    assert format_duration(timedelta()) == "0m"
    assert parse_hhmm("08:05") == time(8, 5)
    assert parse_hours("14:00-18:00") == (time(14), time(18))
    for bad_time in ("8:00", "24:00", "12:60", "noon"):
        with pytest.raises(ValueError, match="HH:MM"):
            parse_hhmm(bad_time)
    with pytest.raises(ValueError, match="end after"):
        parse_hours("18:00-14:00")


@cache
def _official_workday(d: date) -> bool:
    return bool(chinese_calendar.is_workday(d))


def _working_minute(at: datetime) -> bool:
    """Independent oracle: the minute starting at ``at`` is office time on an official workday."""
    loc = at + timedelta(hours=8)  # Shanghai wall time, read off a UTC datetime
    return (8 <= loc.hour < 12 or 14 <= loc.hour < 18) and _official_workday(loc.date())


@settings(max_examples=100, deadline=None)
@given(
    start_minute=st.integers(min_value=0, max_value=60 * 24 * 50),
    delta_minutes=st.integers(min_value=0, max_value=60 * 20),
)
def test_matches_a_minute_by_minute_count(start_minute: int, delta_minutes: int) -> None:
    # Starts from 1 Sep 2026 over 50 days: Mid-autumn, National Day and both make-up days.
    start = u(2026, 8, 31, 16) + timedelta(minutes=start_minute)
    at, left = start, delta_minutes
    while not _working_minute(at) or left:
        if _working_minute(at):
            left -= 1
            if not left:
                at += timedelta(minutes=1)
                break
        at += timedelta(minutes=1)
    assert CAL.add_working(start, timedelta(minutes=delta_minutes)) == at
