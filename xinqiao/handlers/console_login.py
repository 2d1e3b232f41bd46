"""登录 / 工作台: a staff member asks for a one-time link to the web console."""

from __future__ import annotations

from xinqiao.handlers.flow import Context, OneShotFlow, Turn
from xinqiao.messages import Choice, Reply
from xinqiao.services import audit
from xinqiao.services.console_auth import LINK_TTL, issue_link, may_use_console
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
NOT_BOUND = ("工作台是给老师们用的网页。请先绑定身份（回复“绑定”开始）；"
             "如果你需要帮助，回复“菜单”就能找到想要的服务。")
NOT_STAFF = ("工作台是辅导员和心理老师处理事务的网页，同学们不需要登录哦。"
             "你需要的服务都在菜单里，有任何困扰也可以随时预约心理咨询。")


class ConsoleLoginFlow(OneShotFlow):
    """Answers staff with a login link; everyone else with a warm word and no link."""

    id = "console_login"
    title = "工作台"
    triggers: tuple[str, ...] = ("登录", "工作台", "/login")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Anyone may ask: students and the unbound get a kind answer instead of a link."""
        return True

    async def start(self, ctx: Context, argument: str) -> Turn:
        """A fresh link for staff; none for anyone else (the refusal is audited)."""
        now = ctx.clock.now()
        if ctx.person is None or not may_use_console(ctx.roles):
            await ctx.run(audit.record, at=now, action="console.refused",
                          actor_person_id=ctx.person.id if ctx.person else None,
                          allowed=False, identity=ctx.identity.id)
            return Turn.end(Reply(NOT_BOUND if ctx.person is None else NOT_STAFF,
                                  _MENU if ctx.person is not None else ()))
        url = await ctx.run(issue_link, ctx.person, ctx.identity.channel,
                            ctx.settings.public_base_url, now)
        minutes = int(LINK_TTL.total_seconds() // 60)
        return Turn.end(Reply(
            f"工作台登录链接（{minutes} 分钟内有效，只能使用一次，请勿转发）：\n{url}\n"
            "在手机或电脑浏览器打开即可；用完请点“退出登录”。", _MENU))
