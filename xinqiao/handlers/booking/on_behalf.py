"""代约: centre staff book a session for a student, crisis-kept sessions included (issue 20)."""

from __future__ import annotations

from typing import Any

from xinqiao.handlers.booking.texts import short_when, when_text
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.policy.policy import Policy
from xinqiao.services.booking.fair_access import (
    book_for_student,
    staff_slots,
    student_by_number,
)
from xinqiao.services.booking.slots import counsellor_names, parse_key
from xinqiao.services.cases.lifecycle import CENTRE
from xinqiao.vocabulary import Member, Role

_MENU = Choice("menu", "主菜单")


class BookForStudentFlow:
    """Centre roles: 代约 学号 → pick a session (危机时段 marked) → booked, the student told."""

    id = "booking_for_student"
    title = "代学生预约"
    triggers: tuple[str, ...] = ("代约", "代为预约")

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & CENTRE)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The student named after the command, or ask for their number."""
        if not argument.strip():
            return Turn.ask("who", {}, Reply("为哪位同学预约？请输入学号：", (_MENU,)))
        return await self._list(ctx, argument.strip())

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """A typed student number, or a picked session."""
        if step == "who":
            return await self._list(ctx, ctx.inbound.text.strip())
        number = str(data.get("number", ""))
        parsed = parse_key((ctx.inbound.choice or "").removeprefix("slot:"))
        student = await ctx.run(student_by_number, number)
        if parsed is None or student is None or ctx.person is None:
            return await self._list(ctx, number)
        outcome = await ctx.run(book_for_student, self.policy, ctx.person, student,
                                ctx.clock.now(), counsellor_id=parsed[0],
                                start=parsed[1])
        if outcome.ok and outcome.appointment is not None:
            names = await ctx.run(counsellor_names, [outcome.appointment.counsellor_id])
            return Turn.end(Reply(
                f"已为{student.name}（{number}）预约 {when_text(outcome.appointment.start_at)}"
                f" {names.get(outcome.appointment.counsellor_id, '')}，已通知学生。", (_MENU,)))
        if outcome.code == "has_upcoming":
            return Turn.end(Reply(f"{student.name}已经有一个预约了（每人同时保留一个）。",
                                  (_MENU,)))
        return await self._list(ctx, number, "这个时段刚被约走了，换一个吧：")

    async def _list(self, ctx: Context, number: str, note: str = "") -> Turn:
        student = await ctx.run(student_by_number, number)
        if student is None or student.id is None:
            return Turn.ask("who", {}, Reply(
                f"没有找到学号为“{number[:20]}”的学生，请再输入一次：", (_MENU,)))
        found = (await ctx.run(staff_slots, self.policy, student.id, ctx.clock.now())
                 )[:self.policy.booking.page_size]
        if not found:
            return Turn.end(Reply(f"最近 {self.policy.booking.horizon_days} 天没有可约的时段了"
                                  "（危机时段也已约满），请加开时段。", (_MENU,)))
        names = await ctx.run(counsellor_names, (x.counsellor_id for x, _ in found))
        picks = [Choice(f"slot:{x.key}", f"{short_when(x.start)} {names.get(x.counsellor_id, '')}"
                        + (" · 危机时段" if kept else "")) for x, kept in found]
        head = f"{note}\n" if note else ""
        return Turn.ask("pick", {"number": number}, Reply(
            f"{head}为{student.name}（{number}）选一个时段（危机时段只有中心可约）：",
            (*picks, _MENU)))
