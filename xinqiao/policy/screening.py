"""The ``[screening]`` section of the policy: when screening rounds run and what they ask.

Rounds (clinical.md §6): freshmen about a month after they arrive, everyone else in the first
week of each semester, and an extra round in a key period marked ``screening_round``. Each round
opens on the first workday on or after its date at ``invite_at`` (local), stays open
``open_days`` days, and reminds the students who have not finished ``reminder_days`` days after
opening (moved to the next workday).
"""

from __future__ import annotations

from datetime import date, time, timedelta
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from xinqiao.policy.values import parse_date, parse_hhmm

Day = Annotated[date, BeforeValidator(parse_date)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Semester(_Model):
    """A semester: when teaching starts and, in autumn, when the freshmen arrive."""

    name: str = Field(min_length=1)
    starts: Day
    freshmen_arrive: Day | None = None


class ScreeningPolicy(_Model):
    """Rounds, their instruments and timing, and the second stage after a positive result."""

    instruments: tuple[str, ...] = Field(default=("phq9", "gad7"), min_length=1)
    invite_at: Annotated[time, BeforeValidator(parse_hhmm)] = time(10, 0)
    open_days: int = Field(default=14, ge=1, le=90)
    reminder_days: tuple[int, ...] = (3, 7, 12)
    # A reminder sent now (from the console) waits this long after the round's last one.
    remind_gap_hours: int = Field(default=24, ge=1, le=24 * 14)
    freshmen_after_days: int = Field(default=30, ge=0, le=180)
    semesters: tuple[Semester, ...] = ()
    # instrument id → the second-stage instrument a positive result on it schedules
    second_stage: dict[str, str] = Field(default_factory=dict)
    second_stage_within_days: int = Field(default=7, ge=1, le=60)
    second_stage_reminder_days: tuple[int, ...] = (2, 5)

    @model_validator(mode="after")
    def _consistent(self) -> ScreeningPolicy:
        for field in ("reminder_days", "second_stage_reminder_days"):
            days: tuple[int, ...] = getattr(self, field)
            if list(days) != sorted(set(days)) or any(d < 1 for d in days):
                raise ValueError(f"{field}: give increasing whole days, each at least 1")
        if any(d >= self.open_days for d in self.reminder_days):
            raise ValueError(f"reminder_days: every reminder must fall before the round closes "
                             f"(open_days = {self.open_days})")
        if any(d >= self.second_stage_within_days for d in self.second_stage_reminder_days):
            raise ValueError("second_stage_reminder_days: every reminder must fall before "
                             f"second_stage_within_days ({self.second_stage_within_days})")
        starts = [s.starts for s in self.semesters]
        if starts != sorted(set(starts)):
            raise ValueError("semesters: list them in order, each starting on its own date")
        return self

    def freshmen_round(self, semester: Semester) -> date | None:
        """The day the freshmen's round is due, if this semester has freshmen arriving."""
        if semester.freshmen_arrive is None:
            return None
        return semester.freshmen_arrive + timedelta(days=self.freshmen_after_days)
