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
from xinqiao.scheduler.content_policy import ContentPolicy
from xinqiao.services import audit
from xinqiao.services.content.push import push_article
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
    """A campaign that cannot be scheduled; the message is for the person scheduling it."""


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


def reach_words(people: int, reachable: int) -> str:
    """``目前 20 人，其中 8 人能收到，12 人还没绑定聊天账号``."""
    if reachable >= people:
        return f"目前 {people} 人，都能收到"
    return (f"目前 {people} 人，其中 {reachable} 人能收到，"
            f"{people - reachable} 人还没绑定聊天账号、收不到")


async def describe(s: AsyncSession, target: Target) -> str:
    """The target in words: 全校学生, 信息工程学院 2025级学生 …"""
    parts = []
    if target.college_id is not None:
        college = await s.get(College, target.college_id)
        parts.append(college.name if college else f"学院#{target.college_id}")
    if target.enrolment_year is not None:
        parts.append(f"{target.enrolment_year}级")
    return (" ".join(parts) or "全校") + "学生"


async def create(s: AsyncSession, content: Content, *, name: str, slug: str, target: Target,
                 send_at: datetime, now: datetime, created_by: int | None) -> ContentCampaign:
    """Check and schedule a campaign (audited); raises CampaignError with a reason."""
    article = content.library.articles().get(slug)
    if article is None:
        raise CampaignError(f"没有找到文章 {slug}")
    if not article.published(max(send_at, now)):
        raise CampaignError(f"《{article.title}》在推送时间不在发布期内，推送出去的链接会打不开")
    if target.college_id is not None and await s.get(College, target.college_id) is None:
        raise CampaignError("没有这个学院")
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
    return campaign


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


async def upcoming(s: AsyncSession, limit: int = 20) -> list[ContentCampaign]:
    """Campaigns by send time, most recent first."""
    rows = await s.exec(select(ContentCampaign)
                        .order_by(col(ContentCampaign.send_at).desc()).limit(limit))
    return list(rows)


def heading(name: str, title: str) -> str:
    """The push's first line: the campaign's name, or a lead-in when it would repeat the title."""
    name = name.strip()
    repeats = not name or name in (title, f"《{title}》")
    return "心理中心给你推荐一篇文章" if repeats else name


class CampaignTimers:
    """The campaign timer: one chunk of pushes per firing."""

    def __init__(self, policy: ContentPolicy, content: Content) -> None:
        self.policy = policy
        self.content = content

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
            s, self.content, people, key=f"content-campaign:{campaign_id}", article=article,
            heading=heading(campaign.name, article.title), now=now, tip=False)
        if len(people) == self.policy.chunk:
            await schedule(s, kind=SEND, ref=f"{campaign_id}:{people[-1]}", due_at=now, now=now)
        else:
            campaign.status, campaign.finished_at = ContentCampaignStatus.sent, now
            log.info("content campaign %s sent: %d pushes", campaign_id, campaign.pushed)
        s.add(campaign)
