"""Pushing articles to many people: weekly tips to subscribers, in resumable chunks.

The weekly tip is a calendar job (``scheduler.calendar_jobs``) on the policy's weekday and
time. Its run picks the week's tip and arms the first chunk timer; each chunk pushes to the
next ``chunk`` subscribers in person order inside the sweeper's transaction and arms the next
chunk with the last person id as its cursor. A crash mid-way leaves the unfired chunk due, and
the pushes' idempotency keys (``tip:<week>:<person>``) make a repeated chunk add nothing: every
subscriber gets exactly one tip a week, and 30,000 subscribers never hold the sweeper for long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.policy.content import ContentPolicy
from xinqiao.services.content.article import Article
from xinqiao.services.content.service import Content
from xinqiao.services.outbox import Priority, Push, enqueue_many
from xinqiao.services.recipients import best_identities
from xinqiao.services.timers import TimerHandler, schedule
from xinqiao.storage.content import TipSubscription
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Timer

log = logging.getLogger(__name__)
TIP_CHUNK = "content.tip.chunk"
PUSH_KIND = "notice"  # WeChat: the notice template when configured (reaches everyone)


def week_of(day: date) -> str:
    """ISO week label, e.g. ``2026-W37``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass(frozen=True)
class ArticlePush:
    """One article pushed to many: the article, its public page, and the campaign's name (None
    for the weekly tip). The texts module makes the card a channel shows."""

    article: Article
    url: str
    campaign: str | None = None


def article_push(content: Content, article: Article, campaign: str | None = None) -> ArticlePush:
    """The push of ``article`` with its page in ``content``'s site."""
    return ArticlePush(article, content.url(article.slug), campaign)


# Builds one channel's outbox payload for a push. The wording is the content texts module's
# (handlers/content/texts.py); the wiring hands it in, so services never import handlers.
PushPayload = Callable[[ArticlePush, str], dict[str, Any]]


async def push_article(s: AsyncSession, people: Sequence[int], *, key: str, push: ArticlePush,
                       payload: PushPayload, now: datetime) -> int:
    """Queue the article to each person's best chat account (low priority); return how many."""
    identities = await best_identities(s, people)
    payloads: dict[str, dict[str, Any]] = {}
    pushes = []
    for person_id, identity in sorted(identities.items()):
        if identity.channel not in payloads:
            payloads[identity.channel] = payload(push, identity.channel)
        pushes.append(Push(key=f"{key}:{person_id}", channel=identity.channel,
                           address=identity.address, kind=PUSH_KIND,
                           payload=payloads[identity.channel], person_id=person_id,
                           priority=Priority.bulk))
    await enqueue_many(s, pushes, now=now)
    return len(pushes)


async def subscribed(s: AsyncSession, person_id: int) -> bool:
    """Whether the person gets the weekly tip."""
    row = (await s.exec(select(TipSubscription)
                        .where(TipSubscription.person_id == person_id))).first()
    return row is not None and row.active


async def set_subscription(s: AsyncSession, person_id: int, on: bool, now: datetime) -> bool:
    """Opt in or out; returns whether anything changed."""
    row = (await s.exec(select(TipSubscription)
                        .where(TipSubscription.person_id == person_id))).first()
    if row is None:
        if not on:
            return False
        s.add(TipSubscription(person_id=person_id, active=True, subscribed_at=now))
        return True
    if row.active == on:
        return False
    row.active = on
    if on:
        row.subscribed_at, row.unsubscribed_at = now, None
    else:
        row.unsubscribed_at = now
    s.add(row)
    return True


@dataclass(frozen=True)
class ArticlePusher:
    """What a chunked push of articles needs: the chunk size, the library and the wording."""

    policy: ContentPolicy
    content: Content
    payload: PushPayload


class WeeklyTips(ArticlePusher):
    """The weekly tip's timers, bound to the policy and the library."""

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """Handlers by timer kind, merged into the sweeper's."""
        return {TIP_CHUNK: self._chunk}

    def tip_for(self, week: str, now: datetime) -> Article | None:
        """The week's tip: the published tips in turn, one a week."""
        tips = self.content.weekly_tips(now)
        if not tips:
            return None
        year, number = (int(p) for p in week.split("-W"))
        return tips[(date.fromisocalendar(year, number, 1).toordinal() // 7) % len(tips)]

    async def start_week(self, s: AsyncSession, now: datetime) -> None:
        """Pick this week's tip and arm its first chunk (the weekly job)."""
        week = week_of(local(now).date())
        article = self.tip_for(week, now)
        if article is None:
            log.error("weekly tip %s: no published tip to send", week)
            return
        await schedule(s, kind=TIP_CHUNK, ref=f"{week}:{article.slug}:0", due_at=now, now=now)

    async def _chunk(self, s: AsyncSession, timer: Timer) -> None:
        week, slug, after = timer.ref.split(":")
        article = self.content.library.articles().get(slug)
        if article is None:
            log.error("weekly tip %s: article %r has gone; nothing sent", week, slug)
            return
        people = [p for p in (await s.exec(
            select(TipSubscription.person_id)
            .join(Person, col(Person.id) == TipSubscription.person_id)
            .where(col(TipSubscription.active).is_(True), col(Person.active).is_(True),
                   col(TipSubscription.person_id) > int(after))
            .order_by(col(TipSubscription.person_id)).limit(self.policy.chunk))).all()]
        now = timer.due_at
        sent = await push_article(s, people, key=f"tip:{week}",
                                  push=article_push(self.content, article),
                                  payload=self.payload, now=now)
        if len(people) == self.policy.chunk:
            await schedule(s, kind=TIP_CHUNK, ref=f"{week}:{slug}:{people[-1]}", due_at=now,
                           now=now)
        log.info("weekly tip %s: %d subscribers pushed after #%s", week, sent, after)
