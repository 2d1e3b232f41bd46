"""测评完成情况: how far a screening round has got, per class, for colleges and the centre."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from xinqiao.clock import SHANGHAI
from xinqiao.handlers.flow import Context, Turn
from xinqiao.handlers.reports_view import CENTRE_ROLES, COLLEGE_ROLES, served_college_ids
from xinqiao.messages import Choice, Reply
from xinqiao.services.directory import college_name
from xinqiao.services.screening_round_report import (
    ClassCompletion,
    Round,
    college_ids,
    completion,
    recent_campaigns,
    round_by_id,
    summary_line,
)
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
_LIST_CAP = 30
PICK, COLLEGE = "pick", "college"
_STATUS = {"open": "进行中", "closed": "已结束", "planned": "未开始"}


def _title(c: Round) -> str:
    opens = c.opens_at.astimezone(SHANGHAI)
    closes = c.closes_at.astimezone(SHANGHAI)
    return f"{c.name}（{opens:%m.%d}—{closes:%m.%d}，{_STATUS[c.status]}）"


def _class_lines(rows: list[ClassCompletion]) -> list[str]:
    ordered = sorted(rows, key=lambda r: (r.rate, r.college, r.klass))  # lowest first
    lines = [f"· {r.klass}：{r.completed}/{r.invited}（{r.rate:.0%}）"
             + (f"，不参加 {r.declined}" if r.declined else "") for r in ordered[:_LIST_CAP]]
    if len(ordered) > _LIST_CAP:
        lines.append(f"……另有 {len(ordered) - _LIST_CAP} 个班")
    return lines


class RoundCompletionFlow:
    """Completion of the latest screening rounds; counts only, never answers or names."""

    id = "screening_rounds"
    title = "测评完成情况"
    triggers: tuple[str, ...] = ("测评完成情况", "测评进度")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """College and centre staff."""
        return person is not None and bool(roles & (COLLEGE_ROLES | CENTRE_ROLES))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Show the only round, or let the person pick among the recent ones."""
        rounds = await ctx.run(recent_campaigns)
        if not rounds:
            return Turn.end(Reply("还没有进行中的测评批次。", _MENU))
        if len(rounds) == 1:
            return await self._show(ctx, rounds[0])
        return Turn.ask(PICK, {}, Reply("想看哪一批测评？", tuple(
            Choice(str(c.id), _title(c)) for c in rounds)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """A round picked, or (for the centre) a college to open."""
        choice = ctx.inbound.choice or ""
        if step == PICK and choice.isdecimal():
            campaign = await ctx.run(round_by_id, int(choice))
            if campaign is not None:
                return await self._show(ctx, campaign)
        if step == COLLEGE and choice.isdecimal() and ctx.roles & CENTRE_ROLES:
            campaign = await ctx.run(round_by_id, int(data["campaign"]))
            college = await ctx.run(college_name, int(choice))
            if campaign is not None and college is not None:
                rows = await ctx.run(completion, int(data["campaign"]), int(choice))
                text = "\n".join([f"{college} · {_title(campaign)}",
                                  summary_line(rows), *_class_lines(rows)])
                return Turn.end(Reply(text, _MENU))
        return await self.start(ctx, "")

    async def _show(self, ctx: Context, campaign: Round) -> Turn:
        if ctx.roles & CENTRE_ROLES:
            rows = await ctx.run(completion, campaign.id)
            by_college: dict[str, list[ClassCompletion]] = defaultdict(list)
            for row in rows:
                by_college[row.college].append(row)
            ids = await ctx.run(college_ids)
            lines = [_title(campaign), "全校：" + summary_line(rows)]
            lines += [f"· {name}：" + summary_line(part) for name, part in by_college.items()]
            choices = tuple(Choice(str(ids[name]), f"看{name}各班") for name in by_college
                            if name in ids)
            return Turn.ask(COLLEGE, {"campaign": campaign.id},
                            Reply("\n".join(lines), (*choices, *_MENU)))
        parts = [_title(campaign)]
        for college_id in await served_college_ids(ctx, COLLEGE_ROLES):
            college = await ctx.run(college_name, college_id)
            rows = await ctx.run(completion, campaign.id, college_id)
            name = college if college is not None else "本院"
            parts += [f"{name}：" + summary_line(rows), *_class_lines(rows)]
        return Turn.end(Reply("\n".join(parts), _MENU))
