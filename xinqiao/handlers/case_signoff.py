"""结案审批: a centre member agrees (or not) to close a crisis case a college asked to close."""

from __future__ import annotations

from typing import Any

from xinqiao.handlers.case_texts import decided_text
from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services.access import Action
from xinqiao.services.cases import lifecycle as cases
from xinqiao.services.cases import signoff as case_signoff
from xinqiao.services.cases.signoff import Waiting
from xinqiao.services.refs import CASE, case_ref, parse_ref, wrong_kind
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
AGREE, DISAGREE = "同意结案", "不同意结案"


class CaseSignoffFlow:
    """The centre's side of closing a case: the pending requests, each with 同意 / 不同意."""

    id = case_signoff.FLOW
    title = "结案审批"
    triggers: tuple[str, ...] = (AGREE, DISAGREE, "结案审批")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Centre staff and the centre lead."""
        return person is not None and bool(roles & cases.CENTRE)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """``同意结案 N`` / ``不同意结案 N`` decide at once; otherwise list what waits."""
        text = ctx.inbound.text.strip()
        ref = parse_ref(argument)
        if ref is not None and text.startswith((AGREE, DISAGREE)):
            if hint := wrong_kind(ref, CASE):
                return Turn.end(Reply(hint, _MENU))
            return await self._decide(ctx, ref.number, text.startswith(AGREE))
        waiting = await ctx.run(case_signoff.waiting)
        if not waiting:
            return Turn.end(Reply("目前没有等待确认的结案申请。", _MENU))
        lines, choices = ["等待心理中心确认的结案申请："], []
        for request in waiting:
            lines.append(_describe(request))
            number = case_ref(request.case_id)
            choices += [Choice(f"yes:{request.case_id}", f"同意 {number}"),
                        Choice(f"no:{request.case_id}", f"不同意 {number}")]
        return Turn.ask("pick", {}, Reply("\n".join(lines), (*choices, *_MENU)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """A tap on 同意 / 不同意."""
        verb, _, raw = (ctx.inbound.choice or "").partition(":")
        if verb not in ("yes", "no") or not raw.isdecimal():
            return await self.start(ctx, "")
        return await self._decide(ctx, int(raw), verb == "yes")

    async def _decide(self, ctx: Context, case_id: int, agree: bool) -> Turn:
        assert ctx.person is not None
        now = ctx.clock.now()
        waiting = await ctx.run(case_signoff.pending, case_id)
        verdict = "case.close.approved" if agree else "case.close.declined"
        case = await ctx.run(cases.read_case, await ctx.actor(), case_id, now,
                             Action.change, audit_as=verdict) if waiting else None
        if case is None or not waiting:
            return Turn.end(Reply(f"个案 {case_ref(case_id)} 没有等待确认的结案申请。", _MENU))
        code = await ctx.run(case_signoff.decide, case_id, ctx.person, agree, now)
        return Turn.end(Reply(decided_text(case_ref(case_id), code), _MENU))


def _describe(request: Waiting) -> str:
    tier = case_signoff.TIER_LABELS[request.tier]
    return (f"{case_ref(request.case_id)} {request.student}：{request.asker} 申请结案，"
            f"结论：{request.decision}；结案后：{tier}")
