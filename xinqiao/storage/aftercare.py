"""Postvention on record: how a crisis case ended, and the aftercare rounds that follow it."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedJSON, EncryptedText
from xinqiao.storage.types import utc_column


class IncidentKind(StrEnum):
    """An incident that ends (or marks) a crisis case and may call for aftercare."""

    attempt = "attempt"  # 自杀未遂
    death = "death"  # 死亡


class CaseIncident(SQLModel, table=True):
    """事件结局: a case decision recording an attempt or a death, with its date."""

    __tablename__ = "case_incident"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))
    occurred_on: date
    note: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    recorded_by: int = Field(foreign_key="person.id")
    recorded_at: datetime = utc_column()


class RoundStatus(StrEnum):
    """An aftercare round is open until its window ends."""

    open = "open"
    closed = "closed"


class AftercareRound(SQLModel, table=True):
    """关怀回访: one follow-up round for a case student's dorm and class after an incident."""

    __tablename__ = "aftercare_round"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    status: str = Field(default=RoundStatus.open, sa_column=Column(String(16), nullable=False))
    dorm_id: int | None = Field(default=None, foreign_key="dorm.id")
    klass_id: int | None = Field(default=None, foreign_key="klass.id")
    started_by: int = Field(foreign_key="person.id")
    started_at: datetime = utc_column()
    remind_at: datetime = utc_column()
    closes_at: datetime = utc_column()
    closed_at: datetime | None = utc_column(nullable=True)


class InviteStatus(StrEnum):
    """An invitation is open until answered or the round closes."""

    open = "open"
    answered = "answered"
    expired = "expired"


class AftercareInvitation(SQLModel, table=True):
    """One roommate's or classmate's invitation and, once given, their (encrypted) answers."""

    __tablename__ = "aftercare_invitation"
    __table_args__ = (UniqueConstraint("round_id", "person_id"),)
    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(foreign_key="aftercare_round.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    unit: str = Field(sa_column=Column(String(8), nullable=False))  # dorm / klass
    reached: bool = False  # a chat account took the invitation (else unbound or unreachable)
    status: str = Field(default=InviteStatus.open, sa_column=Column(String(16), nullable=False))
    reminded: int = 0
    answered_at: datetime | None = utc_column(nullable=True)
    wants_talk: bool = False
    concern: bool = False  # the answers raised a concern item
    escalation_id: int | None = Field(default=None, foreign_key="escalation.id")
    answers: dict[str, Any] | None = Field(default=None, sa_column=Column(EncryptedJSON()))
