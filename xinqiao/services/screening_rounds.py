"""Screening rounds: planned from the policy's calendar, opened in chunks, reminded, closed.

The daily plan creates the rounds that open that day (idempotent by key) with an open timer.
Opening invites the target students in chunks of ``CHUNK`` people per timer firing, each chunk
one short transaction that re-schedules the next with a cursor, so 30,000 students never hold
the SQLite writer for long and a crash resumes where it stopped. Reminders go the same way to
the students who still have an open invitation; closing expires what is left.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func, insert, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from xinqiao.clock import SHANGHAI
from xinqiao.policy.calendar import WorkingCalendar
from xinqiao.policy.policy import Policy
from xinqiao.services.directory import STUDENT_VALUES
from xinqiao.services.outbox import Priority
from xinqiao.services.pushed import Pushed
from xinqiao.services.recipients import push_to_people
from xinqiao.services.timers import TimerHandler, schedule
from xinqiao.services.wording_port import WordingPort
from xinqiao.storage.campaigns import (
    CampaignKind,
    CampaignStatus,
    InvitationReason,
    InvitationStatus,
    ScreeningCampaign,
    ScreeningInvitation,
)
from xinqiao.storage.models import Person, RoleAssignment
from xinqiao.storage.reports import Timer

log = logging.getLogger(__name__)
OPEN, REMIND, CLOSE = "campaign.open", "campaign.remind", "campaign.close"
CHUNK = 500


class ScreeningWording(Protocol):
    """A round's pushes to students; ``handlers/screening_texts`` is one."""

    def invitation(self, name: str, closes_at: datetime) -> Pushed:
        """The round's invitation: how long, who sees the results, that it may be declined."""
        ...

    def reminder(self, name: str, closes_at: datetime) -> Pushed:
        """The reminder to those who have not finished."""
        ...

    def card(self, name: str, closes_at: datetime, reminder: bool) -> dict[str, object]:
        """The template card a notice push carries (reaches people not active lately)."""
        ...


words: WordingPort[ScreeningWording] = WordingPort("screening", "xinqiao.handlers.screening_texts")


@dataclass(frozen=True)
class Round:
    """A round the policy asks for: what it is called and whom it targets."""

    key: str
    name: str
    kind: CampaignKind
    years: tuple[int, ...] = ()
    exclude_years: tuple[int, ...] = ()
    college_ids: tuple[int, ...] = field(default=())


def first_workday(calendar: WorkingCalendar, on: date) -> date:
    """``on`` if it is a workday, else the next workday."""
    day = on
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return day


def rounds_due(policy: Policy, day: date) -> list[Round]:
    """The policy's rounds that open on ``day`` (the first workday on or after their date)."""
    sp, calendar = policy.screening, policy.calendar()
    wanted: list[tuple[date, Round]] = []
    for sem in sp.semesters:
        freshmen = sem.freshmen_arrive.year if sem.freshmen_arrive is not None else None
        wanted.append((sem.starts, Round(
            key=f"semester:{sem.starts.isoformat()}", name=f"{sem.name}心理健康测评",
            kind=CampaignKind.semester, exclude_years=(freshmen,) if freshmen else ())))
        if (fresh_day := sp.freshmen_round(sem)) is not None and freshmen is not None:
            wanted.append((fresh_day, Round(
                key=f"freshmen:{freshmen}", name=f"{freshmen}级新生心理健康测评",
                kind=CampaignKind.freshmen, years=(freshmen,))))
    for period in policy.checkin.key_periods:
        if period.screening_round:
            wanted.append((period.start, Round(
                key=f"key_period:{period.start.isoformat()}", name=f"{period.name}心理健康测评",
                kind=CampaignKind.key_period)))
    return [r for on, r in wanted if first_workday(calendar, on) == day]


async def create_campaign(
    s: AsyncSession, policy: Policy, spec: Round, *, opens_at: datetime, now: datetime,
    instruments: tuple[str, ...] | None = None, open_days: int | None = None,
    created_by: int | None = None,
) -> ScreeningCampaign:
    """Create the round (or return the one with its key) and arm its open timer."""
    existing = (await s.exec(
        select(ScreeningCampaign).where(ScreeningCampaign.key == spec.key))).first()
    if existing is not None:
        return existing
    sp = policy.screening
    days = open_days if open_days is not None else sp.open_days
    campaign = ScreeningCampaign(
        key=spec.key, name=spec.name, kind=spec.kind,
        instruments=list(instruments or sp.instruments), years=list(spec.years),
        exclude_years=list(spec.exclude_years), college_ids=list(spec.college_ids),
        reminder_days=[d for d in sp.reminder_days if d < days],
        opens_at=opens_at, closes_at=opens_at + timedelta(days=days),
        created_by=created_by, created_at=now)
    s.add(campaign)
    await s.flush()
    await schedule(s, kind=OPEN, ref=f"{campaign.id}:0", due_at=opens_at, now=now)
    log.info("screening round %r planned to open at %s", campaign.name, opens_at)
    return campaign


async def plan_day(s: AsyncSession, policy: Policy, day: date, now: datetime) -> None:
    """Create the rounds opening on ``day`` (called by the daily plan)."""
    opens_at = datetime.combine(day, policy.screening.invite_at, SHANGHAI)
    for spec in rounds_due(policy, day):
        await create_campaign(s, policy, spec, opens_at=opens_at, now=now)


def _targets(campaign: ScreeningCampaign, after: int) -> SelectOfScalar[Any]:
    query = (
        select(Person.id)
        .join(RoleAssignment, col(RoleAssignment.person_id) == Person.id)
        .where(col(Person.active).is_(True), col(RoleAssignment.role).in_(STUDENT_VALUES),
               col(Person.id) > after)
    )
    if campaign.years:
        query = query.where(col(Person.enrolment_year).in_(campaign.years))
    if campaign.exclude_years:  # students with no year on the roster are not excluded
        query = query.where(col(Person.enrolment_year).is_(None)
                            | col(Person.enrolment_year).not_in(campaign.exclude_years))
    if campaign.college_ids:
        query = query.where(col(Person.college_id).in_(campaign.college_ids))
    return query.distinct().order_by(col(Person.id)).limit(CHUNK)


def _cursor(timer: Timer) -> tuple[int, int]:
    campaign_id, after = timer.ref.rsplit(":", 1)
    return int(campaign_id.split(":", 1)[0]), int(after)


class Campaigns:
    """Timer handlers for rounds, bound to the policy (for the calendar and timing)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """Handlers by timer kind."""
        return {OPEN: self.on_open, REMIND: self.on_remind, CLOSE: self.on_close}

    async def on_open(self, s: AsyncSession, timer: Timer) -> None:
        """Invite the next chunk of target students; arm reminders and close after the last."""
        campaign_id, after = _cursor(timer)
        campaign = await s.get(ScreeningCampaign, campaign_id)
        if campaign is None or campaign.status == CampaignStatus.closed:
            return
        now = timer.due_at
        campaign.status = CampaignStatus.open
        people = [p for p in (await s.exec(_targets(campaign, after))).all() if p is not None]
        if people:
            rows = [{"key": f"c{campaign_id}:{pid}:{inst}", "person_id": pid,
                     "instrument": inst, "reason": InvitationReason.campaign.value,
                     "campaign_id": campaign_id, "status": InvitationStatus.open.value,
                     "invited_at": now, "due_at": campaign.closes_at, "reminders_sent": 0}
                    for pid in people for inst in campaign.instruments]
            conn = await s.connection()  # one executemany (batched VALUES), not one per row
            await conn.execute(insert(ScreeningInvitation), rows)
            await push_to_people(s, people, key=f"campaign:{campaign_id}:invite",
                                 reply=words().invitation(campaign.name, campaign.closes_at),
                                 now=now, kind="notice", priority=Priority.bulk,
                                 alert=words().card(campaign.name, campaign.closes_at, False))
            campaign.invited += len(people)
            s.add(campaign)
        if len(people) == CHUNK:
            await schedule(s, kind=OPEN, ref=f"{campaign_id}:{people[-1]}", due_at=now, now=now)
            return
        s.add(campaign)
        calendar, start = self.policy.calendar(), campaign.opens_at.astimezone(SHANGHAI)
        for n, days in enumerate(campaign.reminder_days):
            day = first_workday(calendar, start.date() + timedelta(days=days))
            at = datetime.combine(day, start.timetz())
            if at < campaign.closes_at:
                await schedule(s, kind=REMIND, ref=f"{campaign_id}:{n}:0", due_at=at, now=now)
        await schedule(s, kind=CLOSE, ref=str(campaign_id), due_at=campaign.closes_at, now=now)
        log.info("screening round %r invited %d students", campaign.name, campaign.invited)

    async def on_remind(self, s: AsyncSession, timer: Timer) -> None:
        """Remind the next chunk of students who still have an open invitation."""
        campaign_ref, after_text = timer.ref.rsplit(":", 1)
        campaign_id, n = (int(p) for p in campaign_ref.split(":", 1))
        after = int(after_text)
        campaign = await s.get(ScreeningCampaign, campaign_id)
        if campaign is None or campaign.status != CampaignStatus.open:
            return
        people = list((await s.exec(
            select(ScreeningInvitation.person_id)
            .where(ScreeningInvitation.campaign_id == campaign_id,
                   ScreeningInvitation.status == InvitationStatus.open,
                   col(ScreeningInvitation.person_id) > after)
            .distinct().order_by(col(ScreeningInvitation.person_id)).limit(CHUNK))).all())
        if not people:
            return
        now = timer.due_at
        await push_to_people(s, people, key=f"campaign:{campaign_id}:remind{n}",
                             reply=words().reminder(campaign.name, campaign.closes_at), now=now,
                             kind="notice", priority=Priority.bulk,
                             alert=words().card(campaign.name, campaign.closes_at, True))
        await s.exec(
            update(ScreeningInvitation)
            .where(col(ScreeningInvitation.campaign_id) == campaign_id,
                   col(ScreeningInvitation.status) == InvitationStatus.open.value,
                   col(ScreeningInvitation.person_id).in_(people))
            .values(reminders_sent=ScreeningInvitation.reminders_sent + 1))
        if len(people) == CHUNK:
            await schedule(s, kind=REMIND, ref=f"{campaign_id}:{n}:{people[-1]}", due_at=now,
                           now=now)

    async def on_close(self, s: AsyncSession, timer: Timer) -> None:
        """The window ends: open invitations expire and the round is closed."""
        campaign = await s.get(ScreeningCampaign, int(timer.ref))
        if campaign is None or campaign.status == CampaignStatus.closed:
            return
        await s.exec(
            update(ScreeningInvitation)
            .where(col(ScreeningInvitation.campaign_id) == campaign.id,
                   col(ScreeningInvitation.status) == InvitationStatus.open.value)
            .values(status=InvitationStatus.expired.value))
        campaign.status = CampaignStatus.closed
        s.add(campaign)
        done = (await s.exec(
            select(func.count(func.distinct(ScreeningInvitation.person_id)))
            .where(ScreeningInvitation.campaign_id == campaign.id,
                   ScreeningInvitation.status == InvitationStatus.done))).one()
        log.info("screening round %r closed: %s of %s students completed something",
                 campaign.name, done, campaign.invited)
