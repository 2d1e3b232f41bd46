"""是 / 不是 on a bound account: the answer to another account asking to join the person."""

from __future__ import annotations

from xinqiao.handlers.binding_texts import channel_name
from xinqiao.handlers.flow import Context, OneShotFlow, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services import binding_requests as requests


class BindAnswerFlow(OneShotFlow):
    """The tapped answer to "有人正在 … 绑定你的身份，是你本人吗？"."""

    def __init__(self, yes: bool) -> None:
        self.yes = yes
        self.id = "bind_yes" if yes else "bind_no"
        self.title = "确认绑定" if yes else "拒绝绑定"

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Confirm or refuse the person's newest pending request."""
        person, now = ctx.person, ctx.clock.now()
        assert person is not None and person.id is not None
        menu = (Choice("menu", "主菜单"),)
        request = await ctx.run(requests.pending, person.id, now)
        if request is None:
            return Turn.end(Reply("没有等待你确认的绑定请求（可能已经过期）。", menu))
        joined = await ctx.run(requests.decide, request, yes=self.yes, person=person,
                               now=now)
        if not self.yes:
            return Turn.end(Reply(
                "好的，那个账号没有绑定。如果你的激活码可能被别人看到过，"
                "请联系辅导员或心理中心。", menu))
        if joined is None:
            return Turn.end(Reply("这个绑定请求已经失效了，请让对方重新发起。", menu))
        name = channel_name(joined.channel)
        return Turn.end(Reply(f"好的，已确认。你的{name}账号现在也可以使用心桥了。", menu))
