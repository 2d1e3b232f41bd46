"""The 月报's figures beyond check-ins: screening, counselling, crisis cases, response times.

Every figure is a count (or a duration) over one college's students in one month; no name, no
answer and no note leaves here, so a college sees what its students' care amounted to without
seeing whose it was.
"""

from __future__ import annotations

from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.booking import Appointment, AppointmentStatus, Referral
from xinqiao.storage.campaigns import InvitationStatus, ScreeningCampaign, ScreeningInvitation
from xinqiao.storage.cases import Case
from xinqiao.storage.models import Person
from xinqiao.storage.screening import ScreeningResult

Window = tuple[datetime, datetime]
# Appointments that happened or were due to: a moved one lives on as its replacement.
_HELD = (AppointmentStatus.booked, AppointmentStatus.started, AppointmentStatus.attended,
         AppointmentStatus.no_show)
_CANCELLED = (AppointmentStatus.cancelled, AppointmentStatus.centre_cancelled)


def _students(college_id: int) -> Any:
    """Ids of the college's students (people with a class), as a subquery."""
    return select(Person.id).where(col(Person.college_id) == college_id,
                                   col(Person.klass_id).is_not(None))


async def screening_figures(s: AsyncSession, college_id: int, window: Window) -> dict[str, Any]:
    """Rounds open during the month: students invited, completed (everything), declined; and
    students with a positive result in the month (any instrument)."""
    start, end = window
    inv = ScreeningInvitation
    done = case((col(inv.status) == InvitationStatus.done.value, 1), else_=0)
    declined = case((col(inv.status) == InvitationStatus.declined.value, 1), else_=0)
    per_student = (
        select(col(inv.person_id), func.min(done).label("all_done"),
               func.max(declined).label("declined"))
        .join(ScreeningCampaign, col(ScreeningCampaign.id) == col(inv.campaign_id))
        .where(col(ScreeningCampaign.opens_at) < end, col(ScreeningCampaign.closes_at) >= start,
               col(inv.person_id).in_(_students(college_id)))
        .group_by(col(inv.person_id)).subquery())
    invited, completed, refused = (await s.exec(select(
        func.count(), func.sum(per_student.c.all_done), func.sum(per_student.c.declined)
    ).select_from(per_student))).one()
    rounds = (await s.exec(select(func.count(func.distinct(inv.campaign_id))).where(
        col(inv.person_id).in_(_students(college_id)), col(inv.campaign_id).in_(
            select(ScreeningCampaign.id).where(col(ScreeningCampaign.opens_at) < end,
                                               col(ScreeningCampaign.closes_at) >= start))))
    ).one()
    positive = (await s.exec(select(func.count(func.distinct(ScreeningResult.person_id))).where(
        col(ScreeningResult.positive).is_(True), col(ScreeningResult.created_at) >= start,
        col(ScreeningResult.created_at) < end,
        col(ScreeningResult.person_id).in_(_students(college_id))))).one()
    invited, completed = int(invited or 0), int(completed or 0)
    return {"rounds": int(rounds), "invited": invited, "completed": completed,
            "declined": int(refused or 0), "positive": int(positive),
            "rate": completed / invited if invited else 0.0}


async def counselling_figures(s: AsyncSession, college_id: int, window: Window
                              ) -> dict[str, int]:
    """Appointments starting in the month (attended, missed, cancelled) and referrals made."""
    start, end = window
    rows = (await s.exec(
        select(Appointment.status, func.count())
        .where(col(Appointment.start_at) >= start, col(Appointment.start_at) < end,
               col(Appointment.student_id).in_(_students(college_id)))
        .group_by(col(Appointment.status)))).all()
    by_status = {str(status): int(n) for status, n in rows}
    referrals = (await s.exec(
        select(Referral.kind, func.count())
        .where(col(Referral.created_at) >= start, col(Referral.created_at) < end,
               col(Referral.student_id).in_(_students(college_id)))
        .group_by(col(Referral.kind)))).all()
    by_kind = {str(kind): int(n) for kind, n in referrals}
    return {
        "appointments": sum(by_status.get(v.value, 0) for v in _HELD),
        "attended": by_status.get(AppointmentStatus.attended.value, 0),
        "no_show": by_status.get(AppointmentStatus.no_show.value, 0),
        "cancelled": sum(by_status.get(v.value, 0) for v in _CANCELLED),
        "referrals": sum(by_kind.values()),
        "hospital_referrals": by_kind.get("hospital", 0),
    }


async def case_figures(s: AsyncSession, college_id: int, window: Window) -> dict[str, int]:
    """Crisis cases of the college's students opened and closed in the month, open at its end."""
    start, end = window
    mine = col(Case.person_id).in_(_students(college_id))

    async def count(*where: Any) -> int:
        return int((await s.exec(select(func.count()).select_from(Case)
                                 .where(mine, *where))).one())

    return {
        "opened": await count(col(Case.opened_at) >= start, col(Case.opened_at) < end),
        "closed": await count(col(Case.closed_at) >= start, col(Case.closed_at) < end),
        "open_at_end": await count(col(Case.opened_at) < end,
                                   col(Case.closed_at).is_(None) | (col(Case.closed_at) >= end)),
    }


def response_times(spans: list[tuple[datetime, datetime | None, datetime | None]]
                   ) -> dict[str, int | None]:
    """Seconds from opening to acknowledgement and to resolution: median and longest.

    ``spans`` are (opened, acknowledged, resolved); a resolution without an acknowledgement
    (the item closed itself, e.g. by a late check-in) counts only as a resolution.
    """
    acked = [int((a - o).total_seconds()) for o, a, _ in spans if a is not None]
    resolved = [int((r - o).total_seconds()) for o, _, r in spans if r is not None]
    return {
        "ack_median": int(median(acked)) if acked else None,
        "ack_max": max(acked) if acked else None,
        "resolve_median": int(median(resolved)) if resolved else None,
        "resolve_max": max(resolved) if resolved else None,
    }
