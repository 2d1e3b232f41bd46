"""The ``[aftercare]`` section of the policy: the window of a round after an incident.

An aftercare round (关怀回访) invites a case student's roommates and classmates after an attempt
or a death; those who have not answered are reminded ``reminder_days`` after it starts, and the
round closes ``open_days`` after it starts. Everything a round pushes — the invitations, the
reminder, the starter's closing counts — goes out between ``send_from`` and ``send_until``
Asia/Shanghai time; one due at night waits for ``send_from`` the next morning (weekends
included: students are as reachable then, and a round must not lose two of its days).
Nobody is asked how they are at 2 a.m.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

from xinqiao.clock import SHANGHAI, utc
from xinqiao.policy.values import parse_hhmm

_ClockTime = Annotated[
    time, BeforeValidator(parse_hhmm), PlainSerializer(lambda t: f"{t:%H:%M}", return_type=str)
]


class AftercarePolicy(BaseModel):
    """When an aftercare round reminds the silent, when it closes, and the hours it pushes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reminder_days: int = Field(default=3, ge=1, le=30)
    open_days: int = Field(default=7, ge=1, le=60)
    send_from: _ClockTime = time(10, 0)
    send_until: _ClockTime = time(21, 0)

    @model_validator(mode="after")
    def _remind_before_close(self) -> AftercarePolicy:
        if self.reminder_days >= self.open_days:
            raise ValueError("reminder_days must be fewer than open_days")
        if self.send_from >= self.send_until:
            raise ValueError("send_from must be earlier than send_until")
        return self

    def daytime(self, at: datetime) -> datetime:
        """``at`` itself within the sending hours, else the next ``send_from`` (aware UTC)."""
        here = utc(at).astimezone(SHANGHAI)
        if self.send_from <= here.time() < self.send_until:
            return utc(at)
        day = here.date() + timedelta(days=0 if here.time() < self.send_from else 1)
        return datetime.combine(day, self.send_from, SHANGHAI).astimezone(utc(at).tzinfo)
