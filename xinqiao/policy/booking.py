"""The ``[booking]`` section of the policy: cut-offs, horizon, reminders, no-shows, waitlist,
crisis slots."""

from __future__ import annotations

from datetime import time, timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from xinqiao.policy.values import format_duration, parse_duration, parse_hhmm

_Duration = Annotated[
    timedelta, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)
]
_ClockTime = Annotated[
    time, BeforeValidator(parse_hhmm), PlainSerializer(lambda t: f"{t:%H:%M}", return_type=str)
]


class BookingPolicy(BaseModel):
    """How counselling booking behaves (design.md §3.3); durations are clock time."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_notice: _Duration = timedelta(hours=2)
    cutoff: _Duration = timedelta(hours=2)
    horizon_days: int = Field(default=14, ge=1, le=90)
    page_size: int = Field(default=6, ge=2, le=9)
    remind_day_before_at: _ClockTime = time(18, 0)
    remind_before: _Duration = timedelta(hours=1)
    morning_list_at: _ClockTime = time(7, 30)
    noshow_threshold: int = Field(default=2, ge=1, le=20)
    noshow_window_days: int = Field(default=90, ge=1, le=730)
    move_reply_within: _Duration = timedelta(hours=24)
    waitlist_hold: _Duration = timedelta(hours=2)
    waitlist_days: int = Field(default=14, ge=1, le=180)
    session_minutes: int = Field(default=45, ge=15, le=180)
    break_minutes: int = Field(default=15, ge=0, le=120)
    # Fair access (issue 20): the first sessions of each counsellor's day kept for crisis
    # referrals and centre staff; untaken ones open to everyone the day before at this time.
    crisis_slots_per_day: int = Field(default=0, ge=0, le=8)
    crisis_release_day_before_at: _ClockTime = time(17, 0)
    # A positive screen is offered a session within this many working days, or the centre hears.
    positive_offer_working_days: int = Field(default=3, ge=1, le=20)

    @field_validator("remind_before", "move_reply_within", "waitlist_hold")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta():
            raise ValueError("must be longer than zero")
        return value
