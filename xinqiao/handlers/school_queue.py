"""全校待办: the centre lead's school-wide view of open items, as facts without content.

Report text and the student's name stay with the people an item was sent to (the access matrix
grants reports by recipient); the lead sees where each open item is, how long it has waited and
whether anyone has taken it, so they can chase a college. The read itself is audited.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from xinqiao.clock import utc
from xinqiao.handlers.flow import Context, OneShotFlow, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services.escalation.text import (
    SEVERITY_LABELS,
    STATUS_LABELS,
    UNACKNOWLEDGED,
    level_label,
    title_of,
)
from xinqiao.services.refs import item_ref
from xinqiao.services.school_overview import school_overview
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
_LIST_CAP = 20  # one chat message


def waited(since: datetime, now: datetime) -> str:
    """How long an item has been open, in the largest sensible unit."""
    minutes = max(0, int((now - utc(since)).total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} 分钟"
    if minutes < 48 * 60:
        return f"{minutes // 60} 小时"
    return f"{minutes // (24 * 60)} 天"


class SchoolQueueFlow(OneShotFlow):
    """全校待办: every open or acknowledged item of the school, most pressing first."""

    id = "school_queue"
    title = "全校待办"
    triggers: tuple[str, ...] = ("全校待办",)

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """The centre lead only."""
        return person is not None and Role.centre_lead in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Counts per college, then the items: unacknowledged and most severe first."""
        assert ctx.person is not None
        now = ctx.clock.now()
        items = await ctx.run(school_overview, ctx.person.id, ctx.person.school_id, now)
        again = (flow_choice(self.id, "刷新"), *_MENU)
        if not items:
            return Turn.end(Reply("全校目前没有未办结的待办，辛苦大家了。", _MENU))
        pending = sum(i.awaiting_ack for i in items)
        per_college = Counter(i.college or "未分学院" for i in items)
        lines = [f"全校未办结 {len(items)} 项，其中待确认 {pending} 项：",
                 "、".join(f"{name} {n}" for name, n in sorted(per_college.items())), ""]
        for item in items[:_LIST_CAP]:
            where = " ".join(x for x in (item.college, item.klass) if x) or "全校"
            at = level_label(item.level) if item.level is not None else ""
            state = UNACKNOWLEDGED if item.unacknowledged else STATUS_LABELS[item.status]
            tail = f"，在{at}" if at and state != UNACKNOWLEDGED else ""
            lines.append(f"· {item_ref(item.id)} {title_of(item.kind, item.kind)}"
                         f"（{SEVERITY_LABELS[item.severity]}）{where}："
                         f"{state}{tail}，已 {waited(item.opened_at, now)}")
        if len(items) > _LIST_CAP:
            lines.append(f"…还有 {len(items) - _LIST_CAP} 项")
        lines.append("\n这里只列事项，不含学生信息和上报内容；需要时请联系对应学院跟进。")
        return Turn.end(Reply("\n".join(lines), again))
