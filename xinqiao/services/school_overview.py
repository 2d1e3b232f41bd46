"""全校待办's facts: every open or acknowledged item of a school, without any content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import utc
from xinqiao.services import audit
from xinqiao.services.severity import RANK
from xinqiao.storage.models import College, Klass, Person
from xinqiao.storage.reports import Escalation, EscalationStatus, Severity


@dataclass(frozen=True)
class OpenItem:
    """Where one unfinished item stands: no report text, no student."""

    id: int
    kind: str
    severity: Severity
    status: EscalationStatus
    unacknowledged: bool  # the chain ran out with nobody acknowledging
    level: dict[str, Any] | None  # the chain entry it waits at, if still on the chain
    opened_at: datetime
    college: str | None
    klass: str | None

    @property
    def awaiting_ack(self) -> bool:
        """Nobody has acknowledged it yet (待确认)."""
        return self.status is EscalationStatus.open


async def school_overview(s: AsyncSession, actor_person_id: int | None, school_id: int | None,
                          now: datetime) -> list[OpenItem]:
    """The school's open and acknowledged items, unacknowledged and most severe first, oldest
    first within; the read is audited."""
    rows = (await s.exec(
        select(Escalation, College.name, Klass.name)
        .join(College, col(College.id) == Escalation.college_id, isouter=True)
        .join(Klass, col(Klass.id) == Escalation.klass_id, isouter=True)
        .join(Person, col(Person.id) == Escalation.subject_person_id, isouter=True)
        .where(col(Escalation.status).in_([EscalationStatus.open.value,
                                           EscalationStatus.acked.value]),
               (col(College.school_id) == school_id)
               | (col(Person.school_id) == school_id)))).all()
    await audit.record(s, at=now, action="report.school_overview",
                       actor_person_id=actor_person_id, count=len(rows))
    rows = sorted(rows, key=lambda r: (r[0].status != EscalationStatus.open,
                                       -RANK[Severity(r[0].severity)], utc(r[0].opened_at)))
    return [OpenItem(
        id=esc.id or 0, kind=esc.kind, severity=Severity(esc.severity),
        status=EscalationStatus(esc.status),
        unacknowledged=esc.status == EscalationStatus.open and esc.exhausted_at is not None,
        level=esc.chain[esc.level] if esc.level < len(esc.chain) else None,
        opened_at=esc.opened_at, college=college, klass=klass)
        for esc, college, klass in rows]
