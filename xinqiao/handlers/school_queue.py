"""全校待办: the centre lead's school-wide view of open items, as facts without content.

Report text and the student's name stay with the people an item was sent to (the access matrix
grants reports by recipient); the lead sees where each open item is, how long it has waited and
whether anyone has taken it, so they can chase a college. The read itself is audited.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import col, select

from xinqiao.clock import utc
from xinqiao.handlers.flow import Context, OneShotFlow, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services import audit
from xinqiao.services.escalation_text import (
    SEVERITY_LABELS,
    UNACKNOWLEDGED,
    level_label,
    status_label,
    title_of,
)
from xinqiao.services.refs import item_ref
from xinqiao.services.severity import RANK
from xinqiao.storage.models import College, Klass, Person, Role
from xinqiao.storage.reports import Escalation, EscalationStatus, Severity

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

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """The centre lead only."""
        return person is not None and Role.centre_lead in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Counts per college, then the items: unacknowledged and most severe first."""
        assert ctx.person is not None
        now = ctx.clock.now()
        rows = (await ctx.session.exec(
            select(Escalation, College.name, Klass.name)
            .join(College, col(College.id) == Escalation.college_id, isouter=True)
            .join(Klass, col(Klass.id) == Escalation.klass_id, isouter=True)
            .join(Person, col(Person.id) == Escalation.subject_person_id, isouter=True)
            .where(col(Escalation.status).in_([EscalationStatus.open.value,
                                               EscalationStatus.acked.value]),
                   (col(College.school_id) == ctx.person.school_id)
                   | (col(Person.school_id) == ctx.person.school_id)))).all()
        await audit.record(ctx.session, at=now, action="report.school_overview",
                           actor_person_id=ctx.person.id, count=len(rows))
        again = (flow_choice(self.id, "刷新"), *_MENU)
        if not rows:
            return Turn.end(Reply("全校目前没有未办结的待办，辛苦大家了。", _MENU))
        rows = sorted(rows, key=lambda r: (r[0].status != EscalationStatus.open,
                                           -RANK[Severity(r[0].severity)], utc(r[0].opened_at)))
        pending = sum(r[0].status == EscalationStatus.open for r in rows)
        per_college = Counter(r[1] or "未分学院" for r in rows)
        lines = [f"全校未办结 {len(rows)} 项，其中待确认 {pending} 项：",
                 "、".join(f"{name} {n}" for name, n in sorted(per_college.items())), ""]
        for esc, college, klass in rows[:_LIST_CAP]:
            where = " ".join(x for x in (college, klass) if x) or "全校"
            at = level_label(esc.chain[esc.level]) if esc.level < len(esc.chain) else ""
            state = status_label(esc)
            tail = f"，在{at}" if at and state != UNACKNOWLEDGED else ""
            lines.append(f"· {item_ref(esc.id)} {title_of(esc.kind, esc.kind)}"
                         f"（{SEVERITY_LABELS[Severity(esc.severity)]}）{where}："
                         f"{state}{tail}，已 {waited(esc.opened_at, now)}")
        if len(rows) > _LIST_CAP:
            lines.append(f"…还有 {len(rows) - _LIST_CAP} 项")
        lines.append("\n这里只列事项，不含学生信息和上报内容；需要时请联系对应学院跟进。")
        return Turn.end(Reply("\n".join(lines), again))
