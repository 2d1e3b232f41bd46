"""The crisis path's words: the first reply to a person in (or reporting) a crisis, and a
staff member's own.

Safety-critical and asserted by many tests: the hotlines come from ``services.crisis``
(``help_lines``, which the safety plan's service also prints); the words around them live here.
"""

from __future__ import annotations

from datetime import datetime

from xinqiao.clock import local
from xinqiao.messages import Choice, Reply
from xinqiao.services.crisis import help_lines
from xinqiao.services.staff_care import StaffCared
from xinqiao.settings import Settings

# After the lines, the writer's own crisis reply offers the safety plan (a bound student's).
SAFETY_PLAN = Choice("flow:safety_plan", "写一份安全计划")
MY_SAFETY_PLAN = Choice("flow:safety_plan", "查看我的安全计划")  # for one who has written it
MENU = Choice("menu", "主菜单")


def crisis_reply(settings: Settings, *, third_party: bool = False,
                 nobody_named: bool = False, plan: bool = False, has_plan: bool = False) -> Reply:
    """What a person in (or reporting) a crisis reads first: care, then where to get help now.

    ``nobody_named``: about someone we could not identify — which is also how a writer's own
    words can read ("没有我他们会更好"), so the reply leaves the door open to the writer too.
    ``plan``: the writer is a bound student, offered their safety plan after the lines
    (``has_plan``: to read the one they wrote, not to write one).
    """
    if third_party:
        head = ("谢谢你告诉我，这很重要。我已经通知心理中心和学院老师，他们会尽快联系。\n"
                "如果对方现在有危险，请陪着他/她，并立即拨打 110 或 120。")
        if nobody_named:
            head += "\n如果你说的其实是你自己，也请直接告诉我，老师同样会来关心你。"
    else:
        head = ("听到你这么说，我很担心你。你不需要一个人扛着，"
                "心理中心的老师会尽快联系你。\n此刻就可以找人聊聊：")
    offer = MY_SAFETY_PLAN if has_plan else SAFETY_PLAN
    choices = (offer, MENU) if plan and not third_party else (MENU,)
    return Reply("\n".join([head, *help_lines(settings)]), choices)


# --- a staff member's own crisis words (services/staff_care) ---

COLLEAGUE_TITLE = "同事关怀提醒"


def staff_reply(settings: Settings, cared: StaffCared) -> Reply:
    """What the staff member reads: care, who was told privately, then the lines."""
    who = "心理中心负责人" if cared.leads else "心理中心的同事"
    told = f"我已经私下请{who}联系你，只有他们知道。" if cared.told else ""
    head = ("听到你这么说，我很担心你。你一直在照顾学生，你自己也值得被照顾，"
            f"不需要一个人扛着。{told}\n此刻就可以找人聊聊：")
    return Reply("\n".join([head, *help_lines(settings)]), (MENU,))


class StaffCareTexts:
    """The private push to the centre lead that :mod:`xinqiao.services.staff_care` sends."""

    def colleague_push(self, roles: tuple[str, ...], name: str, external_id: str,
                       phone: str | None, at: datetime) -> Reply:
        """Names the colleague and how to reach them, never their words."""
        reach = f"，电话 {phone}" if phone else ""
        return Reply(f"【心桥·{COLLEAGUE_TITLE}】{_role(roles)} {name}（{external_id}{reach}）"
                     f"{local(at):%m-%d %H:%M} 在和心桥的对话里流露出很强的痛苦，"
                     "可能有自伤的念头。"
                     "心桥已给了关怀回复和求助热线。请尽快以同事身份私下联系，这条消息只发给你。")

    def colleague_card(self, roles: tuple[str, ...], name: str,
                       at: datetime) -> dict[str, object]:
        """The template card of that push (reaches a lead not active lately)."""
        return {"title": COLLEAGUE_TITLE, "fields": {"同事": f"{name}（{_role(roles)}）",
                                                     "时间": f"{local(at):%m-%d %H:%M}"}}


def _role(roles: tuple[str, ...]) -> str:
    return "、".join(roles) or "老师"


STAFF_CARE = StaffCareTexts()
