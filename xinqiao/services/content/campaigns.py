"""Content campaigns: the centre pushes one article to a target group at a set time.

A campaign (5·25, 10·10 …) targets the active students of the whole school, one college, one
enrolment year, or a college and a year. Its timer fires at ``send_at`` and pushes in chunks
exactly like the weekly tip (``services.content.push``), at the lowest priority so that alerts
and replies always go first; idempotency keys ``content-campaign:<id>:<person>`` make a chunk
repeated after a crash add nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

from xinqiao.clock import SHANGHAI
from xinqiao.services import audit
from xinqiao.services.content.push import ArticlePusher, article_push, push_article
from xinqiao.services.content.service import Content
from xinqiao.services.directory import STUDENT_VALUES
from xinqiao.services.timers import TimerHandler, schedule
from xinqiao.storage.content import ContentCampaign, ContentCampaignStatus
from xinqiao.storage.models import ChannelIdentity, College, Person, RoleAssignment
from xinqiao.storage.reports import Timer

log = logging.getLogger(__name__)
SEND = "content.campaign"


def parse_when(text: str) -> datetime | None:
    """``2027-05-25 09:00`` (or ``2027-05-25``, 09:00) in Asia/Shanghai; None if unreadable."""
    text = text.strip().replace("：", ":").replace("/", "-")
    for fmt in ("%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(text, fmt)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d":
            parsed = parsed.replace(hour=9)
        return parsed.replace(tzinfo=SHANGHAI)
    return None


class CampaignError(ValueError):
    """A campaign that cannot be scheduled: ``reason`` (one of the constants below) says why."""

    NO_ARTICLE, NOT_PUBLISHED, NO_COLLEGE = "no_article", "not_published", "no_college"

    def __init__(self, reason: str, slug: str = "", title: str = "") -> None:
        super().__init__(reason)
        self.reason, self.slug, self.title = reason, slug, title


@dataclass(frozen=True)
class CampaignSummary:
    """A scheduled campaign as lists and confirmations show it."""

    id: int
    name: str
    slug: str
    college_id: int | None
    enrolment_year: int | None
    send_at: datetime
    status: str
    pushed: int


def _summary(c: ContentCampaign) -> CampaignSummary:
    assert c.id is not None
    return CampaignSummary(c.id, c.name, c.slug, c.college_id, c.enrolment_year, c.send_at,
                           str(c.status), c.pushed)


@dataclass(frozen=True)
class Reach:
    """Whom a target reaches now: its college's name (when it names one) and the counts."""

    target: Target
    college: str | None
    people: int
    reachable: int


@dataclass(frozen=True)
class Target:
    """Who a campaign reaches: every active student, narrowed by college and/or year."""

    college_id: int | None = None
    enrolment_year: int | None = None


def target_query(target: Target, after: int = 0) -> SelectOfScalar[Any]:
    """Ids of the active students in the target, above ``after``, in order."""
    query = (select(Person.id).join(RoleAssignment, col(RoleAssignment.person_id) == Person.id)
             .where(col(Person.active).is_(True), col(RoleAssignment.role).in_(STUDENT_VALUES),
                    col(Person.id) > after))
    if target.college_id is not None:
        query = query.where(Person.college_id == target.college_id)
    if target.enrolment_year is not None:
        query = query.where(Person.enrolment_year == target.enrolment_year)
    return query.distinct().order_by(col(Person.id))


async def count_targets(s: AsyncSession, target: Target) -> int:
    """How many students the target reaches now."""
    sub = target_query(target).subquery()
    return int((await s.exec(select(func.count()).select_from(sub))).one())


async def count_reachable(s: AsyncSession, target: Target) -> int:
    """How many of the target's students have a chat account a push can reach now."""
    people = target_query(target).subquery()
    reachable = (select(func.count(func.distinct(ChannelIdentity.person_id)))
                 .where(col(ChannelIdentity.person_id).in_(select(people.c.id)),
                        col(ChannelIdentity.reachable).is_(True)))
    return int((await s.exec(reachable)).one())


async def reach(s: AsyncSession, target: Target) -> Reach:
    """The target's college name and how many it reaches (and can reach by chat) now."""
    college = await s.get(College, target.college_id) if target.college_id is not None else None
    return Reach(target, college.name if college is not None else None,
                 await count_targets(s, target), await count_reachable(s, target))


async def colleges(s: AsyncSession) -> list[tuple[int, str]]:
    """Every college as (id, name), in id order: the choices of a college target."""
    rows = (await s.exec(select(College.id, College.name).order_by(col(College.id)))).all()
    return [(i, name) for i, name in rows if i is not None]


async def enrolment_years(s: AsyncSession) -> list[int]:
    """The enrolment years of active people, latest first: the choices of a year target."""
    rows = (await s.exec(
        select(Person.enrolment_year).where(col(Person.enrolment_year).is_not(None),
                                            col(Person.active).is_(True))
        .distinct().order_by(col(Person.enrolment_year).desc()))).all()
    return [y for y in rows if y is not None]


async def college_named(s: AsyncSession, name: str) -> int | None:
    """The id of the college with this exact name."""
    return (await s.exec(select(College.id).where(College.name == name))).first()


async def create(s: AsyncSession, content: Content, *, name: str, slug: str, target: Target,
                 send_at: datetime, now: datetime, created_by: int | None) -> CampaignSummary:
    """Check and schedule a campaign (audited); raises CampaignError with a reason."""
    article = content.library.articles().get(slug)
    if article is None:
        raise CampaignError(CampaignError.NO_ARTICLE, slug)
    if not article.published(max(send_at, now)):
        raise CampaignError(CampaignError.NOT_PUBLISHED, slug, article.title)
    if target.college_id is not None and await s.get(College, target.college_id) is None:
        raise CampaignError(CampaignError.NO_COLLEGE, slug, article.title)
    if not name.strip():  # lists show the title; the push itself says it once (``heading``)
        name = article.title
    campaign = ContentCampaign(name=name.strip()[:100], slug=slug, college_id=target.college_id,
                               enrolment_year=target.enrolment_year, send_at=max(send_at, now),
                               created_by=created_by, created_at=now)
    s.add(campaign)
    await s.flush()
    assert campaign.id is not None
    await schedule(s, kind=SEND, ref=f"{campaign.id}:0", due_at=campaign.send_at, now=now)
    await audit.record(s, at=now, action="content.campaign.create", actor_person_id=created_by,
                       campaign=campaign.id, slug=slug, college_id=target.college_id,
                       enrolment_year=target.enrolment_year, send_at=campaign.send_at.isoformat())
    return _summary(campaign)


async def cancel(s: AsyncSession, campaign_id: int, now: datetime, by: int | None) -> bool:
    """Cancel a campaign that has not started sending; True if it was cancelled."""
    campaign = await s.get(ContentCampaign, campaign_id)
    if campaign is None or campaign.status != ContentCampaignStatus.planned:
        return False
    campaign.status, campaign.finished_at = ContentCampaignStatus.cancelled, now
    s.add(campaign)
    await audit.record(s, at=now, action="content.campaign.cancel", actor_person_id=by,
                       campaign=campaign_id)
    return True


async def upcoming(s: AsyncSession, limit: int = 20) -> list[CampaignSummary]:
    """Campaigns by send time, most recent first."""
    rows = await s.exec(select(ContentCampaign)
                        .order_by(col(ContentCampaign.send_at).desc()).limit(limit))
    return [_summary(c) for c in rows]


class CampaignTimers(ArticlePusher):
    """The campaign timer: one chunk of pushes per firing."""

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """Handlers by timer kind."""
        return {SEND: self._send}

    async def _send(self, s: AsyncSession, timer: Timer) -> None:
        campaign_id, after = (int(p) for p in timer.ref.split(":"))
        campaign = await s.get(ContentCampaign, campaign_id)
        if campaign is None or campaign.status not in (ContentCampaignStatus.planned,
                                                       ContentCampaignStatus.sending):
            return  # cancelled (or finished) meanwhile
        now = timer.due_at
        article = self.content.library.get(campaign.slug, now)
        if article is None:
            log.error("content campaign %s: article %r is not published; stopped",
                      campaign_id, campaign.slug)
            campaign.status, campaign.finished_at = ContentCampaignStatus.failed, now
            s.add(campaign)
            return
        target = Target(campaign.college_id, campaign.enrolment_year)
        people = [p for p in (await s.exec(
            target_query(target, after).limit(self.policy.chunk))).all() if p is not None]
        campaign.status = ContentCampaignStatus.sending
        campaign.pushed += await push_article(
            s, people, key=f"content-campaign:{campaign_id}",
            push=article_push(self.content, article, campaign.name), payload=self.payload,
            now=now)
        if len(people) == self.policy.chunk:
            await schedule(s, kind=SEND, ref=f"{campaign_id}:{people[-1]}", due_at=now, now=now)
        else:
            campaign.status, campaign.finished_at = ContentCampaignStatus.sent, now
            log.info("content campaign %s sent: %d pushes", campaign_id, campaign.pushed)
        s.add(campaign)
