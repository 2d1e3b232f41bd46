"""A crisis case's team (五个一: one team) edited in chat: see it, add a colleague, remove one."""

from __future__ import annotations

from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services.cases import team as case_team
from xinqiao.services.cases.view import CaseView
from xinqiao.services.refs import case_ref

_MENU = (Choice("menu", "主菜单"),)
ADD_PROMPT = "请发送要加入团队的老师的工号（例如：T1001）："


async def team_turn(ctx: Context, case: CaseView, note: str = "") -> Turn:
    """The team, with a tap to add someone and one to remove each member but the lead."""
    number = case.id
    members = await ctx.run(case_team.team, case)
    lines = [note] if note else []
    lines.append(f"个案 {case_ref(number)} 的团队：")
    lines += [f"· {p.name}{'（负责人）' if p.lead else ''}" for p in members] or ["· 暂无成员"]
    choices = [Choice(f"add:{number}", "添加成员")]
    choices += [Choice(f"drop{p.person_id}:{number}", f"移除 {p.name}") for p in members
                if not p.lead]
    choices.append(Choice(f"view:{number}", "返回个案"))
    return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, *_MENU)))


async def add_member(ctx: Context, case: CaseView, number: str) -> Turn:
    """Add the staff member with this 工号; students and unknown numbers are refused."""
    assert ctx.person is not None
    name = await ctx.run(case_team.add_staff, case, number, ctx.person.id, ctx.clock.now())
    if name is None:
        return await team_turn(ctx, case, note="没有找到这位老师（只能加入老师），请核对工号。")
    return await team_turn(ctx, case, note=f"已把 {name} 加入团队。")


async def remove_member(ctx: Context, case: CaseView, person_id: int) -> Turn:
    """Remove a member (the lead stays: hand the lead over first)."""
    assert ctx.person is not None
    name = await ctx.run(case_team.remove, case, person_id, ctx.person.id, ctx.clock.now())
    if name is None:
        return await team_turn(ctx, case, note="负责人不能移除，请先由其他人接手负责。")
    return await team_turn(ctx, case, note=f"已把 {name} 移出团队。")
