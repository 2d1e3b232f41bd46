"""Crisis cases' pushes: a follow-up or a contact due, a close request and its answer."""

from __future__ import annotations

from datetime import date

from xinqiao.handlers.flow import flow_choice
from xinqiao.messages import Reply
from xinqiao.services.cases import wording as case_wording
from xinqiao.services.cases.signoff import FLOW as SIGNOFF_FLOW


class CaseTexts:
    """The wording :mod:`xinqiao.services.cases.wording` asks for."""

    def followup_push(self, case: str, has_lead: bool) -> Reply:
        """The lead records the follow-up; the centre first names a lead."""
        if has_lead:
            return Reply(f"个案 {case} 今天需要随访。随访后回复“个案 {case}”记录情况。")
        return Reply(f"个案 {case} 还没有负责人。请回复“个案 {case}”指定负责人并制定计划。")

    def contact_due_push(self, case: str, day: date, what: str) -> Reply:
        """Once, on the day."""
        return Reply(f"个案 {case} 今天（{day:%m-%d}）需要{what}。"
                     f"联系后回复“个案 {case}”记录情况。")

    def close_requested_push(self, asker: str, case: str, student: str, tier: str) -> Reply:
        """With the words to answer, and a tap that lists what waits."""
        text = (f"【心桥】{asker} 申请结束个案 {case}（{student}），结案后关注等级：{tier}。\n"
                f"需要心理中心确认：回复“同意结案 {case}”或“不同意结案 {case}”。")
        return Reply(text, (flow_choice(SIGNOFF_FLOW, "查看并确认"),))

    def close_answered_push(self, case: str, by: str, agreed: bool) -> Reply:
        """Agreed: the case is closed; not agreed: it goes on."""
        if agreed:
            return Reply(f"个案 {case} 的结案申请已由心理中心 {by} 同意，个案已结案。")
        return Reply(f"心理中心 {by} 暂未同意结束个案 {case}，请继续跟进，"
                     f"可回复“个案 {case}”查看。")


def decided_text(case: str, code: str) -> str:
    """What the centre member who agreed (or not) is told in chat."""
    if code == "approved":
        return f"已同意，个案 {case} 已结案。"
    if code == "declined":
        return f"已记录：不同意结案，个案 {case} 继续跟进。"
    return "这项结案申请已经处理过了。"


case_wording.words.use(CaseTexts())
