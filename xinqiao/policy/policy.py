"""The escalation and check-in policy: a packaged TOML default with a centre's file merged over."""

from __future__ import annotations

import tomllib
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, PlainSerializer, ValidationError, field_validator

from xinqiao.clock import SHANGHAI
from xinqiao.policy.aftercare import AftercarePolicy
from xinqiao.policy.booking import BookingPolicy
from xinqiao.policy.calendar import OfficialDays, WorkingCalendar, YearDays, check_year
from xinqiao.policy.chains import Chain, CheckinPolicy, KeyPeriod, PolicyModel, Severities
from xinqiao.policy.chains import Level as Level  # re-exported: the policy's importers name them
from xinqiao.policy.chains import Recipient as Recipient
from xinqiao.policy.content import ContentPolicy
from xinqiao.policy.referral import ReferralPolicy
from xinqiao.policy.retention import RetentionPolicy
from xinqiao.policy.screening import ScreeningPolicy
from xinqiao.policy.values import parse_days, parse_hours
from xinqiao.storage.reports import Severity as Severity  # re-exported: chains are per severity

DEFAULT_SOURCE = "xinqiao/data/policy.toml (packaged default)"


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and each bad field."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.fields = tuple(where for where, _ in problems)
        super().__init__(f"{source}: " + "; ".join(f"{w}: {m}" for w, m in problems))


Hours = Annotated[
    tuple[time, time],
    BeforeValidator(parse_hours),
    PlainSerializer(lambda r: f"{r[0]:%H:%M}-{r[1]:%H:%M}", return_type=str),
]


Days = Annotated[tuple[date, ...], BeforeValidator(parse_days)]


class DeclaredYear(PolicyModel):
    """``[calendar.YYYY]``: a year's holidays and make-up workdays the package does not know."""

    holidays: Days = ()
    workdays: Days = ()


class Policy(PolicyModel):
    """The whole policy: working hours, escalation chains, check-ins, booking and content."""

    working_hours: tuple[Hours, ...]
    severity: Severities
    checkin: CheckinPolicy
    screening: ScreeningPolicy = ScreeningPolicy()
    retention: RetentionPolicy = RetentionPolicy()
    booking: BookingPolicy = BookingPolicy()
    content: ContentPolicy = ContentPolicy()
    referral: ReferralPolicy = ReferralPolicy()
    aftercare: AftercarePolicy = AftercarePolicy()
    # ``[calendar.2027]``: official days for the years past the chinesecalendar package's.
    calendar_years: dict[int, DeclaredYear] = Field(default_factory=dict, alias="calendar")

    @field_validator("calendar_years")
    @classmethod
    def _sensible_years(cls, value: dict[int, DeclaredYear]) -> dict[int, DeclaredYear]:
        for year, days in value.items():
            try:
                check_year(year, days.holidays, days.workdays)
            except ValueError as exc:
                raise ValueError(f"{year}: {exc}") from exc
        return value

    def official_days(self) -> OfficialDays:
        """The official calendar: the package's years and the years this policy declares."""
        return OfficialDays({year: YearDays(frozenset(d.holidays), frozenset(d.workdays))
                             for year, d in self.calendar_years.items()})

    @field_validator("working_hours")
    @classmethod
    def _valid_hours(cls, value: tuple[tuple[time, time], ...]) -> tuple[tuple[time, time], ...]:
        WorkingCalendar(value)  # raises ValueError on empty, out-of-order or overlapping ranges
        return value

    @cached_property
    def _calendar(self) -> WorkingCalendar:
        return WorkingCalendar(self.working_hours, official=self.official_days())

    def calendar(self) -> WorkingCalendar:
        """The working calendar: these hours on official Chinese workdays."""
        return self._calendar

    def _chain(self, severity: Severity | str) -> Chain:
        chain: Chain = getattr(self.severity, Severity(severity).value)
        return chain

    def chain(self, severity: Severity | str) -> tuple[Level, ...]:
        """The ordered levels for a severity."""
        return self._chain(severity).levels

    def repeat_last(self, severity: Severity | str) -> int:
        """How often the last level is re-notified at its deadline before the item is flagged."""
        return self._chain(severity).repeat_last

    def resolve_within(self, severity: Severity | str) -> tuple[timedelta, bool]:
        """How long an acknowledged item may stay unresolved, and whether in working time."""
        chain = self._chain(severity)
        return chain.resolve_within, chain.resolve_working_hours

    def remind_every(self, severity: Severity | str) -> tuple[timedelta, bool]:
        """The cadence of reminders once the chain is exhausted, and whether in working time."""
        chain = self._chain(severity)
        return chain.remind_every, chain.remind_working_hours

    def deadline(self, level: Level, start: datetime) -> datetime:
        """When ``level`` must have acknowledged if it was notified at ``start`` (aware; UTC)."""
        if start.tzinfo is None:
            raise ValueError(f"an aware datetime is required, got naive {start!r}")
        if level.working_hours:
            return self._calendar.add_working(start, level.ack_within)
        return start.astimezone(UTC) + level.ack_within

    def key_period(self, on: date) -> KeyPeriod | None:
        """The key period ``on`` falls in, if any."""
        return next((p for p in self.checkin.key_periods if p.contains(on)), None)

    def is_checkin_due(self, on: date) -> bool:
        """True when a weekly check-in falls due on ``on`` (tightened inside key periods)."""
        period = self.key_period(on)
        weekdays = period.due_weekdays if period else self.checkin.due_weekdays
        return on.isoweekday() in weekdays

    def checkin_due_dates(self, week_start: date) -> list[date]:
        """The check-in due dates of the ISO week containing ``week_start``."""
        monday = week_start - timedelta(days=week_start.isoweekday() - 1)
        days = (monday + timedelta(days=i) for i in range(7))
        return [d for d in days if self.is_checkin_due(d)]

    def checkin_period(self, on: date) -> date:
        """The due date a check-in submitted on ``on`` counts for: the next on or after it."""
        last = max((p.end for p in self.checkin.key_periods), default=on)
        # Past the last key period the weekly cadence guarantees a due date within 7 days.
        for i in range(max((last - on).days, 0) + 8):
            if self.is_checkin_due(day := on + timedelta(days=i)):
                return day
        raise AssertionError("unreachable: every cadence has at least one weekday")

    def checkin_due_at(self, due: date) -> datetime:
        """The moment (UTC) a check-in due on ``due`` is due: ``due_time`` local that day."""
        return datetime.combine(due, self.checkin.due_time, SHANGHAI).astimezone(UTC)


def _read(text: str, source: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(source, [("file", f"not valid TOML: {exc}")]) from exc


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; anything else (arrays included) in ``over`` replaces ``base``."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        both_tables = isinstance(old, dict) and isinstance(value, dict)
        out[key] = _merge(old, value) if both_tables else value  # type: ignore[arg-type]
    return out


_PLAIN = {"too_short": "must not be empty", "extra_forbidden": "unknown setting"}


def _where(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "policy"


def load_policy(path: Path | None = None) -> Policy:
    """The packaged default policy, with ``path`` (a centre's TOML) deep-merged over it."""
    default = resources.files("xinqiao.data").joinpath("policy.toml").read_text(encoding="utf-8")
    raw, source = _read(default, DEFAULT_SOURCE), DEFAULT_SOURCE
    if path is not None:
        source = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError(source, [("file", f"cannot read: {exc}")]) from exc
        raw = _merge(raw, _read(text, source))
    try:
        return Policy.model_validate(raw)
    except ValidationError as exc:
        raise PolicyError(source, _problems(exc)) from exc


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    errors = exc.errors()
    problems = []
    for err in errors:
        loc, kind = err["loc"], err["type"]
        # A list whose item failed is also reported "too short"; the item's error says it all.
        if kind == "too_short" and any(e["loc"][: len(loc)] == loc != e["loc"] for e in errors):
            continue
        msg = _PLAIN.get(kind) or err["msg"].removeprefix("Value error, ")
        if isinstance(err.get("input"), str | int | float) and kind != "value_error":
            msg += f" (got {err['input']!r})"
        problems.append((_where(loc), msg))
    return problems
