"""Tables for what flows up the network: reports, weekly check-ins, escalations, timers."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Column, Date, Index, SmallInteger, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from xinqiao.storage.crypto import EncryptedJSON, EncryptedText
from xinqiao.storage.types import JSONType, utc_column


class Severity(StrEnum):
    """How fast a human must acknowledge; picks the escalation chain from the policy."""

    routine = "routine"
    soon = "soon"
    urgent = "urgent"
    crisis = "crisis"


class ReportKind(str):
    """A report's kind, stored as a string. The registry (services/report_types) lists every
    kind, read from the report forms' ``[report]`` tables; these are the ones code names."""

    __slots__ = ()
    checkin: ClassVar[ReportKind]
    dorm: ClassVar[ReportKind]
    urgent: ClassVar[ReportKind]
    crisis: ClassVar[ReportKind]  # crisis language in a message, or an acute screening answer
    concern: ClassVar[ReportKind]  # concern-level words: the writer was asked (services/concern)
    screening: ClassVar[ReportKind]  # a screening answer to follow up (PHQ-9 item 9)

    @classmethod
    def named(cls) -> tuple[ReportKind, ...]:
        """The kinds code names (each must be in the registry)."""
        return tuple(v for v in vars(cls).values() if isinstance(v, ReportKind))


for _name in ("checkin", "dorm", "urgent", "crisis", "concern", "screening"):
    setattr(ReportKind, _name, ReportKind(_name))


class Report(SQLModel, table=True):
    """One report from the network; check-in amendments are new rows that supersede the old."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(16), nullable=False, index=True))
    reporter_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    subject_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    subject_name: str | None = Field(default=None, sa_column=Column(String(100)))
    college_id: int | None = Field(default=None, foreign_key="college.id", index=True)
    klass_id: int | None = Field(default=None, foreign_key="klass.id", index=True)
    dorm_id: int | None = Field(default=None, foreign_key="dorm.id")
    severity: Severity = Field(sa_column=Column(String(16), nullable=False))
    factors: list[str] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    answers: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(EncryptedJSON(), nullable=False)
    )
    supersedes: int | None = Field(default=None, foreign_key="report.id")
    created_at: datetime = utc_column(index=True)
    # Set when retention removed the free text (answers, names); the facts stay for statistics.
    redacted_at: datetime | None = utc_column(nullable=True)


class CheckIn(SQLModel, table=True):
    """A class's weekly check-in for one due period; points at its latest report version."""

    __tablename__ = "checkin"
    __table_args__ = (UniqueConstraint("klass_id", "period"),)
    id: int | None = Field(default=None, primary_key=True)
    klass_id: int = Field(foreign_key="klass.id", index=True)
    period: date = Field(sa_column=Column(Date, nullable=False, index=True))
    report_id: int = Field(foreign_key="report.id")
    nothing_to_report: bool = False
    submitted_by: int | None = Field(default=None, foreign_key="person.id")
    submitted_at: datetime = utc_column()
    versions: int = 1


class EscalationStatus(StrEnum):
    """Open until someone acknowledges; resolved closes it."""

    open = "open"
    acked = "acked"
    resolved = "resolved"


class Escalation(SQLModel, table=True):
    """A report (or a missing check-in) climbing the chain until a human acknowledges it.

    ``chain`` is the policy snapshot taken when it opened; later policy edits don't move it.
    ``token`` changes with every step, so a stale or duplicate deadline does nothing.
    """

    __table_args__ = (Index("ix_escalation_open", "status", "opened_at"),)
    id: int | None = Field(default=None, primary_key=True)
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    # What needs a human: "report:<id>" or "checkin:<klass id>:<period>"; one open per subject.
    subject: str = Field(sa_column=Column(String(64), nullable=False, index=True))
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    subject_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    college_id: int | None = Field(default=None, foreign_key="college.id", index=True)
    klass_id: int | None = Field(default=None, foreign_key="klass.id", index=True)
    severity: Severity = Field(sa_column=Column(String(16), nullable=False))
    chain: list[dict[str, Any]] = Field(sa_column=Column(JSONType, nullable=False))
    level: int = 0
    repeats: int = 0
    token: int = 0
    status: EscalationStatus = Field(
        default=EscalationStatus.open, sa_column=Column(String(16), nullable=False)
    )
    due_at: datetime | None = utc_column(nullable=True)
    opened_at: datetime = utc_column()
    acked_at: datetime | None = utc_column(nullable=True)
    acked_by: int | None = Field(default=None, foreign_key="person.id")
    resolved_at: datetime | None = utc_column(nullable=True)
    resolved_by: int | None = Field(default=None, foreign_key="person.id")
    resolution: str | None = Field(default=None, sa_column=Column(EncryptedText()))
    # Set when the chain ran out with nobody acknowledging (无人确认); cleared by an ack.
    exhausted_at: datetime | None = utc_column(nullable=True)


class EscalationRecipient(SQLModel, table=True):
    """Someone an escalation was sent to, at which level: who may see and acknowledge it."""

    __tablename__ = "escalation_recipient"
    __table_args__ = (UniqueConstraint("escalation_id", "person_id", "level"),)
    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    level: int = 0
    notified_at: datetime = utc_column()


class EscalationStep(SQLModel, table=True):
    """The audit trail of an escalation: opened, notified, escalated, acked, resolved."""

    __tablename__ = "escalation_step"
    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    at: datetime = utc_column()
    action: str = Field(sa_column=Column(String(32), nullable=False))
    level: int = 0
    recipients: list[int] = Field(default_factory=list, sa_column=Column(JSONType, nullable=False))
    actor_person_id: int | None = Field(default=None, foreign_key="person.id")
    note: str | None = Field(default=None, sa_column=Column(EncryptedText()))


class Timer(SQLModel, table=True):
    """A durable deadline: due rows are claimed by the sweeper and fired exactly once."""

    __table_args__ = (
        UniqueConstraint("kind", "ref", "token"),
        Index("ix_timer_due", "fired_at", "due_at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(sa_column=Column(String(32), nullable=False))
    ref: str = Field(sa_column=Column(String(64), nullable=False))
    token: int = 0
    due_at: datetime = utc_column()
    fired_at: datetime | None = utc_column(nullable=True)
    created_at: datetime = utc_column()
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # Lower fires first when many are due (services.timers.TimerPriority).
    priority: int = Field(default=50, sa_column=Column(SmallInteger, nullable=False,
                                                       server_default="50"))


class MonthlyReport(SQLModel, table=True):
    """A college's monthly summary (月报), generated for its lead to confirm to the centre."""

    __tablename__ = "monthly_report"
    __table_args__ = (UniqueConstraint("college_id", "month"),)
    id: int | None = Field(default=None, primary_key=True)
    college_id: int = Field(foreign_key="college.id", index=True)
    month: date = Field(sa_column=Column(Date, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONType, nullable=False))
    generated_at: datetime = utc_column()
    confirmed_by: int | None = Field(default=None, foreign_key="person.id")
    confirmed_at: datetime | None = utc_column(nullable=True)
    # The lead's note to the centre: free words, so encrypted (the column was always Text).
    note: str | None = Field(default=None, sa_column=Column(EncryptedText()))


class EscalationReport(SQLModel, table=True):
    """A later report about the same student that joined an open escalation (not a new one)."""

    __tablename__ = "escalation_report"
    __table_args__ = (UniqueConstraint("escalation_id", "report_id"),)
    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(foreign_key="escalation.id", index=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    joined_at: datetime = utc_column()
