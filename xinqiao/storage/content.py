"""Tables for psycho-education pushes: weekly-tip subscriptions and the centre's campaigns.

The articles themselves are Markdown files (``services.content.library``), not rows: only who
asked for tips and what the centre scheduled to whom are stored.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.types import utc_column


class TipSubscription(SQLModel, table=True):
    """A person who opted in to the weekly tip; ``active`` False once they unsubscribe."""

    __tablename__ = "tip_subscription"
    __table_args__ = (
        UniqueConstraint("person_id"),
        # The weekly push walks active subscribers in person order, a chunk at a time.
        Index("ix_tip_subscription_active_person", "active", "person_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    active: bool = True
    subscribed_at: datetime = utc_column()
    unsubscribed_at: datetime | None = utc_column(nullable=True)


class ContentCampaignStatus(StrEnum):
    """Life of a content campaign."""

    planned = "planned"
    sending = "sending"
    sent = "sent"
    cancelled = "cancelled"
    failed = "failed"  # the article was not published when it was due


class ContentCampaign(SQLModel, table=True):
    """One article pushed by the centre to a target group at a set time (5·25, 10·10 ...).

    Target: everyone (no college, no year), one college, one enrolment year, or both.
    """

    __tablename__ = "content_campaign"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))
    slug: str = Field(sa_column=Column(String(100), nullable=False))
    college_id: int | None = Field(default=None, foreign_key="college.id")
    enrolment_year: int | None = None
    send_at: datetime = utc_column(index=True)
    status: ContentCampaignStatus = Field(
        default=ContentCampaignStatus.planned, sa_column=Column(String(16), nullable=False)
    )
    pushed: int = 0
    created_by: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = utc_column()
    finished_at: datetime | None = utc_column(nullable=True)
