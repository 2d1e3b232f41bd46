"""值班表: who at the centre is on crisis duty now and in the coming week."""

from __future__ import annotations

from datetime import timedelta

from xinqiao.clock import SHANGHAI
from xinqiao.handlers.flow import Context, OneShotFlow, Turn
from xinqiao.handlers.reports_view import CENTRE_ROLES
from xinqiao.messages import Choice, Reply
from xinqiao.services.rota import names_on_duty, shifts_between
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
_CAP = 20


class DutyRotaFlow(OneShotFlow):
    """Centre roles see the duty now and the shifts of the next seven days."""

    id = "duty_rota"
    title = "值班表"
    triggers: tuple[str, ...] = ("值班表", "值班", "谁值班")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre staff and lead."""
        return person is not None and bool(roles & CENTRE_ROLES)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Who gets crisis alerts right now, then the coming week's shifts."""
        now = ctx.clock.now()
        names = await ctx.run(names_on_duty, now)
        shifts = await ctx.run(shifts_between, now, now + timedelta(days=7))
        lines = ["现在接收危机提醒的是：" + ("、".join(names) or "（暂无心理中心老师）")]
        if not shifts:
            lines.append("还没有排班：所有心理中心老师都会收到危机提醒。"
                         "排班表可用 xinqiao rota import 导入。")
        else:
            lines.append("未来七天的值班：")
            for shift, person in shifts[:_CAP]:
                start, end = shift.starts_at.astimezone(SHANGHAI), shift.ends_at.astimezone(
                    SHANGHAI)
                lines.append(f"· {start:%m-%d %H:%M}—{end:%m-%d %H:%M} {person.name}"
                             + (f"（{shift.note}）" if shift.note else ""))
            if len(shifts) > _CAP:
                lines.append(f"……另有 {len(shifts) - _CAP} 个班次")
        return Turn.end(Reply("\n".join(lines), _MENU))
