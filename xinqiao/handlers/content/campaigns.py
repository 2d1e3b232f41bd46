"""内容推送 (centre): schedule an article to all students, a college or a year, at a set time.

States: ``article`` (keyword → pick) → ``target`` (全校 / 按学院 / 按年级) → ``college`` or
``year`` → ``when`` (立即 / a typed time) → ``confirm``. Nothing is scheduled before 确认.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services.content.campaigns import (
    CampaignError,
    Target,
    count_reachable,
    count_targets,
    create,
    describe,
    reach_words,
    upcoming,
)
from xinqiao.services.content.service import Content
from xinqiao.services.zh_when import EXAMPLES, parse_zh_when
from xinqiao.storage.content import ContentCampaign, ContentCampaignStatus
from xinqiao.storage.models import College, Person, Role

_MENU = Choice("menu", "主菜单")
CENTRE = frozenset({Role.centre_staff, Role.centre_lead})
_STATUS = {"planned": "待推送", "sending": "推送中", "sent": "已推送", "cancelled": "已取消",
           "failed": "未推送，文章不在发布期"}


def _status_words(c: ContentCampaign) -> str:
    """``已推送 8 人``, ``推送中，已推送 3 人``, ``待推送``: the count said once."""
    if c.status == ContentCampaignStatus.sent:
        return f"已推送 {c.pushed} 人"
    if c.pushed:
        return f"{_STATUS[c.status]}，已推送 {c.pushed} 人"
    return _STATUS[c.status]


class ContentCampaignFlow:
    """The centre's chat desk for content campaigns."""

    id = "content_campaign"
    title = "内容推送"
    triggers: tuple[str, ...] = ("内容推送", "推送文章")

    def __init__(self, content: Content) -> None:
        self.content = content

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & CENTRE)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Recent campaigns, then ask for the article."""
        lines = []
        for c in await upcoming(ctx.session, limit=5):
            lines.append(f"· {local(c.send_at):%m-%d %H:%M} {c.name}（{_status_words(c)}）")
        head = ("最近的推送：\n" + "\n".join(lines) + "\n\n") if lines else ""
        return Turn.ask("article", {}, Reply(
            head + "要推送哪篇文章？请发送关键词（如「心理健康节」），或文章编号。", (_MENU,)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """One answer of the scheduling conversation."""
        choice, text = ctx.inbound.choice, ctx.inbound.text.strip()
        if step == "article":
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
            return Turn.ask("target", {"slug": slug, "name": article.title}, Reply(
                f"推送《{article.title}》给谁？", (
                    Choice("all", "全校学生"), Choice("college", "按学院"),
                    Choice("year", "按年级"), _MENU)))
        found = [a for a in self.content.library.articles().values()
                 if text and (text in a.title or text in a.meta.tags)]
        found += [a for a in self.content.search(text, now) if a not in found] if text else []
        if not found:
            return Turn.ask("article", {}, Reply("没有找到，请换个关键词。", (_MENU,)))
        return Turn.ask("article", {}, Reply("选一篇：", (
            *(Choice(f"article:{a.slug}", a.title) for a in found[:8]), _MENU)))

    async def _target(self, ctx: Context, choice: str | None, data: dict[str, Any]) -> Turn:
        if choice == "all":
            return self._ask_when(data)
        if choice == "college":
            colleges = (await ctx.session.exec(select(College).order_by(col(College.id)))).all()
            return Turn.ask("college", data, Reply("选择学院：", (
                *(Choice(str(c.id), c.name) for c in colleges[:20]), _MENU)))
        if choice == "year":
            years = (await ctx.session.exec(
                select(Person.enrolment_year).where(col(Person.enrolment_year).is_not(None),
                                                    col(Person.active).is_(True))
                .distinct().order_by(col(Person.enrolment_year).desc()))).all()
            return Turn.ask("year", data, Reply("选择年级（或回复入学年份，如 2025）：", (
                *(Choice(str(y), f"{y}级") for y in years[:8] if y is not None), _MENU)))
        return Turn.ask("target", data, Reply("请选择推送对象：", (
            Choice("all", "全校学生"), Choice("college", "按学院"), Choice("year", "按年级"),
            _MENU)))

    @staticmethod
    def _ask_when(data: dict[str, Any], note: str = "") -> Turn:
        text = f"什么时候推送？可以回复时间，如 {EXAMPLES}。"
        return Turn.ask("when", data, Reply("\n".join(p for p in (note, text) if p), (
            Choice("now", "立即推送"), _MENU)))

    async def _when(self, ctx: Context, choice: str | None, text: str,
                    data: dict[str, Any]) -> Turn:
        now = ctx.clock.now()
        at = now if choice == "now" else parse_zh_when(text, now)
        if at is None:
            return self._ask_when(data, f"没有看懂“{text.strip()[:20]}”这个时间。")
        if at < now - timedelta(minutes=1):
            return self._ask_when(data, f"{local(at):%Y-%m-%d %H:%M} 已经过去了，请换一个时间。")
        data = {**data, "at": at.isoformat()}
        target = Target(data.get("college_id"), data.get("year"))
        people = await count_targets(ctx.session, target)
        reach = reach_words(people, await count_reachable(ctx.session, target))
        who = await describe(ctx.session, target)
        when = "立即" if choice == "now" else f"{local(at):%Y-%m-%d %H:%M}"
        return Turn.ask("confirm", data, Reply(
            f"确认推送：\n文章：《{data['name']}》\n对象：{who}（{reach}）\n"
            f"时间：{when}\n推送以低优先级发送，不会影响预警消息。", (
                Choice("yes", "确认"), Choice("no", "取消"))))

    async def _confirm(self, ctx: Context, choice: str | None, data: dict[str, Any]) -> Turn:
        if choice != "yes":
            return Turn.end(Reply("好的，没有安排推送。", (_MENU,)))
        assert ctx.person is not None
        try:
            campaign = await create(
                ctx.session, self.content, name=str(data["name"]), slug=str(data["slug"]),
                target=Target(data.get("college_id"), data.get("year")),
                send_at=datetime.fromisoformat(str(data["at"])), now=ctx.clock.now(),
                created_by=ctx.person.id)
        except CampaignError as exc:
            return Turn.end(Reply(f"没有安排：{exc}。", (_MENU,)))
        return Turn.end(Reply(
            f"已安排推送 #{campaign.id}，{local(campaign.send_at):%Y-%m-%d %H:%M} 开始发送。"
            "可以回复「内容推送」查看进度。", (_MENU,)))
