"""Who receives what: the people at an escalation level, and the channel to reach each."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.outbox import Priority, Push, enqueue_many
from xinqiao.services.push_choices import offer_choices
from xinqiao.services.pushed import Pushed  # what push_to_people queues, unread
from xinqiao.services.rota import on_duty
from xinqiao.storage.models import ChannelIdentity, Person, Role, RoleAssignment

_IN_CHUNK = 1000  # ids per IN (...) list

# Level names of the policy and the roles (and unit) each one reaches.
LEVEL_ROLES: dict[str, tuple[tuple[Role, ...], str | None]] = {
    "committee": ((Role.committee,), "klass"),
    "class_advisor": ((Role.class_advisor,), "klass"),
    "college": ((Role.college_lead, Role.college_counsellor), "college"),
    "college_counsellor": ((Role.college_counsellor,), "college"),
    # The centre staff on the duty rota at the time (everyone without a rota): services/rota.
    "centre": ((Role.centre_staff,), "duty"),
    "centre_lead": ((Role.centre_lead,), None),
}


async def level_recipients(
    s: AsyncSession, levels: Iterable[str], college_id: int | None, klass_id: int | None,
    at: datetime | None = None,
) -> list[int]:
    """Active people holding the roles of these levels for the given unit (on duty ``at``)."""
    found: set[int] = set()
    for level in levels:
        roles, unit = LEVEL_ROLES[level]
        if unit == "duty" and at is not None:
            found.update(await on_duty(s, at))
            continue
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


async def unreachable(s: AsyncSession, people: Iterable[int]) -> dict[int, str]:
    """Those of ``people`` no push can reach: "unbound" (no chat account) or "unreachable"
    (every account they had stopped accepting pushes)."""
    wanted = sorted(set(people))
    seen: dict[int, bool] = {}
    for start in range(0, len(wanted), _IN_CHUNK):
        rows = await s.exec(
            select(ChannelIdentity.person_id, ChannelIdentity.reachable)
            .where(col(ChannelIdentity.person_id).in_(wanted[start:start + _IN_CHUNK])))
        for person_id, reachable in rows.all():
            if person_id is not None:
                seen[person_id] = seen.get(person_id, False) or bool(reachable)
    return {p: ("unbound" if p not in seen else "unreachable")
            for p in wanted if not seen.get(p, False)}


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


async def best_identities(
    s: AsyncSession, people: Iterable[int]
) -> dict[int, ChannelIdentity]:
    """``best_identity`` for many people in one query (same order of preference)."""
    wanted = sorted(set(people))
    rows: list[ChannelIdentity] = []
    for start in range(0, len(wanted), _IN_CHUNK):
        rows += (await s.exec(
            select(ChannelIdentity)
            .where(col(ChannelIdentity.person_id).in_(wanted[start:start + _IN_CHUNK]),
                   col(ChannelIdentity.reachable).is_(True)))).all()
    never = datetime.min.replace(tzinfo=UTC)

    def rank(i: ChannelIdentity) -> tuple[bool, bool, float, int]:
        last = (i.last_inbound_at or never).timestamp()
        return (not i.preferred, i.channel == "console", -last, i.id or 0)

    best: dict[int, ChannelIdentity] = {}
    for identity in sorted(rows, key=rank):
        if identity.person_id is not None:
            best.setdefault(identity.person_id, identity)
    return best


async def push_to_people(
    s: AsyncSession,
    people: Iterable[int],
    *,
    key: str,
    reply: Pushed,
    now: datetime,
    kind: str = "reminder",
    priority: int = Priority.reminder,
    alert: dict[str, Any] | None = None,
) -> list[int]:
    """Queue one push per person, keyed ``{key}:{person id}``, on their best chat account.

    One query finds the accounts and one statement queues the pushes, so a round inviting
    hundreds of students at a time stays a short transaction. Returns who could be reached;
    people with no reachable account are left out.
    """
    payload: dict[str, Any] = {"reply": reply.to_json()}
    if alert is not None:
        payload["alert"] = alert
    identities = await best_identities(s, people)
    if reply.choices and priority < Priority.bulk:  # not for mass pushes: one row each
        await offer_choices(s, [i.id for i in identities.values() if i.id is not None],
                            reply.choices, now)
    await enqueue_many(s, [
        Push(key=f"{key}:{person_id}", channel=identity.channel, address=identity.address,
             kind=kind, payload=payload, person_id=person_id, priority=priority)
        for person_id, identity in sorted(identities.items())], now=now)
    return sorted(identities)
