"""Who receives what: the people at an escalation level, and the channel to reach each."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.storage.models import ChannelIdentity, Person, Role, RoleAssignment

# Level names of the policy and the roles (and unit) each one reaches.
LEVEL_ROLES: dict[str, tuple[tuple[Role, ...], str | None]] = {
    "committee": ((Role.committee,), "klass"),
    "class_advisor": ((Role.class_advisor,), "klass"),
    "college": ((Role.college_lead, Role.college_counsellor), "college"),
    # With no duty rota configured every centre_staff member is on duty.
    "centre": ((Role.centre_staff,), None),
    "centre_lead": ((Role.centre_lead,), None),
}


async def level_recipients(
    s: AsyncSession, levels: Iterable[str], college_id: int | None, klass_id: int | None
) -> list[int]:
    """Active people holding the roles of these levels for the given unit."""
    found: set[int] = set()
    for level in levels:
        roles, unit = LEVEL_ROLES[level]
        query = (
            select(RoleAssignment.person_id)
            .join(Person, col(Person.id) == RoleAssignment.person_id)
            .where(col(RoleAssignment.role).in_([r.value for r in roles]),
                   col(Person.active).is_(True))
        )
        if unit == "klass":
            if klass_id is None:
                continue
            query = query.where(RoleAssignment.klass_id == klass_id)
        elif unit == "college":
            if college_id is None:
                continue
            query = query.where(RoleAssignment.college_id == college_id)
        found.update((await s.exec(query)).all())
    return sorted(found)


async def best_identity(s: AsyncSession, person_id: int) -> ChannelIdentity | None:
    """The chat account to push to: preferred, then most recently used; console last."""
    rows = await s.exec(
        select(ChannelIdentity)
        .where(ChannelIdentity.person_id == person_id, col(ChannelIdentity.reachable).is_(True))
        .order_by(
            col(ChannelIdentity.preferred).desc(),
            (col(ChannelIdentity.channel) == "console").asc(),
            col(ChannelIdentity.last_inbound_at).desc().nulls_last(),
            col(ChannelIdentity.id),
        )
        .limit(1)
    )
    return rows.first()


async def push_to_people(
    s: AsyncSession,
    people: Iterable[int],
    *,
    key: str,
    reply: Reply,
    now: datetime,
    kind: str = "reminder",
    priority: int = Priority.reminder,
    alert: dict[str, Any] | None = None,
) -> list[int]:
    """Queue one push per person, keyed ``{key}:{person id}``, on their best chat account.

    Returns who could be reached; people with no reachable account are left out.
    """
    reached = []
    for person_id in sorted(set(people)):
        identity = await best_identity(s, person_id)
        if identity is None:
            continue
        payload: dict[str, Any] = {"reply": reply.to_json()}
        if alert is not None:
            payload["alert"] = alert
        await enqueue(s, key=f"{key}:{person_id}", channel=identity.channel,
                      address=identity.address, kind=kind, payload=payload, now=now,
                      person_id=person_id, priority=priority)
        reached.append(person_id)
    return reached
