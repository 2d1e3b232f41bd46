"""Staff views of what the network sent: check-in completion (月报: handlers/monthly_view)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services.completion import (
    ClassCompletion,
    CollegeCompletion,
    class_completion,
    college_completion,
)
from xinqiao.services.directory import college_name, roles_of
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
COLLEGE_ROLES = frozenset({Role.college_lead, Role.college_counsellor})
CENTRE_ROLES = frozenset({Role.centre_staff, Role.centre_lead})
ADVISOR = frozenset({Role.class_advisor})
_LIST_CAP = 30  # keep a reply within one chat message


def day_label(day: date) -> str:
    """``9月7日``."""
    return f"{day.month}月{day.day}日"


async def served_college_ids(ctx: Context, roles: frozenset[Role]) -> list[int]:
    """The colleges the person serves through any of ``roles``."""
    assert ctx.person is not None and ctx.person.id is not None
    ids = {
        a.college_id
        for a in await ctx.run(roles_of, ctx.person.id)
        if Role(a.role) in roles and a.college_id is not None
    }
    if not ids and ctx.person.college_id is not None:
        ids.add(ctx.person.college_id)
    return sorted(ids)


class CompletionFlow:
    """周报完成情况: classes of my college (missing first), or every college for the centre."""

    id = "completion"
    title = "周报完成情况"
    triggers: tuple[str, ...] = ("周报完成情况", "完成情况")

    def __init__(self, periods_for: Callable[[datetime], list[date]],
                 due_at: Callable[[date], datetime] | None = None) -> None:
        self.periods_for = periods_for
        self.due_at = due_at

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Class advisors (their own classes), college and centre staff."""
        return person is not None and bool(roles & (COLLEGE_ROLES | CENTRE_ROLES | ADVISOR))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """One-shot: answer afresh."""
        return await self.start(ctx, "")

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Show the current period's completion for the person's scope."""
        assert ctx.person is not None
        now = ctx.clock.now()
        periods = sorted(set(self.periods_for(now)))
        if not periods:
            return Turn.end(Reply("现在没有需要提交的周报，不用担心～", _MENU))
        label = "本期（" + "、".join(day_label(p) for p in periods) + "）"
        # A date whose due moment is still ahead is 未到期, as on the console's grid: a class
        # without it yet is waiting, not missing.
        due_at = self.due_at
        pending = {p: due_at(p) for p in periods if due_at is not None and due_at(p) > now}
        if ctx.roles & CENTRE_ROLES:
            lines = await ctx.run(college_completion, periods, school_id=ctx.person.school_id)
            return Turn.end(Reply(_centre_text(label, lines, pending), _MENU))
        if not ctx.roles & COLLEGE_ROLES:  # a class advisor: the classes they serve
            return Turn.end(Reply(await _advised_text(ctx, label, periods, pending), _MENU))
        parts = []
        for college_id in await served_college_ids(ctx, COLLEGE_ROLES):
            college = await ctx.run(college_name, college_id)
            classes = await ctx.run(class_completion, college_id, periods,
                                    due_at=self.due_at)
            name = college or "你负责的学院"
            parts.append(_college_text(label, name, classes, len(periods) > 1, pending))
        return Turn.end(Reply("\n\n".join(parts) or "还没有查到你负责的学院。", _MENU))


async def _advised_text(ctx: Context, label: str, periods: list[date],
                        pending: dict[date, datetime]) -> str:
    """The advisor's own classes, in the same shape as a college's list."""
    assert ctx.person is not None and ctx.person.id is not None
    served = {a.klass_id for a in await ctx.run(roles_of, ctx.person.id)
              if a.role == Role.class_advisor and a.klass_id is not None}
    parts = []
    for college_id in await served_college_ids(ctx, ADVISOR):
        classes = [c for c in await ctx.run(class_completion, college_id, periods)
                   if c.klass_id in served]
        if classes:
            parts.append(_college_text(label, "你负责的班级", classes, len(periods) > 1,
                                       pending))
    return "\n\n".join(parts) or "还没有查到你负责的班级。"


def _deadline(pending: dict[date, datetime]) -> str:
    """``9月11日 17:00``: when the dates not yet due fall due."""
    return "、".join(f"{day_label(p)} {local(at):%H:%M}" for p, at in sorted(pending.items()))


def _college_text(label: str, name: str, classes: list[ClassCompletion], several: bool,
                  pending: dict[date, datetime]) -> str:
    """Classes missing a check-in already due first, then those waiting on one not yet due,
    then the finished ones in one line."""
    if not classes:
        return f"{name}还没有班级。"
    missing = [c for c in classes if any(p not in pending for p in c.missing)]
    waiting = [c.klass for c in classes if c.missing and c not in missing]
    done = [c.klass + ("（逾期补交）" if c.late else "") for c in classes if c.complete]
    calm = sum(c.nothing_to_report for c in classes)
    lines = [f"{name} {label}周报：已交齐 {len(done)}/{len(classes)} 个班"]
    if calm:
        lines.append(f"其中 {calm} 份是“本周无异常”。")
    if missing:
        lines.append("还没交齐：")
        for c in missing[:_LIST_CAP]:
            overdue = [p for p in c.missing if p not in pending]
            gap = "（缺 " + "、".join(day_label(p) for p in overdue) + "）" if several else ""
            lines.append(f"· {c.klass}{gap}")
        if len(missing) > _LIST_CAP:
            lines.append(f"…还有 {len(missing) - _LIST_CAP} 个班")
    elif not waiting:
        lines.append("全部班级都交齐了，辛苦啦！")
    if waiting:
        lines.append(f"未到期（{_deadline(pending)} 截止）：{_names(waiting)}")
    if done:
        lines.append(f"已交齐：{_names(done)}")
    return "\n".join(lines)


def _names(names: list[str]) -> str:
    """Up to a chat message's worth of class names on one line."""
    more = f" 等 {len(names)} 个班" if len(names) > _LIST_CAP else ""
    return "、".join(names[:_LIST_CAP]) + more


def _centre_text(label: str, colleges: list[CollegeCompletion],
                 pending: dict[date, datetime]) -> str:
    """One line per college, the ones furthest behind first."""
    if not colleges:
        return "还没有学院的数据。"
    ordered = sorted(colleges, key=lambda c: (c.classes == 0, c.rate, c.college))
    total = sum(c.classes for c in colleges)
    complete = sum(c.complete for c in colleges)
    lines = [f"全校{label}周报：已交齐 {complete}/{total} 个班"]
    if pending:  # part of what the shares below lack is not due yet
        lines.append(f"其中 {_deadline(pending)} 截止的周报还未到期。")
    for c in ordered:
        if c.classes == 0:
            lines.append(f"· {c.college}：暂无班级")
        else:
            lines.append(f"· {c.college}：{c.complete}/{c.classes} 个班（{c.rate:.0%}）")
    return "\n".join(lines)
