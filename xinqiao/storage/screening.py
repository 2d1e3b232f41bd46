"""Tables for screenings: consent, results, and every change of a student's attention tier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, String
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedJSON, EncryptedText
from xinqiao.storage.types import utc_column


class Consent(SQLModel, table=True):
    """A student's answer to a version of the screening consent (declines are kept too)."""

    __table_args__ = (Index("ix_consent_person_version", "person_id", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    version: str = Field(sa_column=Column(String(32), nullable=False))
    accepted: bool
    at: datetime = utc_column()


class ScreeningResult(SQLModel, table=True):
    """A completed instrument: answers, score, band and what it triggered."""

    __tablename__ = "screening_result"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    instrument: str = Field(sa_column=Column(String(32), nullable=False))
    instrument_version: str = Field(sa_column=Column(String(32), nullable=False))
    answers: dict[str, Any] = Field(sa_column=Column(EncryptedJSON(), nullable=False))
    total: int
    band: str = Field(sa_column=Column(String(32), nullable=False))
    tier: str = Field(sa_column=Column(String(16), nullable=False))
    positive: bool = False
    acute: bool = False
    created_at: datetime = utc_column(index=True)


class TierChange(SQLModel, table=True):
    """Who (or which rule) moved a student between tiers, when and why (design.md §2)."""

    __tablename__ = "tier_change"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    old: str = Field(sa_column=Column(String(16), nullable=False))
    new: str = Field(sa_column=Column(String(16), nullable=False))
    reason: str = Field(sa_column=Column(EncryptedText(), nullable=False))
    decided_by: int | None = Field(default=None, foreign_key="person.id")
    pending_review: bool = False
    at: datetime = utc_column()
