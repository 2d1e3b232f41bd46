"""预约统计: the centre's booking week — load per counsellor, no-shows, waiting time."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.scheduler.policy import Policy
from xinqiao.services.booking_stats import format_stats, week_of, week_stats
from xinqiao.services.cases import CENTRE
from xinqiao.storage.models import Person, Role

_MENU = Choice("menu", "主菜单")


class BookingStatsFlow:
    """Centre roles: this week's statistics, and earlier weeks one tap at a time."""

    id = "booking_stats"
    title = "预约统计"
    triggers: tuple[str, ...] = ("预约统计", "咨询统计")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & CENTRE)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """This week."""
        return await self._week(ctx, week_of(local(ctx.clock.now()).date()))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """上一周 / 下一周."""
        monday = date.fromisoformat(str(data.get("monday")))
        if ctx.inbound.choice == "prev":
            return await self._week(ctx, monday - timedelta(days=7))
        if ctx.inbound.choice == "next":
            return await self._week(ctx, monday + timedelta(days=7))
        return await self.start(ctx, "")

    async def _week(self, ctx: Context, monday: date) -> Turn:
        stats = await week_stats(ctx.session, self.policy, monday)
        choices = [Choice("prev", "上一周")]
        if monday < week_of(local(ctx.clock.now()).date()):
            choices.append(Choice("next", "下一周"))
        return Turn.ask("week", {"monday": monday.isoformat()},
                        Reply(format_stats(stats), (*choices, _MENU)))
