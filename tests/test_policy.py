"""The escalation and check-in policy: defaults, overrides, validation, key periods."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from xinqiao.clock import SHANGHAI
from xinqiao.policy.policy import Level, Policy, PolicyError, Recipient, Severity, load_policy

M = timedelta(minutes=1)
H = timedelta(hours=1)
DEFAULT = load_policy(None)


def sh(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Shanghai wall-clock moment."""
    return datetime(y, mo, d, h, mi, tzinfo=SHANGHAI)


def u(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A UTC moment (Shanghai is UTC+8)."""
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def shape(policy: Policy, severity: str) -> list[tuple[set[str], timedelta, bool]]:
    return [
        ({r.value for r in lv.notify}, lv.ack_within, lv.working_hours)
        for lv in policy.chain(severity)
    ]


def override(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "centre-policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_chains() -> None:
    assert shape(DEFAULT, "routine") == [
        ({"class_advisor"}, 8 * H, True),
        ({"college"}, 8 * H, True),
        ({"centre"}, 8 * H, True),
    ]
    assert shape(DEFAULT, "soon") == [
        ({"class_advisor"}, 60 * M, False),
        ({"college"}, 60 * M, False),
        ({"centre"}, 60 * M, False),
    ]
    assert shape(DEFAULT, "urgent") == [
        ({"college", "centre"}, 15 * M, False),
        ({"centre_lead"}, 15 * M, False),
    ]
    assert shape(DEFAULT, Severity.crisis) == [
        ({"class_advisor", "college", "centre"}, 10 * M, False),
        ({"centre_lead"}, 10 * M, False),
    ]
    assert all(DEFAULT.repeat_last(s) == 3 for s in Severity)


def test_default_hours_and_checkin() -> None:
    assert DEFAULT.working_hours == ((time(8), time(12)), (time(14), time(18)))
    assert DEFAULT.calendar().hours == DEFAULT.working_hours
    c = DEFAULT.checkin
    assert c.due_weekdays == (5,)
    assert c.due_time == time(17)
    assert (c.remind_committee_after, c.escalate_advisor_after) == (timedelta(), 24 * H)
    assert c.escalate_college_after == 48 * H
    assert [(p.start, p.end, p.due_weekdays) for p in c.key_periods] == [
        (date(2026, 9, 1), date(2026, 9, 30), (2, 5)),
        (date(2026, 10, 9), date(2026, 10, 22), (2, 5)),
        (date(2027, 1, 4), date(2027, 1, 17), (2, 5)),
    ]
    assert DEFAULT.checkin_due_at(date(2026, 11, 6)) == u(2026, 11, 6, 9)  # 17:00 local


def test_routine_deadline_counts_working_hours() -> None:
    first = DEFAULT.chain("routine")[0]
    # Fri 11 Sep 16:00: 2 h on Friday, Mon 14 Sep 08-12 (6 h), 14-16 (8 h).
    assert DEFAULT.deadline(first, sh(2026, 9, 11, 16)) == u(2026, 9, 14, 8)
    # Fri 9 Oct 17:00: 1 h Friday, 7 h on the make-up Saturday: Sat 10 Oct 17:00.
    assert DEFAULT.deadline(first, sh(2026, 10, 9, 17)) == u(2026, 10, 10, 9)


def test_urgent_and_crisis_deadlines_are_clock_minutes() -> None:
    night = sh(2026, 10, 3, 3)  # 03:00 on a National Day holiday Saturday
    assert DEFAULT.deadline(DEFAULT.chain("urgent")[0], night) == u(2026, 10, 2, 19, 15)
    assert DEFAULT.deadline(DEFAULT.chain("crisis")[1], night) == u(2026, 10, 2, 19, 10)
    assert DEFAULT.deadline(DEFAULT.chain("soon")[2], night) == u(2026, 10, 2, 20)
    assert DEFAULT.deadline(DEFAULT.chain("crisis")[0], night).tzinfo is UTC
    with pytest.raises(ValueError, match="aware"):
        DEFAULT.deadline(DEFAULT.chain("crisis")[0], datetime(2026, 10, 3, 3))


def test_level_snapshot_round_trips() -> None:
    for severity in Severity:
        for level in DEFAULT.chain(severity):
            assert Level.model_validate(level.model_dump(mode="json")) == level
    assert DEFAULT.chain("routine")[0].model_dump(mode="json") == {
        "notify": ["class_advisor"],
        "working_hours": True,
        "ack_within": "8h",
    }
    long = Level(notify=(Recipient.centre,), working_hours=True, ack_within=24 * H)
    assert long.model_dump(mode="json")["ack_within"] == "24h"
    assert Level.model_validate(long.model_dump(mode="json")) == long


def test_override_changes_one_chain_and_keeps_the_rest(tmp_path: Path) -> None:
    path = override(
        tmp_path,
        """
[severity.soon]
levels = [
    { notify = ["class_advisor"], ack_within = "30m" },
    { notify = ["college"], ack_within = "30m" },
    { notify = ["centre"], ack_within = "30m" },
]
""",
    )
    policy = load_policy(path)
    assert shape(policy, "soon") == [
        ({"class_advisor"}, 30 * M, False),
        ({"college"}, 30 * M, False),
        ({"centre"}, 30 * M, False),
    ]
    assert policy.repeat_last("soon") == 3  # kept from the default table
    for other in ("routine", "urgent", "crisis"):
        assert policy.chain(other) == DEFAULT.chain(other)
    assert policy.checkin == DEFAULT.checkin
    assert policy.working_hours == DEFAULT.working_hours


def test_override_scalars_inside_tables(tmp_path: Path) -> None:
    path = override(
        tmp_path,
        """
working_hours = ["09:00-17:00"]
[severity.crisis]
repeat_last = 5
[checkin]
due_time = "16:30"
""",
    )
    policy = load_policy(path)
    assert policy.repeat_last("crisis") == 5
    assert policy.chain("crisis") == DEFAULT.chain("crisis")
    assert policy.checkin.due_time == time(16, 30)
    assert policy.checkin.due_weekdays == (5,)
    assert policy.checkin.key_periods == DEFAULT.checkin.key_periods
    # Routine now counts 09:00-17:00: Fri 11 Sep 16:00 + 8 h = 1 h Fri + 7 h Mon = Mon 16:00.
    assert policy.deadline(policy.chain("routine")[0], sh(2026, 9, 11, 16)) == u(2026, 9, 14, 8)
    assert policy.deadline(policy.chain("routine")[0], sh(2026, 9, 14, 9)) == u(2026, 9, 14, 9)


def test_override_can_clear_key_periods(tmp_path: Path) -> None:
    policy = load_policy(override(tmp_path, "[checkin]\nkey_periods = []\n"))
    assert policy.key_period(date(2026, 9, 15)) is None
    assert policy.checkin_due_dates(date(2026, 9, 14)) == [date(2026, 9, 18)]


LEVEL = '{ notify = ["college"], ack_within = "8h", working_hours = true }'
BAD = [
    (
        '[severity.routine]\nlevels = [{ notify = ["dean"], ack_within = "8h" }]',
        "severity.routine.levels[0].notify[0]",
        "dean",
    ),
    ("[severity.urgent]\nlevels = []", "severity.urgent.levels", "must not be empty"),
    (
        '[severity.urgent]\nlevels = [{ notify = [], ack_within = "5m" }]',
        "severity.urgent.levels[0].notify",
        "must not be empty",
    ),
    (
        f'[severity.soon]\nlevels = [{LEVEL}, {{ notify = ["centre"], ack_within = "8 hours" }}]',
        "severity.soon.levels[1].ack_within",
        "not a duration",
    ),
    (
        '[severity.soon]\nlevels = [{ notify = ["centre"], ack_within = "0m" }]',
        "severity.soon.levels[0].ack_within",
        "longer than zero",
    ),
    (
        '[severity.routine]\nlevels = [{ notify = ["centre"], ack_within = "1d", '
        "working_hours = true }]",
        "severity.routine.levels[0].ack_within",
        "working hours",
    ),
    (
        '[severity.routine]\nlevels = [{ notify = ["centre", "centre"], ack_within = "8h" }]',
        "severity.routine.levels[0].notify",
        "repeated",
    ),
    ("[severity.routine]\nrepeat_last = 10", "severity.routine.repeat_last", "9"),
    ('[severity.crisis]\nremind_every = "5m"', "severity.crisis.remind_every", "at least 10m"),
    ('[severity.routine]\nresolve_within = "3d"', "severity.routine.resolve_within",
     "working hours"),
    (f"[severity.later]\nlevels = [{LEVEL}]", "severity.later", "unknown setting"),
    ("[checkin]\ndue_weekday = [5]", "checkin.due_weekday", "unknown setting"),
    ('[checkin]\nescalate_advisor_after = "soon"', "checkin.escalate_advisor_after", "duration"),
    ('[checkin]\nescalate_advisor_after = "72h"', "checkin", "escalate_advisor_after (72h) <="),
    ('[checkin]\ndue_time = "25:00"', "checkin.due_time", "HH:MM"),
    ('working_hours = ["8-12"]', "working_hours[0]", "HH:MM"),
    ('working_hours = ["12:00-08:00"]', "working_hours[0]", "end after"),
    ('working_hours = ["08:00-12:00", "11:00-18:00"]', "working_hours", "overlaps"),
    ("working_hours = []", "working_hours", "at least one"),
    ("[checkin]\ndue_weekdays = [0]", "checkin.due_weekdays[0]", "greater than or equal to 1"),
    ("[checkin]\ndue_weekdays = [8]", "checkin.due_weekdays[0]", "less than or equal to 7"),
    ('[checkin]\ndue_weekdays = ["5"]', "checkin.due_weekdays[0]", "integer"),
    ("[checkin]\ndue_weekdays = [5, 5]", "checkin.due_weekdays", "repeated"),
    (
        '[checkin]\nkey_periods = [{ name = "x", start = "2026-10-22", end = "2026-10-09", '
        "due_weekdays = [2] }]",
        "checkin.key_periods[0]",
        "before it starts",
    ),
    (
        '[checkin]\nkey_periods = [{ name = "x", start = "2026-13-01", end = "2026-12-09", '
        "due_weekdays = [2] }]",
        "checkin.key_periods[0].start",
        "YYYY-MM-DD",
    ),
    (
        '[checkin]\nkey_periods = [{ name = "x", start = "2026-12-01", end = "2026-12-09", '
        "due_weekdays = [2, 9] }]",
        "checkin.key_periods[0].due_weekdays[1]",
        "less than or equal to 7",
    ),
    (
        '[[checkin.key_periods]]\nname = "a"\nstart = "2026-12-01"\nend = "2026-12-10"\n'
        'due_weekdays = [2]\n[[checkin.key_periods]]\nname = "b"\nstart = 2026-11-20\n'
        "end = 2026-12-01\ndue_weekdays = [3]",
        "checkin.key_periods",
        "overlap",
    ),
    ("severity = [", "file", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "field", "message"), BAD, ids=[b[1] for b in BAD])
def test_errors_name_file_and_field(tmp_path: Path, text: str, field: str, message: str) -> None:
    path = override(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    err = caught.value
    assert str(err).startswith(f"{path}: {field}: ")
    assert field in err.fields
    assert message in str(err)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError, match=r"nope\.toml: file: cannot read"):
        load_policy(missing)


def test_key_period_lookup() -> None:
    assert DEFAULT.key_period(date(2026, 8, 31)) is None
    first = DEFAULT.key_period(date(2026, 9, 1))
    assert first is not None and first.end == date(2026, 9, 30)
    assert DEFAULT.key_period(date(2026, 10, 8)) is None
    after = DEFAULT.key_period(date(2026, 10, 22))  # last day is included
    assert after is not None and after.start == date(2026, 10, 9)
    assert DEFAULT.key_period(date(2026, 10, 23)) is None


@pytest.mark.parametrize(
    ("week", "due"),
    [
        (date(2026, 11, 2), [date(2026, 11, 6)]),  # ordinary week: Friday only
        (date(2026, 11, 4), [date(2026, 11, 6)]),  # any day names its ISO week
        (date(2026, 9, 14), [date(2026, 9, 15), date(2026, 9, 18)]),  # freshmen month
        (date(2026, 8, 31), [date(2026, 9, 1), date(2026, 9, 4)]),  # period starts Tuesday
        (date(2026, 9, 28), [date(2026, 9, 29), date(2026, 10, 2)]),  # Tue in, Fri default
        (date(2026, 10, 5), [date(2026, 10, 9)]),  # Tue 6 Oct is before the next period
        (date(2026, 10, 19), [date(2026, 10, 20), date(2026, 10, 23)]),
        (date(2027, 1, 11), [date(2027, 1, 12), date(2027, 1, 15)]),  # exams
    ],
)
def test_checkin_due_dates(week: date, due: list[date]) -> None:
    assert DEFAULT.checkin_due_dates(week) == due


@pytest.mark.parametrize(
    ("on", "period"),
    [
        (date(2026, 11, 2), date(2026, 11, 6)),  # Monday -> that Friday
        (date(2026, 11, 6), date(2026, 11, 6)),  # on the due date itself
        (date(2026, 11, 7), date(2026, 11, 13)),  # Saturday -> next Friday
        (date(2026, 9, 13), date(2026, 9, 15)),  # Sunday in freshmen month -> Tuesday
        (date(2026, 9, 16), date(2026, 9, 18)),  # Wednesday in freshmen month -> Friday
        (date(2026, 9, 30), date(2026, 10, 2)),  # last day of the period -> default Friday
        (date(2026, 10, 3), date(2026, 10, 9)),
        (date(2026, 10, 17), date(2026, 10, 20)),
    ],
)
def test_checkin_period(on: date, period: date) -> None:
    assert DEFAULT.checkin_period(on) == period


def test_checkin_period_looks_past_a_period_without_a_due_day(tmp_path: Path) -> None:
    path = override(
        tmp_path,
        '[[checkin.key_periods]]\nname = "exams"\nstart = 2026-12-14\nend = 2026-12-20\n'
        "due_weekdays = [1, 3]\n",
    )
    policy = load_policy(path)
    assert policy.checkin_due_dates(date(2026, 12, 14)) == [date(2026, 12, 14), date(2026, 12, 16)]
    # Thu 17 Dec: Fri 18 is inside the period (Mon/Wed only), so the next is Fri 25 Dec.
    assert policy.checkin_period(date(2026, 12, 17)) == date(2026, 12, 25)
