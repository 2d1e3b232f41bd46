"""Screening rounds at the centre's desk: a round created by hand, a reminder sent now, and how
a round's results fall into bands (counts per college, never who).

A reminder sent now goes the way the round's scheduled reminders go: a ``campaign.remind``
timer due at once, which the sweeper fires in chunks to the students with an open invitation.
The timers are also the record of when the round last reminded, so a second reminder within
the policy's ``remind_gap_hours`` of any earlier one (scheduled or by hand) is refused.
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.policy import Policy
from xinqiao.services import audit
from xinqiao.services.screening_rounds import REMIND, Round, create_campaign
from xinqiao.services.timers import schedule
from xinqiao.storage.campaigns import (
    CampaignKind,
    CampaignStatus,
    InvitationStatus,
    ScreeningCampaign,
    ScreeningInvitation,
)
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Timer
from xinqiao.storage.screening import ScreeningResult

MAX_DAYS = 90  # as ``xinqiao screening start --days``
NAME_LIMIT = 60


class RoundProblem(StrEnum):
    """Why a requested round cannot be created."""

    no_name = "no_name"
    opens_in_the_past = "opens_in_the_past"
    closes_before_it_opens = "closes_before_it_opens"
    too_long = "too_long"  # open longer than MAX_DAYS


@dataclass(frozen=True)
class RoundRequest:
    """What the centre asked for: a name, whom (a college, an enrolment year) and when."""

    name: str
    college_id: int | None
    year: int | None
    opens: date
    closes: date

    def problem(self, today: date) -> RoundProblem | None:
        """Why the request cannot be a round (the form words it), or None."""
        if not self.name:
            return RoundProblem.no_name
        if self.opens < today:
            return RoundProblem.opens_in_the_past
        if self.closes <= self.opens:
            return RoundProblem.closes_before_it_opens
        if (self.closes - self.opens).days > MAX_DAYS:
            return RoundProblem.too_long
        return None


async def create_round(s: AsyncSession, policy: Policy, request: RoundRequest, *,
                       person_id: int, now: datetime) -> ScreeningCampaign:
    """A manual round through the same planner as the policy's rounds (audited)."""
    today = local(now).date()
    opens_at = (now if request.opens == today
                else datetime.combine(request.opens, policy.screening.invite_at, SHANGHAI))
    closes_at = datetime.combine(request.closes, policy.screening.invite_at, SHANGHAI)
    # A fresh key each time: two rounds asked for in the same second are two rounds.
    spec = Round(key=f"console:{person_id}:{now.isoformat()}:{secrets.token_hex(4)}",
                 name=request.name[:NAME_LIMIT], kind=CampaignKind.manual,
                 years=(request.year,) if request.year is not None else (),
                 college_ids=(request.college_id,) if request.college_id is not None else ())
    days = max(1, -(-int((closes_at - opens_at).total_seconds()) // 86400))
    campaign = await create_campaign(s, policy, spec, opens_at=opens_at, now=now,
                                     open_days=days, created_by=person_id)
    campaign.closes_at = closes_at  # the date asked for, not rounded to whole days
    s.add(campaign)
    await audit.record(s, at=now, action="screening.round_created", actor_person_id=person_id,
                       campaign=campaign.id, **campaign.target())
    return campaign


async def last_reminded(s: AsyncSession, campaign_id: int, now: datetime) -> datetime | None:
    """When the round last reminded (its reminder timers due by now), if ever."""
    latest = (await s.exec(select(func.max(Timer.due_at)).where(
        Timer.kind == REMIND, col(Timer.ref).like(f"{campaign_id}:%"),
        col(Timer.due_at) <= now))).one()
    return latest if isinstance(latest, datetime) else None


async def remind_now(s: AsyncSession, policy: Policy, campaign: ScreeningCampaign, *,
                     person_id: int, now: datetime) -> datetime | None:
    """Remind the round's unfinished students now; else when that will be allowed again
    (a round that is not open answers its close)."""
    assert campaign.id is not None
    if campaign.status != CampaignStatus.open:
        return campaign.closes_at
    gap = timedelta(hours=policy.screening.remind_gap_hours)
    last = await last_reminded(s, campaign.id, now)
    if last is not None and now - last.astimezone(SHANGHAI) < gap:
        return last + gap
    # The n of the timer ref (and of the push keys): minutes since the epoch, never a
    # scheduled reminder's small index, and the same for two clicks racing in one minute.
    n = int(now.timestamp()) // 60
    await schedule(s, kind=REMIND, ref=f"{campaign.id}:{n}:0", due_at=now, now=now)
    await audit.record(s, at=now, action="screening.round_reminded", actor_person_id=person_id,
                       campaign=campaign.id)
    return None


async def unfinished(s: AsyncSession, campaign_id: int) -> int:
    """How many students still have an open invitation in the round."""
    count = (await s.exec(select(func.count(func.distinct(ScreeningInvitation.person_id))).where(
        ScreeningInvitation.campaign_id == campaign_id,
        ScreeningInvitation.status == InvitationStatus.open))).one()
    return int(count or 0)


async def band_counts(s: AsyncSession, campaign_id: int, colleges: frozenset[int] | None
                      ) -> dict[int, dict[str, dict[str, int]]]:
    """college id → instrument → band → students, over the round's completed instruments
    (``colleges`` None: every college)."""
    inv, res = ScreeningInvitation, ScreeningResult
    query = (select(Person.college_id, res.instrument, res.band,
                    func.count(func.distinct(res.person_id)))
             .select_from(inv)
             .join(res, col(res.id) == col(inv.result_id))
             .join(Person, col(Person.id) == col(inv.person_id))
             .where(inv.campaign_id == campaign_id, inv.status == InvitationStatus.done)
             .group_by(col(Person.college_id), col(res.instrument), col(res.band)))
    if colleges is not None:
        query = query.where(col(Person.college_id).in_(colleges))
    found: dict[int, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for college_id, instrument, band, count in await s.exec(query):
        if college_id is not None:
            found[college_id][instrument][band] = int(count)
    return found
