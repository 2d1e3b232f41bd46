"""A staff member's own crisis words: a private word to the centre lead, never a student case.

Staff are colleagues, not clients of the student crisis pool: no report, no escalation, no
case, no tier, nothing counted in a college's 月报. The centre lead (or, when the writer is the
only lead, the centre staff) gets one push a day per writer, naming the colleague and how to
reach them but never the words; the audit trail keeps that it happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.services import audit
from xinqiao.services.directory import ROLE_LABELS, STAFF_ROLES, roles_of, row_of
from xinqiao.services.outbox import Priority
from xinqiao.services.pushed import Pushed
from xinqiao.services.recipients import push_to_people
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.vocabulary import Rostered


class StaffCareWording(Protocol):
    """The private push's words; ``handlers/crisis_texts`` is one, passed in by the caller."""

    def colleague_push(self, roles: tuple[str, ...], name: str, external_id: str,
                       phone: str | None, at: datetime) -> Pushed:
        """The push to the centre lead: who, when, how to reach them; never the words."""
        ...

    def colleague_card(self, roles: tuple[str, ...], name: str,
                       at: datetime) -> dict[str, object]:
        """The template card that push carries."""
        ...


@dataclass(frozen=True)
class StaffCared:
    """Who was told: anyone at all, and whether they were the centre lead(s)."""

    told: bool
    leads: bool


async def _holders(s: AsyncSession, role: Role, school_id: int, but: int) -> list[int]:
    rows = await s.exec(
        select(RoleAssignment.person_id).join(Person, col(Person.id) == RoleAssignment.person_id)
        .where(RoleAssignment.role == role.value, col(Person.active).is_(True),
               Person.school_id == school_id, Person.id != but).distinct())
    return sorted(rows.all())


async def staff_in_distress(s: AsyncSession, words: StaffCareWording, staff: Rostered, *,
                            detail: dict[str, Any], now: datetime) -> StaffCared:
    """Tell the centre lead privately that a colleague wrote crisis words; who was told."""
    assert staff.id is not None
    leads = await _holders(s, Role.centre_lead, staff.school_id, staff.id)
    to = leads or await _holders(s, Role.centre_staff, staff.school_id, staff.id)
    held = {Role(a.role) for a in await roles_of(s, staff.id)} & STAFF_ROLES
    roles = tuple(label for r, label in ROLE_LABELS.items() if r in held)
    phone = (await row_of(s, staff)).phone  # the view a flow holds carries no phone
    reached = await push_to_people(
        s, to, key=f"staff-care:{staff.id}:{local(now):%Y%m%d}", now=now,
        reply=words.colleague_push(roles, staff.name, staff.external_id, phone, now),
        kind="alert", priority=Priority.crisis,
        alert=words.colleague_card(roles, staff.name, now))
    # The words stay out of the push; the audit entry (encrypted detail) records the event.
    await audit.record(s, at=now, action="staff.distress", actor_person_id=staff.id,
                       told=to, reached=reached, rule=detail.get("rule"),
                       category=detail.get("category"), channel=detail.get("channel"))
    return StaffCared(told=bool(to), leads=bool(leads))
