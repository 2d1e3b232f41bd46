"""A crisis case's team (五个一: one team) edited in chat: see it, add a colleague, remove one."""

from __future__ import annotations

from sqlmodel import col, delete, select

from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services import cases
from xinqiao.services.directory import STAFF_ROLES, role_set
from xinqiao.services.refs import case_ref
from xinqiao.storage.cases import Case, CaseMember, CaseNote
from xinqiao.storage.models import Person

_MENU = (Choice("menu", "主菜单"),)
ADD_PROMPT = "请发送要加入团队的老师的工号（例如：T1001）："


async def _members(ctx: Context, case: Case) -> list[Person]:
    rows = await ctx.session.exec(select(Person).join(
        CaseMember, col(CaseMember.person_id) == col(Person.id)).where(
        CaseMember.case_id == case.id).order_by(col(CaseMember.id)))
    return list(rows)


async def team_turn(ctx: Context, case: Case, note: str = "") -> Turn:
    """The team, with a tap to add someone and one to remove each member but the lead."""
    number = case.id
    members = await _members(ctx, case)
    lines = [note] if note else []
    lines.append(f"个案 {case_ref(number)} 的团队：")
    lines += [f"· {p.name}{'（负责人）' if p.id == case.lead_person_id else ''}"
              for p in members] or ["· 暂无成员"]
    choices = [Choice(f"add:{number}", "添加成员")]
    choices += [Choice(f"drop{p.id}:{number}", f"移除 {p.name}") for p in members
                if p.id != case.lead_person_id]
    choices.append(Choice(f"view:{number}", "返回个案"))
    return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, *_MENU)))


async def add_member(ctx: Context, case: Case, number: str) -> Turn:
    """Add the staff member with this 工号; students and unknown numbers are refused."""
    assert ctx.person is not None
    person = (await ctx.session.exec(select(Person).where(
        Person.external_id == number.strip(), col(Person.active).is_(True)))).first()
    if person is None or person.id is None or not (
            await role_set(ctx.session, person.id) & STAFF_ROLES):
        return await team_turn(ctx, case, note="没有找到这位老师（只能加入老师），请核对工号。")
    await cases.add_member(ctx.session, case, person.id, ctx.clock.now())
    ctx.session.add(CaseNote(case_id=case.id or 0, at=ctx.clock.now(),
                             author_person_id=ctx.person.id, kind="team",
                             text=f"{person.name} 加入团队"))
    return await team_turn(ctx, case, note=f"已把 {person.name} 加入团队。")


async def remove_member(ctx: Context, case: Case, person_id: int) -> Turn:
    """Remove a member (the lead stays: hand the lead over first)."""
    assert ctx.person is not None
    person = await ctx.session.get(Person, person_id)
    if person is None or person_id == case.lead_person_id:
        return await team_turn(ctx, case, note="负责人不能移除，请先由其他人接手负责。")
    await ctx.session.exec(delete(CaseMember).where(
        col(CaseMember.case_id) == case.id, col(CaseMember.person_id) == person_id))
    ctx.session.add(CaseNote(case_id=case.id or 0, at=ctx.clock.now(),
                             author_person_id=ctx.person.id, kind="team",
                             text=f"{person.name} 离开团队"))
    return await team_turn(ctx, case, note=f"已把 {person.name} 移出团队。")


