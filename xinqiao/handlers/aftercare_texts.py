"""Aftercare's words: the centre's offer, the invitation that names nobody, reminder, close."""

from __future__ import annotations

from xinqiao.handlers.flow import flow_choice
from xinqiao.messages import Reply
from xinqiao.services.aftercare import wording as aftercare_wording

CHECKIN_FLOW = "aftercare_checkin"
CHECKIN_WORD = "关怀问候"
START = flow_choice(CHECKIN_FLOW, "好的，聊几句")
UNIT_LABELS = {"dorm": "同宿舍", "klass": "同班"}  # a round's units, in chat and on the console


class AftercareTexts:
    """The wording :mod:`xinqiao.services.aftercare.wording` asks for."""

    def offer_push(self, case: str, incident: str) -> Reply:
        """By case number only: the centre opens the case to see whose it is."""
        return Reply(f"【心桥】个案 {case} 记录了事件结局：{incident}。\n同宿舍和同班的同学可能"
                     "也受到影响，心理中心可以为他们发起一轮关怀回访（问候不会提到任何人或事件）。\n"
                     f"回复“关怀回访 {case}”查看将联系的人数并确认。",
                     (flow_choice("aftercare", "发起关怀回访"),))

    def invitation_push(self) -> Reply:
        """Warm, short, and naming no person and no event."""
        return Reply("【心理中心关怀问候】同学你好！最近学校和身边发生的一些事，可能会让人心里"
                     "不太好受，这很正常。心理中心想问问你最近过得怎么样——只有 3 个小问题，大约 "
                     "1 分钟，回答只有心理中心的老师能看到。\n"
                     f"回复「{CHECKIN_WORD}」或点下面开始。"
                     "\n如果现在就很难受，可以随时拨打心理援助热线 12356。", (START,))

    def reminder_push(self) -> Reply:
        """Once, to those who have not answered."""
        return Reply("【心理中心关怀问候】还想听听你最近怎么样：3 个小问题，大约 1 分钟。"
                     f"回复「{CHECKIN_WORD}」或点下面开始；不想回答也没关系，我们一直都在。"
                     "\n需要时可以拨打心理援助热线 12356。", (START,))

    def closed_push(self, case: str, invited: int, answered: int, concerns: int) -> Reply:
        """Counts only."""
        return Reply(f"个案 {case} 的关怀回访已结束：邀请 {invited} 人，回答 {answered} 人，"
                     f"提出关切 {concerns} 项。详情回复“关怀回访 {case}”。")

    def card(self, title: str) -> dict[str, object]:
        """No name, no event: who it is from and how to answer."""
        return {"title": title,
                "fields": {"来自": "学校心理中心", "方式": f"回复「{CHECKIN_WORD}」"}}


aftercare_wording.words.use(AftercareTexts())
