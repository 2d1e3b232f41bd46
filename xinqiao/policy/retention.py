"""The ``[retention]`` section of the policy: how long each kind of record is kept.

Counted in days. Chat traffic (inbox, outbox, conversations in progress) goes first; the free
text of reports is removed after ``report_text_days`` while the facts (kind, severity, dates,
units) stay for statistics; a student's screening record (results, invitations, consent, tier
history) is deleted ``after_leaving_days`` after they leave the school; crisis-case notes,
plans and decisions ``case_days`` after the case closed (10 years by default: some local rules
require counselling records to be kept that long); the audit trail after ``audit_days``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class RetentionPolicy(BaseModel):
    """Days each kind of record is kept."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chat_days: int = Field(default=90, ge=1)
    report_text_days: int = Field(default=1095, ge=1)
    after_leaving_days: int = Field(default=365, ge=0)
    case_days: int = Field(default=3650, ge=1)
    audit_days: int = Field(default=1825, ge=1)
