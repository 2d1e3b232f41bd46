"""Crisis cases (五个一): one student, one responsible lead, one team, one plan, to the end."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedText
from xinqiao.storage.types import utc_column


class CaseStatus(StrEnum):
    """A case is open until staff close it with a decision."""

    open = "open"
    closed = "closed"


class Case(SQLModel, table=True):
    """A student in the crisis pool and everything done for them until the case closes."""

    __tablename__ = "crisis_case"
    __table_args__ = (Index("ix_case_open", "status", "next_followup_at"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    status: CaseStatus = Field(
        default=CaseStatus.open, sa_column=Column(String(16), nullable=False)
    )
    opened_at: datetime = utc_column()
    source: str = Field(sa_column=Column(String(64), nullable=False))
    escalation_id: int | None = Field(default=None, foreign_key="escalation.id")
    lead_person_id: int | None = Field(default=None, foreign_key="person.id")
    plan: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    followup_days: int = 1
    next_followup_at: datetime | None = utc_column(nullable=True)
    token: int = 0
    closed_at: datetime | None = utc_column(nullable=True)
    closed_by: int | None = Field(default=None, foreign_key="person.id")
    decision: str | None = Field(default=None, sa_column=Column(EncryptedText()))


class CaseMember(SQLModel, table=True):
    """Someone on the case's team (the lead is a member too)."""

    __tablename__ = "case_member"
    __table_args__ = (UniqueConstraint("case_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    added_at: datetime = utc_column()


class CaseNote(SQLModel, table=True):
    """The case's timeline: follow-ups, plan changes, the closing decision."""

    __tablename__ = "case_note"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    at: datetime = utc_column()
    author_person_id: int | None = Field(default=None, foreign_key="person.id")
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    text: str = Field(sa_column=Column(EncryptedText(), nullable=False))


class SignoffStatus(StrEnum):
    """A request for the centre's sign-off waits until a centre member agrees or declines."""

    pending = "pending"
    approved = "approved"
    declined = "declined"


class CaseSignoff(SQLModel, table=True):
    """Closing a crisis case (or lowering a crisis tier) asked of the centre, and its answer."""

    __tablename__ = "case_signoff"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    requested_by: int = Field(foreign_key="person.id")
    requested_at: datetime = utc_column()
    decision: str = Field(sa_column=Column(EncryptedText(), nullable=False))
    tier: str = Field(sa_column=Column(String(16), nullable=False))
    status: SignoffStatus = Field(
        default=SignoffStatus.pending, sa_column=Column(String(16), nullable=False)
    )
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = utc_column(nullable=True)
