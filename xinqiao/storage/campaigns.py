"""Tables for screening rounds: campaigns, the invitations they send, and the centre's duty rota.

A campaign (测评批次) asks a target group of students to complete first-stage instruments within
a window; each invitation is one student and one instrument, so completion is counted exactly.
A second-stage invitation (after a positive first-stage result) has no campaign.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.types import JSONType, utc_column


class CampaignKind(StrEnum):
    """Why a round runs (clinical.md §6: freshmen, each semester, key periods; or by hand)."""

    freshmen = "freshmen"
    semester = "semester"
    key_period = "key_period"
    manual = "manual"


class CampaignStatus(StrEnum):
    """Life of a campaign."""

    planned = "planned"
    open = "open"
    closed = "closed"


class InvitationStatus(StrEnum):
    """Life of one invitation."""

    open = "open"
    done = "done"
    declined = "declined"  # the student declined consent: no more reminders
    expired = "expired"


class InvitationReason(StrEnum):
    """Where an invitation came from."""

    campaign = "campaign"
    second_stage = "second_stage"


class ScreeningCampaign(SQLModel, table=True):
    """One screening round for a target group, open from ``opens_at`` to ``closes_at``."""

    __tablename__ = "screening_campaign"
    __table_args__ = (UniqueConstraint("key"),)
    id: int | None = Field(default=None, primary_key=True)
    # Policy rounds are keyed by what made them ("semester:2026-09-07") so planning is idempotent.
    key: str = Field(sa_column=Column(String(128), nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))
    kind: CampaignKind = Field(sa_column=Column(String(16), nullable=False))
    instruments: list[str] = Field(sa_column=Column(JSONType, nullable=False))
    # Target: enrolment years in / out (empty = no restriction) and colleges (empty = all).
    years: list[int] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    exclude_years: list[int] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    college_ids: list[int] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    reminder_days: list[int] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    opens_at: datetime = utc_column()
    closes_at: datetime = utc_column()
    status: CampaignStatus = Field(
        default=CampaignStatus.planned, sa_column=Column(String(16), nullable=False)
    )
    invited: int = 0
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_column()

    def target(self) -> dict[str, Any]:
        """The target group as plain data (for audit entries and messages)."""
        return {"years": self.years, "exclude_years": self.exclude_years,
                "college_ids": self.college_ids}


class ScreeningInvitation(SQLModel, table=True):
    """One student asked to complete one instrument, by a campaign or a second stage."""

    __tablename__ = "screening_invitation"
    __table_args__ = (
        UniqueConstraint("key"),
        Index("ix_invitation_person_status", "person_id", "status"),
        Index("ix_invitation_campaign_status", "campaign_id", "status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    # c<campaign>:<person>:<instrument> or s<result>:<instrument>: one invitation per cause.
    key: str = Field(sa_column=Column(String(128), nullable=False))
    person_id: int = Field(foreign_key="person.id")
    instrument: str = Field(sa_column=Column(String(32), nullable=False))
    reason: InvitationReason = Field(sa_column=Column(String(16), nullable=False))
    campaign_id: int | None = Field(default=None, foreign_key="screening_campaign.id")
    source_result_id: int | None = Field(default=None, foreign_key="screening_result.id")
    status: InvitationStatus = Field(
        default=InvitationStatus.open, sa_column=Column(String(16), nullable=False)
    )
    invited_at: datetime = utc_column()
    due_at: datetime = utc_column()
    completed_at: datetime | None = utc_column(nullable=True)
    result_id: int | None = Field(default=None, foreign_key="screening_result.id")
    reminders_sent: int = 0


class DutyShift(SQLModel, table=True):
    """A centre staff member on crisis duty from ``starts_at`` to ``ends_at`` (值班表)."""

    __tablename__ = "duty_shift"
    __table_args__ = (Index("ix_duty_shift_window", "starts_at", "ends_at"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    starts_at: datetime = utc_column()
    ends_at: datetime = utc_column()
    note: str | None = Field(default=None, sa_column=Column(String(200)))
    created_at: datetime = utc_column()
