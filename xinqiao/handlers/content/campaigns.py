"""内容推送 (centre): schedule an article to all students, a college or a year, at a set time.

States: ``article`` (keyword → pick) → ``target`` (全校 / 按学院 / 按年级) → ``college`` or
``year`` → ``when`` (立即 / a typed time) → ``confirm``. Nothing is scheduled before 确认.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from xinqiao.handlers.content import texts
from xinqiao.handlers.flow import Context, Turn
from xinqiao.services.content.campaigns import (
    CampaignError,
    Target,
    colleges,
    create,
    enrolment_years,
    reach,
    upcoming,
)
from xinqiao.services.content.service import Content
from xinqiao.services.zh_when import parse_zh_when
from xinqiao.vocabulary import Member, Role

CENTRE = frozenset({Role.centre_staff, Role.centre_lead})


class ContentCampaignFlow:
    """The centre's chat desk for content campaigns."""

    id = "content_campaign"
    title = "内容推送"
    triggers: tuple[str, ...] = ("内容推送", "推送文章")

    def __init__(self, content: Content) -> None:
        self.content = content

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & CENTRE)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Recent campaigns, then ask for the article."""
        return Turn.ask("article", {}, texts.desk(await ctx.run(upcoming, limit=5)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """One answer of the scheduling conversation."""
        choice, text = ctx.inbound.choice, ctx.inbound.text.strip()
        if step == "article":
            await self.content.ready()  # the index off the loop, if a search comes this early
            return self._article(ctx, choice, text)
        if step == "target":
            return await self._target(ctx, choice, data)
        if step == "college":
            if choice is None or not choice.isdecimal():
                return await self._target(ctx, "college", data)
            return self._ask_when({**data, "college_id": int(choice)})
        if step == "year":
            year = choice or text.removesuffix("级")
            if not year.isdecimal() or not 2000 <= int(year) <= 2100:
                return await self._target(ctx, "year", data)
            return self._ask_when({**data, "year": int(year)})
        if step == "when":
            return await self._when(ctx, choice, text, data)
        if step == "confirm":
            return await self._confirm(ctx, choice, data)
        return await self.start(ctx, "")

    def _article(self, ctx: Context, choice: str | None, text: str) -> Turn:
        now = ctx.clock.now()
        slug = choice[8:] if choice and choice.startswith("article:") else text
        article = self.content.library.articles().get(slug)
        if article is not None:
            return Turn.ask("target", {"slug": slug, "name": article.title},
                            texts.ask_target(article.title))
        found = [a for a in self.content.library.articles().values()
                 if text and (text in a.title or text in a.meta.tags)]
        found += [a for a in self.content.search(text, now) if a not in found] if text else []
        return Turn.ask("article", {}, texts.pick_article(found))

    async def _target(self, ctx: Context, choice: str | None, data: dict[str, Any]) -> Turn:
        if choice == "all":
            return self._ask_when(data)
        if choice == "college":
            return Turn.ask("college", data, texts.pick_college(await ctx.run(colleges)))
        if choice == "year":
            return Turn.ask("year", data, texts.pick_year(await ctx.run(enrolment_years)))
        return Turn.ask("target", data, texts.target_again())

    @staticmethod
    def _ask_when(data: dict[str, Any], note: str = "") -> Turn:
        return Turn.ask("when", data, texts.ask_when(note))

    async def _when(self, ctx: Context, choice: str | None, text: str,
                    data: dict[str, Any]) -> Turn:
        now = ctx.clock.now()
        at = now if choice == "now" else parse_zh_when(text, now)
        if at is None:
            return self._ask_when(data, texts.unreadable_time(text))
        if at < now - timedelta(minutes=1):
            return self._ask_when(data, texts.past_time(at))
        data = {**data, "at": at.isoformat()}
        found = await ctx.run(reach, Target(data.get("college_id"), data.get("year")))
        return Turn.ask("confirm", data, texts.confirm(
            str(data["name"]), found, None if choice == "now" else at))

    async def _confirm(self, ctx: Context, choice: str | None, data: dict[str, Any]) -> Turn:
        if choice != "yes":
            return Turn.end(texts.not_scheduled())
        assert ctx.person is not None
        try:
            campaign = await ctx.run(create, self.content, name=str(data["name"]),
                                     slug=str(data["slug"]),
                target=Target(data.get("college_id"), data.get("year")),
                send_at=datetime.fromisoformat(str(data["at"])), now=ctx.clock.now(),
                created_by=ctx.person.id)
        except CampaignError as exc:
            return Turn.end(texts.refused(exc))
        return Turn.end(texts.scheduled(campaign))
