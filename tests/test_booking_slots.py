"""Slot generation on the official calendar: patterns, exceptions, holidays, make-up days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from xinqiao.clock import SHANGHAI
from xinqiao.policy.calendar import WorkingCalendar
from xinqiao.policy.policy import PolicyError, load_policy
from xinqiao.services.booking.slots import day_slots, duty_weekday, generate, parse_key
from xinqiao.storage.booking import DutyException, DutyPattern, ExceptionKind, Mode

CAL = WorkingCalendar()
NOW = datetime(2026, 9, 1, tzinfo=UTC)


def pattern(weekday: int, start: int, end: int, *, minutes: int = 45, brk: int = 15,
            valid_from: date = date(2026, 9, 1), valid_until: date | None = None,
            who: int = 1) -> DutyPattern:
    return DutyPattern(counsellor_id=who, weekday=weekday, start=time(start), end=time(end),
                       session_minutes=minutes, break_minutes=brk, place="201",
                       mode=Mode.offline, valid_from=valid_from, valid_until=valid_until,
                       created_at=NOW)


def exception(day: date, kind: ExceptionKind, start: time | None = None,
              end: time | None = None) -> DutyException:
    return DutyException(counsellor_id=1, day=day, kind=kind, start=start, end=end,
                         mode=Mode.online, created_at=NOW)


def times(day: date, patterns: list[DutyPattern],
          exceptions: list[DutyException] | None = None) -> list[str]:
    return [f"{s.start:%H:%M}" for s in day_slots(1, day, patterns, exceptions or [], CAL)]


def test_a_weekly_pattern_is_cut_into_sessions_with_breaks() -> None:
    monday = date(2026, 9, 7)
    assert times(monday, [pattern(1, 14, 17)]) == ["14:00", "15:00", "16:00"]
    assert times(monday, [pattern(1, 14, 17, minutes=50, brk=10)]) == ["14:00", "15:00",
                                                                       "16:00"]
    assert times(monday, [pattern(1, 9, 12, minutes=60, brk=0)]) == ["09:00", "10:00", "11:00"]
    assert times(monday, [pattern(2, 14, 17)]) == []  # a Tuesday pattern
    # the pattern's dates bound it
    assert times(monday, [pattern(1, 14, 17, valid_from=date(2026, 9, 8))]) == []
    assert times(monday, [pattern(1, 14, 17, valid_until=date(2026, 9, 6))]) == []
    [first, *_] = day_slots(1, monday, [pattern(1, 14, 17)], [], CAL)
    assert first.start == datetime(2026, 9, 7, 6, 0, tzinfo=UTC)  # 14:00 Shanghai
    assert first.end - first.start == timedelta(minutes=45)
    assert parse_key(first.key) == (1, first.start)


def test_public_holidays_have_no_duty() -> None:
    thursday = pattern(4, 9, 12)
    assert times(date(2026, 9, 24), [thursday]) == ["09:00", "10:00", "11:00"]
    assert times(date(2026, 10, 1), [thursday]) == []  # National Day
    assert times(date(2026, 10, 6), [pattern(2, 9, 12)]) == []  # an in-lieu day off
    assert times(date(2026, 10, 8), [thursday]) == ["09:00", "10:00", "11:00"]  # back to work
    saturday = pattern(6, 9, 10)
    assert times(date(2026, 9, 12), [saturday]) == ["09:00"]  # an ordinary weekend: its own
    assert times(date(2026, 10, 3), [saturday]) == []  # a holiday Saturday


def test_a_weekend_make_up_workday_follows_the_weekday_it_pays_back() -> None:
    week = [pattern(d, 14, 15, who=1) for d in range(1, 6)]
    week[1] = pattern(2, 9, 10)  # Tuesday is the odd one out: mornings
    week[2] = pattern(3, 16, 17)  # and Wednesday late afternoon
    # Sunday 2026-09-20 pays back Tuesday 2026-10-06; Saturday 2026-10-10 Wednesday 10-07
    assert duty_weekday(CAL, date(2026, 9, 20)) == 2
    assert duty_weekday(CAL, date(2026, 10, 10)) == 3
    assert times(date(2026, 9, 20), week) == ["09:00"]
    assert times(date(2026, 10, 10), week) == ["16:00"]
    assert times(date(2026, 9, 19), week) == []  # the Saturday before is an ordinary weekend
    assert duty_weekday(CAL, date(2026, 10, 6)) is None


def test_leave_and_extra_duty_change_one_day() -> None:
    monday = date(2026, 9, 14)
    week = [pattern(1, 14, 17)]
    assert times(monday, week, [exception(monday, ExceptionKind.leave)]) == []
    partial = exception(monday, ExceptionKind.leave, time(15, 0), time(15, 30))
    assert times(monday, week, [partial]) == ["14:00", "16:00"]
    extra = exception(monday, ExceptionKind.extra, time(9), time(10))
    assert times(monday, week, [extra]) == ["09:00", "14:00", "15:00", "16:00"]
    holiday = date(2026, 10, 2)
    extra_on_holiday = exception(holiday, ExceptionKind.extra, time(10), time(11))
    [slot] = day_slots(1, holiday, week, [extra_on_holiday], CAL)
    assert f"{slot.start:%H:%M}" == "10:00" and slot.mode is Mode.online
    # another day's leave changes nothing; overlapping windows do not double a slot
    assert times(date(2026, 9, 21), week, [exception(monday, ExceptionKind.leave)]) == [
        "14:00", "15:00", "16:00"]
    assert times(monday, [*week, pattern(1, 14, 16)]) == ["14:00", "15:00", "16:00"]


def test_generation_spans_days_and_counsellors_in_start_order() -> None:
    patterns = [pattern(1, 14, 16, who=1), pattern(1, 14, 15, who=2), pattern(2, 9, 10, who=2)]
    slots = generate([1, 2], patterns, [], CAL, date(2026, 9, 7), date(2026, 9, 8))
    assert [(s.counsellor_id, s.start.astimezone(SHANGHAI).strftime("%d %H:%M"))
            for s in slots] == [(1, "07 14:00"), (2, "07 14:00"), (1, "07 15:00"),
                                (2, "08 09:00")]


def test_the_booking_policy_is_validated_with_file_and_field(tmp_path: Path) -> None:
    default = load_policy().booking
    assert (default.cutoff, default.remind_before, default.horizon_days) == (
        timedelta(hours=2), timedelta(hours=1), 14)
    assert default.remind_day_before_at == time(18) and default.noshow_threshold == 2
    bad = tmp_path / "centre.toml"
    bad.write_text('[booking]\ncutoff = "soon"\nhorizon_days = 0\nremind_before = "0m"\n'
                   'morning_list_at = "25:00"\nnoshow_limit = 3\n', encoding="utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(bad)
    assert str(err.value).startswith(str(bad))
    assert set(err.value.fields) == {"booking.cutoff", "booking.horizon_days",
                                     "booking.remind_before", "booking.morning_list_at",
                                     "booking.noshow_limit"}
    ok = tmp_path / "ok.toml"
    ok.write_text('[booking]\ncutoff = "24h"\n', encoding="utf-8")
    merged = load_policy(ok).booking
    assert merged.cutoff == timedelta(hours=24) and merged.horizon_days == 14
