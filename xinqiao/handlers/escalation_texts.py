"""An item's words in chat: its pushes (alerts, climbs, reminders, joins, a missing check-in's
close) and the answer to a staff member's 收到 or 已处理.

Never a report's free text: the kind, the reference and the deadline only.
"""

from __future__ import annotations

from datetime import date, datetime

from xinqiao.clock import local
from xinqiao.messages import Choice, Reply
from xinqiao.services.escalation import wording as escalation_wording
from xinqiao.services.escalation.outcome import Handled, ItemOutcome
from xinqiao.services.escalation.text import EXHAUSTED_TO, UNACKNOWLEDGED
from xinqiao.services.escalation.wording import Alerting

JOINED = "又收到一份关于该生的反映"
CHECKIN_NOTHING = Choice("flow:checkin_none", "本周无异常（一键提交）")
CHECKIN_FILL = Choice("flow:checkin", "填写晴雨表")


def consequence(item: Alerting) -> str:
    """What happens at the current deadline if nobody acts."""
    if item.next_level is not None:
        return f"否则将升级至{item.next_level}。"
    if item.repeats:
        return "否则将再次提醒。"
    return f"否则将标记为“{UNACKNOWLEDGED}”，并转{EXHAUSTED_TO}。"


def _head(item: Alerting, tag: str) -> list[str]:
    return [f"【心桥{tag}】{item.ref} {item.title}", f"紧急程度：{item.severity}"]


def _tail(item: Alerting) -> str:
    # A push is not a reply, so numbered choices would not resolve: say what to type.
    return f"回复“收到 {item.ref}”确认，回复“待办 {item.ref}”查看详情。"


class EscalationTexts:
    """The wording :mod:`xinqiao.services.escalation.wording` asks for."""

    def level_alert(self, item: Alerting, again: bool, why: str | None) -> Reply:
        """The kind, the urgency, the deadline and what follows it; how to answer."""
        lines = _head(item, "·再次提醒" if again else "")
        if why:
            lines.append(f"（{why}，已直接转给你）")
        if item.due_at is not None:
            lines.append(f"请在 {local(item.due_at):%m-%d %H:%M} 前确认，{consequence(item)}")
        lines.append(_tail(item))
        return Reply("\n".join(lines))

    def escalated(self, item: Alerting) -> Reply:
        """One line: it went on to the next level."""
        return Reply(f"{item.ref}（{item.title}）未在期限内确认，已升级至{item.level}。")

    def checkin_escalated(self, item: Alerting, period: date | None) -> Reply:
        """Gone on to the next level; the form's door is still open."""
        when = f"（{period:%m-%d}）" if period else ""
        return Reply(f"【心桥】{item.ref} 本期{when}的班级心理晴雨表没有按时提交，"
                     f"已转告{item.level}。\n"
                     "现在提交也可以：本周无异常的话，点“本周无异常”一键提交；"
                     "有情况请点“填写晴雨表”（也可以回复“晴雨表”）。",
                     (CHECKIN_NOTHING, CHECKIN_FILL))

    def exhausted_alert(self, item: Alerting, why: str | None, every: str) -> Reply:
        """Marked 无人确认, and how often it will be repeated."""
        lines = _head(item, f"·{UNACKNOWLEDGED}")
        lines.append(f"已走完全部升级层级，至今无人确认，现转给{EXHAUSTED_TO}。")
        if why:
            lines.append(f"（{why}）")
        lines += [_tail(item), f"确认之前每 {every}提醒一次。"]
        return Reply("\n".join(lines))

    def exhausted_reminder(self, item: Alerting, since: datetime) -> Reply:
        """Since when nobody has acknowledged it."""
        lines = _head(item, f"·{UNACKNOWLEDGED}·再次提醒")
        lines += [f"自 {local(since):%m-%d %H:%M} 起仍无人确认，请尽快处理。", _tail(item)]
        return Reply("\n".join(lines))

    def lapsed_reminder(self, item: Alerting) -> Reply:
        """Close it, or say it is still being followed up."""
        lines = _head(item, "·待结案提醒")
        lines.append("你已确认跟进，但未在期限内结案。")
        lines.append(f"请回复“已处理 {item.ref} 处理情况”结案；"
                     f"仍在跟进请回复“收到 {item.ref}”。")
        if item.due_at is not None:
            lines.append(f"请在 {local(item.due_at):%m-%d %H:%M} 前回复，{consequence(item)}")
        return Reply("\n".join(lines))

    def acked(self, ref: str, by: str) -> Reply:
        """Who took it on."""
        return Reply(f"{ref} 已由 {by} 确认跟进。")

    def closed_by_other(self, ref: str, title: str, by: str, note: str | None) -> Reply:
        """Who closed it, that following up may stop, and how it was closed."""
        text = f"{ref} {title}已由 {by} 结案，你不用再跟进了。"
        return Reply(text + (f"\n结案说明：{note}" if note else ""))

    def joined(self, ref: str, kind: str, source: str, at: datetime) -> Reply:
        """Only the kind of report and when: every role that holds the item may read that much."""
        return Reply(f"【心桥】{ref} 有新的情况（{kind}）：{JOINED}，"
                     f"来源：{source} · {local(at):%m-%d %H:%M}。回复“待办 {ref}”查看。")

    def committee_reminder(self, item: Alerting, period: date | None, again: bool) -> Reply:
        """The form itself, with one tap for 本周无异常."""
        when = f"（{period:%m-%d}）" if period else ""
        head = f"【心桥{'·再次提醒' if again else ''}】{item.ref} {item.title}"
        lines = [head, f"本期{when}的班级心理晴雨表还没有提交。"
                       "本周无异常的话，点“本周无异常”一键提交；有情况请点“填写晴雨表”"
                       "（也可以回复“晴雨表”）。"]
        if item.due_at is not None and item.next_level is not None:
            lines.append(f"请在 {local(item.due_at):%m-%d %H:%M} 前提交，"
                         f"之后会转告{item.next_level}。")
        return Reply("\n".join(lines), (CHECKIN_NOTHING, CHECKIN_FILL))

    def checkin_late(self, ref: str, title: str, period: date | None, at: datetime) -> Reply:
        """When it arrived."""
        when = f"{period:%m-%d}" if period else "本期"
        return Reply(f"{ref} {title}：{when} 的晴雨表已于 {local(at):%m-%d %H:%M} 补交，"
                     "此事项已结案，谢谢关注。")

    def checkin_excused(self, ref: str, title: str, period: date | None,
                        by: str | None) -> Reply:
        """Who closed it (their reason stays on the item)."""
        when = f"{period:%m-%d}" if period else "本期"
        return Reply(f"{ref} {title}：{when} 的晴雨表未提交，已由{by or '老师'}说明原因后结案。")



def handled_text(outcome: ItemOutcome) -> str:
    """The chat answer to 收到 / 已处理: what was done, or why not and what to do instead."""
    ref = outcome.ref
    match outcome.kind:
        case Handled.acked:
            by = f"请在 {local(outcome.due_at):%m-%d %H:%M} 前" if outcome.due_at else "请尽快"
            return (f"已确认 {ref}，升级已停止。{by}"
                    f"处理完并回复“已处理 {ref} 处理情况”结案；逾期未结案会提醒你，"
                    "之后继续升级。")
        case Handled.resolved:
            return f"{ref} 已结案，谢谢你的跟进。"
        case Handled.already_acked:
            return f"{ref} 已经有人确认过了。"
        case Handled.already_resolved:
            return f"{ref} 已经结案。"
        case Handled.checkin_closes_itself:
            return (f"{ref} 是晴雨表未提交的提醒，提交晴雨表后会自动结案。"
                    "回复“晴雨表”填写；本周无异常的话，可以一键提交“本周无异常”。")
        case Handled.reason_required:
            return f"请写明未提交晴雨表的原因，例如：已处理 {ref} 本周班会取消，下周补交。"
    return f"没有找到你可以处理的 {ref}。"  # Handled.not_found


escalation_wording.words.use(EscalationTexts())
