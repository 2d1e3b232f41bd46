"""The audit trail: every staff read of a student's record, every binding, every refusal."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.models import AuditEntry


async def record(
    session: AsyncSession,
    *,
    at: datetime,
    action: str,
    actor_person_id: int | None,
    subject_person_id: int | None = None,
    allowed: bool = True,
    **detail: Any,
) -> AuditEntry:
    """Append one audit entry in the caller's transaction."""
    entry = AuditEntry(
        at=at,
        action=action,
        actor_person_id=actor_person_id,
        subject_person_id=subject_person_id,
        allowed=allowed,
        detail=detail,
    )
    session.add(entry)
    return entry
