"""Tables of the staff console: one-time login links and the sessions they open.

Only hashes of the link token and of the session cookie are stored, so a copy of the
database (or of a backup) opens no console session.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, String
from sqlmodel import Field, SQLModel

from xinqiao.storage.types import utc_column


class ConsoleLoginToken(SQLModel, table=True):
    """A one-time login link sent in chat: valid a few minutes, used once, for one person."""

    __tablename__ = "console_login_token"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    person_id: int = Field(foreign_key="person.id", index=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))  # where it was asked for
    created_at: datetime = utc_column()
    expires_at: datetime = utc_column()
    used_at: datetime | None = utc_column(nullable=True)


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser: ends on logout, revocation, idle or absolute timeout, or unbind."""

    __tablename__ = "console_session"
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    # The synchronizer CSRF token: every state-changing request must carry it back.
    csrf: str = Field(sa_column=Column(String(64), nullable=False))
    person_id: int = Field(foreign_key="person.id", index=True)
    created_at: datetime = utc_column()
    last_seen_at: datetime = utc_column()
    ended_at: datetime | None = utc_column(nullable=True, index=True)
    end_reason: str | None = Field(default=None, sa_column=Column(String(32)))
    user_agent: str = Field(default="", sa_column=Column(String(200), nullable=False))
