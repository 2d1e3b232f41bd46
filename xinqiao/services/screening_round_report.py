"""Completion of a screening round per class: counts only, never who answered what.

A student counts as completed when every instrument of the round is done, as declined when
they declined, and as unfinished otherwise. Colleges see their own classes, the centre all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.campaigns import InvitationStatus, ScreeningCampaign, ScreeningInvitation
from xinqiao.storage.models import College, Klass, Person


@dataclass(frozen=True)
class ClassCompletion:
    """One class's figures for one round."""

    college: str
    klass: str
    invited: int
    completed: int
    declined: int

    @property
    def unfinished(self) -> int:
        """Invited students who neither completed nor declined."""
        return self.invited - self.completed - self.declined

    @property
    def rate(self) -> float:
        """Completed share of the invited, 0..1."""
        return self.completed / self.invited if self.invited else 0.0


@dataclass(frozen=True)
class Round:
    """A screening round as its completion view names it."""

    id: int
    name: str
    opens_at: datetime
    closes_at: datetime
    status: str  # planned, open or closed (CampaignStatus)


def _round(c: ScreeningCampaign) -> Round:
    assert c.id is not None
    return Round(c.id, c.name, c.opens_at, c.closes_at, str(c.status))


async def recent_campaigns(s: AsyncSession, limit: int = 6) -> list[Round]:
    """The latest rounds that have opened, newest first."""
    rows = await s.exec(
        select(ScreeningCampaign).where(ScreeningCampaign.status != "planned")
        .order_by(col(ScreeningCampaign.opens_at).desc(), col(ScreeningCampaign.id).desc())
        .limit(limit))
    return [_round(c) for c in rows.all()]


async def round_by_id(s: AsyncSession, campaign_id: int) -> Round | None:
    """One round, or None."""
    c = await s.get(ScreeningCampaign, campaign_id)
    return _round(c) if c is not None else None


async def college_ids(s: AsyncSession) -> dict[str, int]:
    """Every college's id by its name."""
    return {name: cid for name, cid in (await s.exec(select(College.name, College.id))).all()
            if cid is not None}


async def completion(
    s: AsyncSession, campaign_id: int, college_id: int | None = None
) -> list[ClassCompletion]:
    """Per-class figures of a round, optionally for one college, ordered by college and class."""
    inv = ScreeningInvitation
    done = case((col(inv.status) == InvitationStatus.done.value, 1), else_=0)
    declined = case((col(inv.status) == InvitationStatus.declined.value, 1), else_=0)
    per_person = (
        select(col(inv.person_id).label("person_id"),
               func.min(done).label("all_done"), func.max(declined).label("declined"))
        .where(inv.campaign_id == campaign_id)
        .group_by(col(inv.person_id))
        .subquery())
    query = (
        sa_select(col(College.name), col(Klass.name), func.count(),
               func.sum(per_person.c.all_done), func.sum(per_person.c.declined))
        .select_from(per_person)
        .join(Person, col(Person.id) == per_person.c.person_id)
        .join(Klass, col(Klass.id) == Person.klass_id)
        .join(College, col(College.id) == Klass.college_id)
        .group_by(College.name, Klass.name)
        .order_by(College.name, Klass.name))
    if college_id is not None:
        query = query.where(col(Klass.college_id) == college_id)
    conn = await s.connection()  # five columns: beyond sqlmodel's typed select
    rows = (await conn.execute(query)).all()
    return [ClassCompletion(str(c), str(k), int(n), int(d or 0), int(x or 0))
            for c, k, n, d, x in rows]


def summary_line(rows: list[ClassCompletion]) -> str:
    """Totals over ``rows`` as one line of Chinese."""
    invited = sum(r.invited for r in rows)
    completed = sum(r.completed for r in rows)
    declined = sum(r.declined for r in rows)
    share = f"{completed / invited:.0%}" if invited else "—"
    return f"应测 {invited} 人，已完成 {completed} 人（{share}），不参加 {declined} 人"
