"""不参加: a student answers a screening invitation by declining it (no more reminders)."""

from __future__ import annotations

from typing import Any

from xinqiao.handlers.flow import Context, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services import invitations
from xinqiao.services.invitations import OPT_OUT_FLOW
from xinqiao.vocabulary import Member, Role

# What may follow the word and still mean "not this round": 不参加了, 不参加这次测评 …
_FILLER = frozenset({"", "了", "啦", "吧", "了吧", "测评", "这次", "这次测评", "这次的测评",
                     "心理测评", "本次测评", "谢谢"})
_MENU = (Choice("menu", "主菜单"),)


class ScreeningOptOutFlow:
    """The reply 不参加 (typed or tapped under an invitation) declines the open invitations."""

    id = OPT_OUT_FLOW
    title = "不参加测评"
    triggers: tuple[str, ...] = ("不参加", "不想参加", "暂不参加")
    # An answer to an invitation, not a command: typed inside another conversation (the ASQ,
    # a consent question) it stays that conversation's answer.
    reply_word = True

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Students."""
        return person is not None and Role.student in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Decline the student's open invitations, or pass a longer sentence on."""
        if argument.strip(" 。.!！~～,，") not in _FILLER:
            return Turn.pass_on()  # 不想参加社团了…: words to be heard, not an answer
        assert ctx.person is not None and ctx.person.id is not None
        if not await ctx.run(invitations.open_invitations, ctx.person.id):
            return Turn.end(Reply("现在没有邀请你参加的测评，不用回复哦。想自己做测评时，"
                                  "回复「测评」就可以。", _MENU))
        await ctx.run(invitations.decline, ctx.person.id, ctx.clock.now())
        ctx.state.suspended.pop("screening", None)
        return Turn.end(Reply("好的，这次测评你不参加，之后不会再提醒你。"
                              "如果需要帮助，心理中心一直都在。", _MENU))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """One-shot: never waits."""
        return await self.start(ctx, "")
