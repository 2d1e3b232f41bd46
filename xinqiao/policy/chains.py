"""The policy's escalation chains (one per severity) and the check-in cadence with its key
periods: who is told, in which order, and by when. ``policy.py`` assembles and loads them."""

from __future__ import annotations

from datetime import date, time, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Annotated, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
    model_validator,
)

from xinqiao.policy.values import format_duration, parse_date, parse_duration, parse_hhmm

# PagerDuty allows at most 9 repeats of a policy, Grafana OnCall 5 (shared/anchors.md §1.6).
MAX_REPEATS = 9
MIN_REMIND_EVERY = timedelta(minutes=10)  # an unacknowledged item never reminds more often
_T = TypeVar("_T")


class Recipient(StrEnum):
    """Who a level notifies, in climbing order."""

    class_advisor = "class_advisor"
    college = "college"
    centre = "centre"
    centre_lead = "centre_lead"


Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
ClockTime = Annotated[
    time, BeforeValidator(parse_hhmm), PlainSerializer(lambda t: f"{t:%H:%M}", return_type=str)
]
Day = Annotated[date, BeforeValidator(parse_date)]
Weekday = Annotated[int, Field(strict=True, ge=1, le=7)]


def _distinct(value: tuple[_T, ...]) -> tuple[_T, ...]:
    if len(set(value)) != len(value):
        raise ValueError("an entry is repeated")
    return value


Weekdays = Annotated[tuple[Weekday, ...], Field(min_length=1), AfterValidator(_distinct)]
Recipients = Annotated[tuple[Recipient, ...], Field(min_length=1), AfterValidator(_distinct)]


class PolicyModel(BaseModel):
    """A part of the policy: unknown settings are refused and a loaded policy never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Level(PolicyModel):
    """One step of a chain: whom to notify and how long they have to acknowledge."""

    notify: Recipients
    working_hours: bool = False
    ack_within: Duration

    @field_validator("ack_within", mode="before")
    @classmethod
    def _no_working_days(cls, value: object, info: ValidationInfo) -> object:
        # "1d" of working time would mean 24 working hours, i.e. three office days: a trap.
        if info.data.get("working_hours") and isinstance(value, str) and "d" in value:
            raise ValueError(f"{value!r}: with working_hours = true, write working hours ('8h')")
        return value

    @field_validator("ack_within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta():
            raise ValueError("must be longer than zero")
        return value


class Chain(PolicyModel):
    """The chain for one severity, how often its last level is re-notified, how long an
    acknowledged item may stay unresolved, and the reminders once nobody acknowledged at all."""

    levels: tuple[Level, ...] = Field(min_length=1)
    repeat_last: int = Field(default=3, ge=0, le=MAX_REPEATS)
    # Acknowledged but not resolved within this: the acknowledger is reminded, then it climbs.
    resolve_working_hours: bool = True
    resolve_within: Duration = timedelta(hours=72)
    # Past the last level: the centre lead and the staff on duty, reminded at this cadence.
    remind_working_hours: bool = False
    remind_every: Duration = timedelta(hours=1)

    @field_validator("resolve_within", "remind_every", mode="before")
    @classmethod
    def _no_working_days(cls, value: object, info: ValidationInfo) -> object:
        flag = "resolve_working_hours" if info.field_name == "resolve_within" else (
            "remind_working_hours")
        if info.data.get(flag) and isinstance(value, str) and "d" in value:
            raise ValueError(f"{value!r}: with {flag} = true, write working hours ('72h')")
        return value

    @field_validator("resolve_within")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta():
            raise ValueError("must be longer than zero")
        return value

    @field_validator("remind_every")
    @classmethod
    def _bounded(cls, value: timedelta) -> timedelta:
        # Reminders go on until someone acknowledges: never more often than this.
        if value < MIN_REMIND_EVERY:
            raise ValueError(f"must be at least {format_duration(MIN_REMIND_EVERY)}")
        return value


class Severities(PolicyModel):
    """One escalation chain per severity."""

    routine: Chain
    soon: Chain
    urgent: Chain
    crisis: Chain


class KeyPeriod(PolicyModel):
    """A window of raised vigilance (design §2.2) in which check-ins fall due more often."""

    name: str = Field(min_length=1)
    start: Day
    end: Day
    due_weekdays: Weekdays
    screening_round: bool = False  # run an extra screening round when the period starts

    @model_validator(mode="after")
    def _ordered(self) -> KeyPeriod:
        if self.end < self.start:
            raise ValueError(f"key period {self.name!r} ends ({self.end}) before it starts")
        return self

    def contains(self, on: date) -> bool:
        """True when ``on`` is inside the period, both ends included."""
        return self.start <= on <= self.end


class CheckinPolicy(PolicyModel):
    """When weekly class check-ins fall due and when a missing one climbs (clock time)."""

    due_weekdays: Weekdays
    due_time: ClockTime
    remind_committee_after: Duration
    escalate_advisor_after: Duration
    escalate_college_after: Duration
    key_periods: tuple[KeyPeriod, ...] = ()

    @field_validator("key_periods")
    @classmethod
    def _no_overlap(cls, value: tuple[KeyPeriod, ...]) -> tuple[KeyPeriod, ...]:
        ordered = tuple(sorted(value, key=lambda p: p.start))
        for prev, cur in pairwise(ordered):
            if cur.start <= prev.end:
                raise ValueError(
                    f"key periods {prev.name!r} ({prev.start}..{prev.end}) and "
                    f"{cur.name!r} ({cur.start}..{cur.end}) overlap"
                )
        return ordered

    @model_validator(mode="after")
    def _steps_in_order(self) -> CheckinPolicy:
        steps = (
            self.remind_committee_after,
            self.escalate_advisor_after,
            self.escalate_college_after,
        )
        if list(steps) != sorted(steps):
            committee, advisor, college = (format_duration(d) for d in steps)
            raise ValueError(
                f"steps out of order: need remind_committee_after ({committee}) <= "
                f"escalate_advisor_after ({advisor}) <= escalate_college_after ({college})"
            )
        return self
