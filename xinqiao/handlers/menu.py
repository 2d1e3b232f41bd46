"""The role menu: what a bound person can do, as tappable choices, from data."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from xinqiao.handlers.flow import Context, FlowRegistry, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services.report_types import report_types
from xinqiao.vocabulary import Role


@dataclass(frozen=True)
class MenuItem:
    """One menu line: the flow it starts, its label and who sees it."""

    flow: str
    label: str
    roles: frozenset[str]

    def visible_to(self, roles: frozenset[Role]) -> bool:
        """Whether a person with these roles sees the item."""
        return "*" in self.roles or any(r.value in self.roles for r in roles)


def load_menu(path: Path | None = None) -> tuple[MenuItem, ...]:
    """Read the menu file (the packaged one by default) and check its roles; ``reports``
    stands for every report form of the registry."""
    text = (
        path.read_text(encoding="utf-8")
        if path
        else resources.files("xinqiao.data").joinpath("menu.toml").read_text(encoding="utf-8")
    )
    items: list[MenuItem] = []
    known = {r.value for r in Role} | {"*"}
    for raw in tomllib.loads(text).get("item", []):
        if raw.get("reports") is True:  # the report forms, as their report types say
            items += [MenuItem(flow=t.form, label=t.form_title, roles=frozenset(t.filed_by))
                      for t in report_types().filed() if t.form is not None]
            continue
        roles = frozenset(raw.get("roles", ["*"]))
        if unknown := roles - known:
            raise ValueError(f"menu item {raw.get('flow')!r}: unknown roles {sorted(unknown)}")
        items.append(MenuItem(flow=str(raw["flow"]), label=str(raw["label"]), roles=roles))
    return tuple(items)


class Menu:
    """Renders the menu for a person: registered flows their roles may use."""

    def __init__(self, items: tuple[MenuItem, ...], flows: FlowRegistry) -> None:
        self.items = items
        self.flows = flows

    def choices_for(self, ctx: Context) -> tuple[Choice, ...]:
        """The menu choices this person sees, in file order."""
        out = []
        for item in self.items:
            flow = self.flows.get(item.flow)
            if flow is None or not item.visible_to(ctx.roles):
                continue
            if flow.available_to(ctx.person, ctx.roles):
                out.append(flow_choice(item.flow, item.label))
        return tuple(out)

    async def render(self, ctx: Context, greeting: str = "") -> Reply:
        """The menu as one reply."""
        name = ctx.person.name if ctx.person else ""
        head = greeting or (f"{name}，你好！" if name else "你好！")
        return Reply(f"{head}请选择你需要的服务：", self.choices_for(ctx))


_OWN = (
    ("safety_plan", frozenset({Role.student}), "难受时可以做的事、可以找的人，可以写进“安全计划”，"
     "随时查看和修改。", "我的安全计划"),
    ("practice", frozenset({Role.committee, Role.informant}),
     "想熟悉上报流程，可以回复“练习”：和正式上报一样填写，但不会发给老师。", "上报练习"),
)


def help_reply(ctx: Context) -> Reply:
    """How to use the bot, short."""
    if not ctx.bound:
        return Reply(
            "心桥是学校心理健康中心的服务号助手。\n"
            "请先绑定身份：发送“绑定 学号 激活码”，例如：绑定 2023001 AB23CD45。\n"
            "激活码可向辅导员或班级心理委员领取。\n"
            "如果你现在很难受，请直接拨打心理援助热线 12356。"
        )
    lines = ["随时回复“菜单”回到主菜单；填写中回复“返回”改上一题，“取消”退出。",
             "你说的话只有需要知道的老师能看到。"]
    choices: list[Choice] = []
    # Where each kind of person looks for what is theirs: a student's own safety plan, and
    # training for those who file the network's reports (each where its flow runs).
    for flow_id, roles, line, label in _OWN:
        flow = ctx.flows.get(flow_id)
        if flow is not None and roles & ctx.roles and flow.available_to(ctx.person, ctx.roles):
            lines.append(line)
            choices.append(flow_choice(flow_id, label))
    lines.append("如果你现在很难受，请直接拨打心理援助热线 12356。")
    return Reply("\n".join(lines), (*choices, Choice("menu", "主菜单")))
