"""Screening invitations' words that a timer pushes: the second-stage reminder."""

from __future__ import annotations

from datetime import datetime

from xinqiao.clock import local
from xinqiao.handlers.screening_texts import START_CHOICE
from xinqiao.messages import Reply
from xinqiao.services import invitation_wording


class InvitationTexts:
    """The wording :mod:`xinqiao.services.invitation_wording` asks for."""

    def second_stage_reminder(self, due: datetime) -> Reply:
        """Short, with the word to start and a way to talk to someone instead."""
        return Reply(f"提醒：心理中心请你在{local(due):%m月%d日}前完成一项后续测评，大约几分钟。"
                     "回复「测评」就可以开始；有疑问也可以直接预约老师聊一聊。", (START_CHOICE,))

    def second_stage_card(self, due: datetime) -> dict[str, object]:
        """Title, deadline and how to start."""
        return {"title": "后续测评提醒",
                "fields": {"截止": f"{local(due):%m月%d日}", "方式": "回复「测评」"}}


invitation_wording.words.use(InvitationTexts())
