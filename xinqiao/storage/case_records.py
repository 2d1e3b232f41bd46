"""A crisis case's green channel on record: referrals out, family contact, the way back."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedText
from xinqiao.storage.types import utc_column


class CaseReferral(SQLModel, table=True):
    """转介: the student taken to the school hospital or a psychiatric service."""

    __tablename__ = "case_referral"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    institution: str = Field(sa_column=Column(EncryptedText(), nullable=False))
    referred_on: date
    consent: str = Field(sa_column=Column(String(16), nullable=False))  # student/guardian/none
    accompanied_by: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    outcome: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    next_contact_on: date | None = None
    recorded_by: int = Field(foreign_key="person.id")
    recorded_at: datetime = utc_column()


class CaseFamilyContact(SQLModel, table=True):
    """家庭联系: who in the family was reached, when, and what was agreed."""

    __tablename__ = "case_family_contact"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    who: str = Field(sa_column=Column(EncryptedText(), nullable=False))
    contacted_on: date
    agreed: str = Field(sa_column=Column(EncryptedText(), nullable=False))
    recorded_by: int = Field(foreign_key="person.id")
    recorded_at: datetime = utc_column()


class CaseReturn(SQLModel, table=True):
    """复学评估: a student back from leave or treatment, assessed, then followed up."""

    __tablename__ = "case_return"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    returning_from: str = Field(sa_column=Column(String(16), nullable=False))  # leave/treatment
    assessed_on: date
    result: str = Field(sa_column=Column(EncryptedText(), nullable=False))
    every_days: int
    times: int
    recorded_by: int = Field(foreign_key="person.id")
    recorded_at: datetime = utc_column()


class CaseContactDue(SQLModel, table=True):
    """A contact the case owes on a day (a referral's next contact, a return follow-up)."""

    __tablename__ = "case_contact_due"
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="crisis_case.id", index=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False))  # referral / return
    source_id: int
    due_on: date
    done_at: datetime | None = utc_column(nullable=True)
    done_by: int | None = Field(default=None, foreign_key="person.id")


# Everything a closed case's retention purge removes with its notes, dependants first.
CASE_RECORDS = (CaseContactDue, CaseReturn, CaseFamilyContact, CaseReferral)
