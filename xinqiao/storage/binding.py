"""Binding safeguards: lockout per attempted id, and second-channel requests awaiting a yes."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from xinqiao.storage.types import utc_column


class BindGuard(SQLModel, table=True):
    """Failed codes typed for one 学号/工号 from any account; enough of them lock that id.

    ``target`` is a keyed hash of the attempted id (services/code_hash.py): ids that are not
    on the roster are counted too, so a lock tells nothing about whether an id exists.
    """

    __tablename__ = "bind_guard"
    target: str = Field(sa_column=Column(String(32), primary_key=True))
    failures: int = 0
    locked_until: datetime | None = utc_column(nullable=True)
    updated_at: datetime = utc_column()


class RequestStatus(StrEnum):
    """Life of a second-channel binding request."""

    pending = "pending"
    confirmed = "confirmed"
    denied = "denied"
    expired = "expired"


class BindingRequest(SQLModel, table=True):
    """A chat account asking to join a person who is already bound elsewhere."""

    __tablename__ = "binding_request"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    identity_id: int = Field(foreign_key="channel_identity.id", index=True)
    status: RequestStatus = Field(
        default=RequestStatus.pending, sa_column=Column(String(16), nullable=False))
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    decided_at: datetime | None = utc_column(nullable=True)
