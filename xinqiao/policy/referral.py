"""The ``[referral]`` section of the policy: where the centre's green channel leads.

``institutions`` are the places a crisis case's referral offers as taps (the school hospital
first, then the psychiatric services the school has an agreement with); staff may always type
another. ``return_followups`` are the cadences a return assessment (复学评估) offers: every so
many days, so many times.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReturnCadence(BaseModel):
    """Follow a returning student up every ``every_days`` days, ``times`` times."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    every_days: int = Field(ge=1, le=92)
    times: int = Field(ge=1, le=12)


class ReferralPolicy(BaseModel):
    """The institutions a referral offers, and the return assessment's follow-up cadences."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    institutions: tuple[str, ...] = Field(
        default=("校医院", "市精神卫生中心"), min_length=1, max_length=6)
    return_followups: tuple[ReturnCadence, ...] = Field(
        default=(ReturnCadence(every_days=7, times=4), ReturnCadence(every_days=14, times=4),
                 ReturnCadence(every_days=30, times=3)), min_length=1, max_length=4)
