"""The ``[aftercare]`` section of the policy: the window of a round after an incident.

An aftercare round (关怀回访) invites a case student's roommates and classmates after an attempt
or a death; those who have not answered are reminded ``reminder_days`` after it starts, and the
round closes ``open_days`` after it starts. A round's invitations and reminders go out at
``send_from``…``send_until`` local time at the latest (a reminder due at night waits for the
morning): nobody is asked how they are at 2 a.m.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AftercarePolicy(BaseModel):
    """When an aftercare round reminds the silent and when it closes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reminder_days: int = Field(default=3, ge=1, le=30)
    open_days: int = Field(default=7, ge=1, le=60)

    @model_validator(mode="after")
    def _remind_before_close(self) -> AftercarePolicy:
        if self.reminder_days >= self.open_days:
            raise ValueError("reminder_days must be fewer than open_days")
        return self
