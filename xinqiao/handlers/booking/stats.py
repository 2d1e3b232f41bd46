"""预约统计: the centre's booking week — load per counsellor, no-shows, waiting time."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.booking.texts import week_stats_text
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.services.booking.stats import week_of, week_stats
from xinqiao.services.cases.lifecycle import CENTRE
from xinqiao.services.zh_when import parse_zh_when
from xinqiao.vocabulary import Member, Role

_MENU = Choice("menu", "主菜单")


_SHIFT = {"上周": -7, "上一周": -7, "本周": 0, "这周": 0, "下周": 7, "下一周": 7}


def named_week(text: str, this_monday: date, now: datetime) -> date | None:
    """The Monday of the week ``text`` names: 上周 / 本周 / 下周, or any day in it (12月8日)."""
    word = text.strip()
    if not word:
        return this_monday
    if word in _SHIFT:
        return this_monday + timedelta(days=_SHIFT[word])
    at = parse_zh_when(word, now)
    return week_of(local(at).date()) if at is not None else None


class BookingStatsFlow:
    """Centre roles: this week's statistics; earlier and later weeks one tap (or word) away."""

    id = "booking_stats"
    title = "预约统计"
    triggers: tuple[str, ...] = ("预约统计", "咨询统计")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & CENTRE)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """This week, or the week named after the command (预约统计 下周, 预约统计 12月8日)."""
        now = ctx.clock.now()
        this_monday = week_of(local(now).date())
        monday = named_week(argument, this_monday, now)
        if monday is None:
            return await self._week(ctx, this_monday, f"没有看懂“{argument[:20]}”，先看本周的：")
        return await self._week(ctx, monday)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """上一周 / 本周 / 下一周, or a typed week."""
        monday = date.fromisoformat(str(data.get("monday")))
        shift = {"prev": -7, "next": 7}.get(ctx.inbound.choice or "")
        if shift is not None:
            return await self._week(ctx, monday + timedelta(days=shift))
        if ctx.inbound.choice == "this":
            return await self.start(ctx, "")
        # A typed week (下周, 12月8日) counts from today, as it does after the command.
        return await self.start(ctx, "" if ctx.inbound.choice else ctx.inbound.text)

    async def _week(self, ctx: Context, monday: date, note: str = "") -> Turn:
        stats = await ctx.run(week_stats, self.policy, monday)
        choices = [Choice("prev", "上一周"), Choice("next", "下一周")]
        if monday != week_of(local(ctx.clock.now()).date()):
            choices.append(Choice("this", "本周"))
        text = "\n".join(p for p in (note, week_stats_text(stats)) if p)
        return Turn.ask("week", {"monday": monday.isoformat()},
                        Reply(text, (*choices, _MENU)))
