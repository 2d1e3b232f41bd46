"""Care around an alert: students' safety plans, and the network's practice sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedJSON
from xinqiao.storage.types import utc_column


class SafetyPlan(SQLModel, table=True):
    """One version of a student's safety plan (Stanley–Brown): an edit adds a version, so the
    history stays; the newest version is the plan."""

    __tablename__ = "safety_plan"
    __table_args__ = (UniqueConstraint("person_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    version: int
    # step key -> the lines the student chose or wrote: what they would do in a crisis.
    steps: dict[str, Any] = Field(sa_column=Column(EncryptedJSON(), nullable=False))
    written_by: int | None = Field(default=None, foreign_key="person.id")
    written_at: datetime = utc_column()


class PracticeSession(SQLModel, table=True):
    """A training session (练习): reports and check-ins filed in it reach only the person."""

    __tablename__ = "practice_session"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    started_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    ended_at: datetime | None = utc_column(nullable=True)
    end_reason: str | None = Field(default=None, sa_column=Column(String(16)))


class PracticeRun(SQLModel, table=True):
    """One report or check-in practised: which kind and when, never the answers."""

    __tablename__ = "practice_run"
    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(foreign_key="practice_session.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    at: datetime = utc_column()
    crisis_word: bool = False  # crisis words typed in practice (shown what would happen)
