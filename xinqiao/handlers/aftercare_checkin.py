"""关怀问候: a roommate or classmate answers an aftercare round's three short questions.

The questions are a form on the one form runner (``xinqiao/data/care/aftercare.toml``), so a
half-answered one is offered again. Nothing here names the student or the event the round
follows. Crisis words typed into the own-words answer reach the crisis watch like anywhere
else: the form pauses and the lines come first.
"""

from __future__ import annotations

from typing import Any

from xinqiao.handlers.aftercare_texts import CHECKIN_FLOW, CHECKIN_WORD
from xinqiao.handlers.flow import Context, Turn, flow_choice
from xinqiao.handlers.form_runner import FormRunner, Hooks
from xinqiao.handlers.form_spec import FormSpec
from xinqiao.messages import Choice, Reply
from xinqiao.services.aftercare import rounds as aftercare
from xinqiao.services.aftercare.answers import checkin_form, record_answers
from xinqiao.services.crisis import help_lines
from xinqiao.services.escalation.engine import Escalations
from xinqiao.services.network import Network

_MENU = Choice("menu", "主菜单")
STUDENTS = frozenset({"student", "committee", "informant"})  # roles are str enums


class AftercareCheckinFlow:
    """The invited student's side of an aftercare round."""

    id = CHECKIN_FLOW
    title = "关怀问候"
    triggers: tuple[str, ...] = (CHECKIN_WORD,)
    resumable = True

    def __init__(self, network: Network) -> None:
        self.escalations: Escalations = network.escalations
        self.spec = checkin_form()
        self.runner = FormRunner(self.id, {self.spec.id: self.spec}, Hooks(self._complete),
                                 default=self.spec.id)

    def available_to(self, person: object | None, roles: frozenset[str]) -> bool:
        """Students (an invitation is theirs alone)."""
        return person is not None and bool(roles & STUDENTS)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The questions of the person's open invitation; without one, a kind word."""
        assert ctx.person is not None and ctx.person.id is not None
        if await ctx.run(aftercare.open_invitation, ctx.person.id) is None:
            return Turn.end(Reply("目前没有需要回答的关怀问候。心里不舒服的时候，随时可以"
                                  "预约心理咨询或拨打下面的热线：\n" + "\n".join(
                                      help_lines(ctx.settings)),
                                  (flow_choice("booking", "预约心理咨询"), _MENU)))
        return await self.runner.start(ctx, "", self._first)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """One answer at a time."""
        return await self.runner.step(ctx, step, data, restart=lambda c: self._first(c, ""))

    async def _first(self, ctx: Context, argument: str) -> Turn:
        return await self.runner.begin(ctx, self.spec, note=self.spec.intro)

    async def _complete(self, ctx: Context, spec: FormSpec, data: dict[str, Any]) -> Turn:
        assert ctx.person is not None and ctx.person.id is not None
        invite = await ctx.run(aftercare.open_invitation, ctx.person.id)
        if invite is None:  # the round closed while the form was open
            return Turn.end(Reply("谢谢你！这轮关怀问候已经结束了。需要的话随时可以预约心理咨询。",
                                  (flow_choice("booking", "预约心理咨询"), _MENU)))
        outcome = await ctx.run(record_answers, self.escalations, invite, ctx.person,
                                dict(data["answers"]), ctx.clock.now())
        lines = "\n".join(help_lines(ctx.settings))
        if outcome.wants_talk:
            text = ("谢谢你告诉我们。心理中心的老师会在工作时间联系你；你也可以现在就预约一个"
                    f"时间，面对面聊一聊。\n难受得厉害的时候，不用等：\n{lines}")
        elif outcome.item_id is not None:
            text = ("谢谢你愿意说出来，这段时间辛苦了。心理中心的老师会在工作时间关心一下你。"
                    f"想聊的时候，可以直接预约咨询。\n需要时随时可以拨打：\n{lines}")
        else:
            text = ("谢谢你，知道你还好我们就放心了。身边的同学如果看起来不太对劲，"
                    f"多陪陪他们，也可以告诉心理中心。\n需要时随时可以拨打：\n{lines}")
        return Turn.end(Reply(text, (flow_choice("booking", "预约心理咨询"), _MENU)))
