"""A screening round's pushes in words: the invitation, the reminder and their card."""

from __future__ import annotations

from datetime import datetime

from xinqiao.clock import SHANGHAI
from xinqiao.messages import Choice, Reply
from xinqiao.services import screening_rounds
from xinqiao.services.invitations import OPT_OUT_FLOW

# The taps under a round's invitation or reminder (Telegram buttons, WeChat menu links); the
# second-stage reminder (invitation_texts) borrows 开始测评.
START_CHOICE = Choice("flow:screening", "开始测评")
DECLINE_CHOICE = Choice(f"flow:{OPT_OUT_FLOW}", "不参加")


def deadline(closes_at: datetime) -> str:
    """When the round closes, as the invitation says it (09月30日 17:00)."""
    return f"{closes_at.astimezone(SHANGHAI):%m月%d日 %H:%M}"


class ScreeningTexts:
    """The wording :mod:`xinqiao.services.screening_rounds` asks for."""

    def invitation(self, name: str, closes_at: datetime) -> Reply:
        """About five minutes, seen only by the student and the centre, and may be declined."""
        return Reply(
            f"【{name}】\n同学你好！学校心理中心邀请你在{deadline(closes_at)}前完成"
            "一次心理健康测评，大约需要5分钟。\n详细结果只有你本人和心理中心的老师能看到，"
            "你也可以选择不参加。\n回复「测评」就可以开始，不想参加回复「不参加」。",
            (START_CHOICE, DECLINE_CHOICE))

    def reminder(self, name: str, closes_at: datetime) -> Reply:
        """Once per reminder day, and declining stops them."""
        return Reply(
            f"温馨提醒：【{name}】还没有完成哦，{deadline(closes_at)}截止，"
            "大约需要5分钟。回复「测评」继续；如果不想参加，回复「不参加」即可，"
            "之后不会再提醒你。", (START_CHOICE, DECLINE_CHOICE))

    def card(self, name: str, closes_at: datetime, reminder: bool) -> dict[str, object]:
        """The round, its deadline and how to start."""
        return {"title": "测评提醒" if reminder else "测评邀请",
                "fields": {"批次": name[:20], "截止": deadline(closes_at),
                           "方式": "回复「测评」开始"}}


screening_rounds.words.use(ScreeningTexts())
