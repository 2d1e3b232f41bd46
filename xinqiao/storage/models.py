"""SQLModel tables: the four-level network, channels, inbox, outbox, state and audit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Float, Index, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedJSON, EncryptedText
from xinqiao.storage.types import JSONType, utc_column

# Re-exported: the rows are built on the shared vocabulary and older importers name it here.
from xinqiao.vocabulary import Role as Role
from xinqiao.vocabulary import Tier as Tier

# --- the four-level network -------------------------------------------------------------


class School(SQLModel, table=True):
    """Level 1: the school and its counselling centre."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_column=Column(String(64), unique=True, nullable=False))
    name: str = Field(sa_column=Column(String(200), nullable=False))


class College(SQLModel, table=True):
    """Level 2: a college (二级学院) and its workstation."""

    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))


class Klass(SQLModel, table=True):
    """Level 3: a class (班级); ``klass`` because ``class`` is a keyword."""

    __table_args__ = (UniqueConstraint("college_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    college_id: int = Field(foreign_key="college.id", index=True)
    name: str = Field(sa_column=Column(String(200), nullable=False))


class Dorm(SQLModel, table=True):
    """Level 4: a dorm room (宿舍); unique per school, its residents may span classes."""

    __table_args__ = (UniqueConstraint("school_id", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    name: str = Field(sa_column=Column(String(100), nullable=False))


class Person(SQLModel, table=True):
    """Anyone on the roster: students, reporters and staff."""

    __table_args__ = (UniqueConstraint("school_id", "external_id"),)
    id: int | None = Field(default=None, primary_key=True)
    school_id: int = Field(foreign_key="school.id", index=True)
    external_id: str = Field(sa_column=Column(String(64), nullable=False))
    name: str = Field(sa_column=Column(String(100), nullable=False))
    college_id: int | None = Field(default=None, foreign_key="college.id", index=True)
    klass_id: int | None = Field(default=None, foreign_key="klass.id", index=True)
    dorm_id: int | None = Field(default=None, foreign_key="dorm.id", index=True)
    phone: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    # The year a student enrolled (入学年份, "2026级"): screening rounds target years by it.
    enrolment_year: int | None = Field(default=None, index=True)
    # The member's WeCom (企业微信) userid from the roster: bound on WeCom without a code.
    wecom_userid: str | None = Field(default=None, sa_column=Column(String(64), index=True))
    activation_code: str = Field(sa_column=Column(String(32), nullable=False))
    # Indexed: 关注名单 finds the few students off the routine tier among tens of thousands.
    tier: Tier = Field(default=Tier.routine,
                       sa_column=Column(String(16), nullable=False, index=True))
    active: bool = True
    # When the person left the school (graduated, withdrew): retention counts from here.
    left_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class RoleAssignment(SQLModel, table=True):
    """A role a person holds, with the unit it serves (class or college; none for centre).

    An advisor may serve several classes, so a person may hold one role more than once.
    """

    __tablename__ = "role_assignment"
    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    role: Role = Field(sa_column=Column(String(32), nullable=False, index=True))
    college_id: int | None = Field(default=None, foreign_key="college.id", index=True)
    klass_id: int | None = Field(default=None, foreign_key="klass.id", index=True)
    dorm_id: int | None = Field(default=None, foreign_key="dorm.id", index=True)


class RosterVersion(SQLModel, table=True):
    """One row counting changes to people and their roles (bumped by database triggers, so
    every writer counts, a CLI import in another process included): a process's cache of who
    people are holds while it reads the same number."""

    __tablename__ = "roster_version"
    id: int | None = Field(default=None, primary_key=True)
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # PostgreSQL: the transaction that last bumped it (one bump per transaction).
    bumped_in: int | None = Field(default=None, sa_column=Column(BigInteger))


class ChannelIdentity(SQLModel, table=True):
    """One chat account (WeChat openid, Telegram chat id, console name), bound or not."""

    __tablename__ = "channel_identity"
    __table_args__ = (UniqueConstraint("channel", "address"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    address: str = Field(sa_column=Column(String(128), nullable=False))
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    bound_at: datetime | None = utc_column(nullable=True)
    bind_failures: int = 0
    bind_locked_until: datetime | None = utc_column(nullable=True)
    last_inbound_at: datetime | None = utc_column(nullable=True)
    reachable: bool = True
    preferred: bool = False
    created_at: datetime = utc_column()


# --- messages in and out ----------------------------------------------------------------


class InboxStatus(StrEnum):
    """Life of an inbound message."""

    pending = "pending"
    done = "done"
    failed = "failed"
    ignored = "ignored"


class InboxMessage(SQLModel, table=True):
    """Every inbound message or event, stored under its dedupe key before it is handled."""

    __tablename__ = "inbox_message"
    __table_args__ = (
        UniqueConstraint("channel", "dedupe_key"),
        Index("ix_inbox_pending", "status", "id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    dedupe_key: str = Field(sa_column=Column(String(255), nullable=False))
    address: str = Field(sa_column=Column(String(128), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(EncryptedJSON(), nullable=False))
    status: InboxStatus = Field(
        default=InboxStatus.pending, sa_column=Column(String(16), nullable=False)
    )
    attempts: int = 0
    received_at: datetime = utc_column()
    processed_at: datetime | None = utc_column(nullable=True)
    replied_passively: bool = False
    reply: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(EncryptedJSON()))
    error: str | None = Field(default=None, sa_column=Column(Text))


class OutboxStatus(StrEnum):
    """Life of a push."""

    pending = "pending"
    sent = "sent"
    delivered = "delivered"
    failed = "failed"
    dead = "dead"
    superseded = "superseded"  # an alert delivered on another channel of the person instead


class OutboxMessage(SQLModel, table=True):
    """A push waiting to go out (or gone): replies too slow for the window, alerts, reminders."""

    __tablename__ = "outbox_message"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_outbox_due", "status", "priority", "next_attempt_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(sa_column=Column(String(128), nullable=False))
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    address: str = Field(sa_column=Column(String(128), nullable=False))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    priority: int = 50
    payload: dict[str, Any] = Field(sa_column=Column(EncryptedJSON(), nullable=False))
    status: OutboxStatus = Field(
        default=OutboxStatus.pending, sa_column=Column(String(16), nullable=False)
    )
    attempts: int = 0
    next_attempt_at: datetime = utc_column()
    claimed_until: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    provider_msg_id: str | None = Field(default=None, sa_column=Column(String(64), index=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    fallback_of: int | None = Field(default=None, foreign_key="outbox_message.id")


class AccessToken(SQLModel, table=True):
    """The one shared WeChat access token per appid, refreshed under a row lock."""

    __tablename__ = "access_token"
    appid: str = Field(sa_column=Column(String(64), primary_key=True))
    token: str = Field(default="", sa_column=Column(Text, nullable=False))
    expires_at: datetime | None = utc_column(nullable=True)
    fetched_at: datetime | None = utc_column(nullable=True)
    fetch_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class SendBudget(SQLModel, table=True):
    """A channel's send allowance (token bucket), shared by every process that sends on it.

    The platforms limit the account or the bot, not each process: ``serve --workers N`` takes
    its tokens here, under a row lock, so N workers together keep to the configured rate.
    """

    __tablename__ = "send_budget"
    channel: str = Field(sa_column=Column(String(32), primary_key=True))
    tokens: float = Field(sa_column=Column(Float, nullable=False))
    updated_at: datetime = utc_column()


class MemberSend(SQLModel, table=True):
    """One push to one member, kept for an hour: WeCom's per-member limits are sliding counts."""

    __tablename__ = "member_send"
    __table_args__ = (Index("ix_member_send_channel_address_at", "channel", "address", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(sa_column=Column(String(16), nullable=False))
    address: str = Field(sa_column=Column(String(128), nullable=False))
    at: datetime = utc_column()


# --- conversation and audit -------------------------------------------------------------


class ConversationState(SQLModel, table=True):
    """Where one chat identity stands in a conversation; versioned for optimistic locking."""

    __tablename__ = "conversation_state"
    identity_id: int = Field(foreign_key="channel_identity.id", primary_key=True)
    flow: str | None = Field(default=None, sa_column=Column(String(64)))
    step: str | None = Field(default=None, sa_column=Column(String(64)))
    data: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON(), nullable=False)
    )
    suspended: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON(), nullable=False)
    )
    choices: list[list[str]] = Field(
        default_factory=list, sa_column=Column(JSONType, nullable=False)
    )
    version: int = 0
    updated_at: datetime = utc_column()


class AuditEntry(SQLModel, table=True):
    """Who did or read what about whom, and whether it was allowed."""

    __tablename__ = "audit_entry"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_column(index=True)
    actor_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    action: str = Field(sa_column=Column(String(64), nullable=False))
    subject_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    allowed: bool = True
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON(), nullable=False)
    )
