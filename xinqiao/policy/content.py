"""The ``[content]`` section of the policy: when the weekly tip goes out, and how fast."""

from __future__ import annotations

from datetime import time
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from xinqiao.policy.values import parse_hhmm

_ClockTime = Annotated[
    time, BeforeValidator(parse_hhmm), PlainSerializer(lambda t: f"{t:%H:%M}", return_type=str)
]


class ContentPolicy(BaseModel):
    """Weekly tips and campaign pushes (design.md §3.3); local times are Asia/Shanghai."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tip_weekday: int = Field(default=3, ge=1, le=7)  # ISO weekday: 1 Monday … 7 Sunday
    tip_at: _ClockTime = time(12, 30)
    # Subscribers pushed per timer firing, each chunk its own short transaction.
    chunk: int = Field(default=500, ge=10, le=5000)
