"""Short informational flows: my details, crisis hotlines, a staff member's scope."""

from __future__ import annotations

from xinqiao.handlers.flow import Context, OneShotFlow, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services import person_info
from xinqiao.services.directory import ROLE_LABELS, STAFF_ROLES, unit_names
from xinqiao.vocabulary import Member, Role

_MENU = (Choice("menu", "主菜单"),)
_CHANNEL_LABELS = {"wechat": "微信", "telegram": "Telegram", "console": "控制台",
                   "wecom": "企业微信"}


class WhoAmIFlow(OneShotFlow):
    """我的信息: who the bot thinks you are, your units, roles and bound channels."""

    id = "whoami"
    title = "我的信息"
    triggers: tuple[str, ...] = ("我的信息", "我是谁", "/whoami")

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Show the person's roster entry."""
        person = ctx.person
        assert person is not None and person.id is not None
        college, klass, dorm = await ctx.run(unit_names, person)
        roles = "、".join(label for r, label in ROLE_LABELS.items() if r in ctx.roles) \
            or ROLE_LABELS[Role.student]
        identities = await ctx.run(person_info.accounts, person.id)
        channels = [i.channel for i in identities]
        lines = [
            f"姓名：{person.name}",
            f"学号/工号：{person.external_id}",
            f"身份：{roles}",
        ]
        units = (("学院", college), ("班级", klass), ("宿舍", dorm))
        lines += [f"{label}：{name}" for label, name in units if name]
        bound = "、".join(sorted({_CHANNEL_LABELS.get(c, c) for c in channels}))
        lines.append(f"已绑定：{bound}")
        preferred = next((i for i in identities if i.preferred and i.reachable), None)
        if preferred is not None:
            where = _CHANNEL_LABELS.get(preferred.channel, preferred.channel)
            lines.append(f"提醒发送到：{where}")
        # Staff records are kept by the centre's roster administrator, not by an advisor.
        lines.append("信息有误请联系心理中心（花名册管理员）更正。" if ctx.roles & STAFF_ROLES
                     else "信息有误请联系辅导员更正。")
        others = [i for i in identities if i.channel != "console" and i.reachable]
        here = ctx.identity
        if here.channel != "console" and len(others) > 1 and not here.preferred:
            return Turn.end(Reply("\n".join(lines),
                                  (flow_choice(PreferHereFlow.id, "提醒发到这里"), *_MENU)))
        return Turn.end(Reply("\n".join(lines), _MENU))


class PreferHereFlow(OneShotFlow):
    """提醒发到这里: alerts and reminders go to this chat account from now on."""

    id = "prefer_here"
    title = "提醒发到这里"
    triggers: tuple[str, ...] = ("提醒发到这里",)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Make this identity the person's only preferred one."""
        here, person = ctx.identity, ctx.person
        assert person is not None and person.id is not None
        if here.channel == "console":
            return Turn.end(Reply("控制台不能接收提醒，请在微信或 Telegram 里设置。", _MENU))
        await ctx.run(person_info.prefer, here, person.id)
        label = _CHANNEL_LABELS.get(here.channel, here.channel)
        return Turn.end(Reply(f"好的，以后的提醒会发到这里（{label}）。", _MENU))


class CrisisHelpFlow(OneShotFlow):
    """紧急求助: hotlines, open to everyone, bound or not."""

    id = "crisis_help"
    title = "紧急求助热线"
    triggers: tuple[str, ...] = ("紧急求助", "求助", "热线", "sos", "/sos")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Everyone, bound or not: nobody in trouble should meet a login wall."""
        return True

    async def start(self, ctx: Context, argument: str) -> Turn:
        """List the crisis lines and the centre's duty number."""
        lines = [
            "如果你或身边的人正处在危险中，请马上求助，你不需要一个人扛：",
            "· 全国心理援助热线：12356",
            "· 北京心理危机干预热线（24小时）：010-82951332",
            "· 希望24热线（24小时）：400-161-9995",
            "· 有生命危险请立即拨打 110 或 120",
        ]
        if ctx.settings.centre_duty_phone:
            lines.append(f"· {ctx.settings.centre_name}值班电话：{ctx.settings.centre_duty_phone}")
        lines.append("愿意的话，也可以在这里告诉我发生了什么。")
        return Turn.end(Reply("\n".join(lines), _MENU if ctx.bound else ()))


class ScopeFlow(OneShotFlow):
    """我的工作范围: the units a staff member serves and how many people they cover."""

    id = "scope"
    title = "我的工作范围"
    triggers: tuple[str, ...] = ("我的工作范围", "工作范围")

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Staff roles only."""
        return person is not None and bool(roles & STAFF_ROLES)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """One line per staff role assignment."""
        assert ctx.person is not None and ctx.person.id is not None
        lines = ["你负责的范围："]
        for a in await ctx.run(person_info.staff_scope, ctx.person.id):
            unit = {"klass": "班级", "college": "学院"}.get(a.unit, "全校")
            if a.unit_name and a.unit != "school":
                unit = f"{unit} {a.unit_name}"
            lines.append(f"· {ROLE_LABELS[a.role]}：{unit}（{a.people} 人）")
        return Turn.end(Reply("\n".join(lines), _MENU))
