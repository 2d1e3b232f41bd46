"""What the escalation engine says: labels, alerts, reminders (never a report's free text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from xinqiao.clock import local
from xinqiao.messages import Reply
from xinqiao.services.refs import item_ref
from xinqiao.services.report_types import report_types
from xinqiao.storage.reports import Escalation, EscalationStatus, Severity

LEVEL_LABELS = {"committee": "班级心理委员", "class_advisor": "班级辅导员", "college": "学院",
                "centre": "心理中心", "centre_lead": "心理中心负责人",
                "college_counsellor": "学院心理辅导员", "counsellor": "咨询老师"}
SEVERITY_LABELS = {Severity.routine: "常规", Severity.soon: "尽快", Severity.urgent: "紧急",
                   Severity.crisis: "危机"}
STATUS_LABELS = {"open": "待确认", "acked": "跟进中", "resolved": "已结案"}
UNACKNOWLEDGED = "无人确认"
EXHAUSTED_TO = "心理中心负责人和值班老师"
_WHY = {"unbound": "尚未绑定", "unreachable": "的账号暂时无法送达"}


def title_of(kind: str, default: str = "待处理事项") -> str:
    """An item's title by its kind, from the report types (services/report_types)."""
    return report_types().title(kind, default)


def level_label(entry: dict[str, Any]) -> str:
    """The people of one chain level, in words (班级辅导员, 学院、心理中心 ...)."""
    return "、".join(LEVEL_LABELS.get(n, n) for n in entry["notify"])


def escalated_notice(esc: Escalation, title: str) -> Reply:
    """What the level before hears when the item it did not acknowledge has climbed."""
    label = level_label(esc.chain[esc.level])
    return Reply(f"{item_ref(esc.id)}（{title}）未在期限内确认，已升级至{label}。")


def severity_label(esc: Escalation) -> str:
    """The item's severity in words (常规, 尽快, 紧急 ...)."""
    return SEVERITY_LABELS[Severity(esc.severity)]


def status_label(esc: Escalation) -> str:
    """待确认 / 跟进中 / 已结案, or 无人确认 once the chain ran out unacknowledged."""
    if esc.status == EscalationStatus.open and esc.exhausted_at is not None:
        return UNACKNOWLEDGED
    return STATUS_LABELS[esc.status]


def why_skipped(entry: dict[str, Any], people: list[int], gone: dict[int, str]) -> str:
    """Why nobody at a level could be told, e.g. "班级辅导员尚未绑定"."""
    label = level_label(entry)
    if not people:
        return f"{label}暂无人选"
    reasons = set(gone.values())
    if len(reasons) == 1:
        return label + _WHY[reasons.pop()]
    return f"{label}尚未绑定或无法送达"


def consequence(esc: Escalation) -> str:
    """What happens at the current deadline if nobody acts."""
    if esc.level + 1 < len(esc.chain):
        return f"否则将升级至{level_label(esc.chain[esc.level + 1])}。"
    if esc.repeats > 0:
        return "否则将再次提醒。"
    return f"否则将标记为“{UNACKNOWLEDGED}”，并转{EXHAUSTED_TO}。"


def _head(esc: Escalation, tag: str, title: str) -> list[str]:
    return [f"【心桥{tag}】{item_ref(esc.id)} {title}",
            f"紧急程度：{SEVERITY_LABELS[Severity(esc.severity)]}"]


def _tail(esc: Escalation) -> str:
    # A push is not a reply, so numbered choices would not resolve: say what to type.
    return f"回复“收到 {item_ref(esc.id)}”确认，回复“待办 {item_ref(esc.id)}”查看详情。"


def level_alert(esc: Escalation, title: str, again: bool, why: str | None) -> Reply:
    """The alert to a level as it is reached (or reminded at its deadline)."""
    lines = _head(esc, "·再次提醒" if again else "", title)
    if why:
        lines.append(f"（{why}，已直接转给你）")
    if esc.due_at is not None:
        lines.append(f"请在 {local(esc.due_at):%m-%d %H:%M} 前确认，{consequence(esc)}")
    lines.append(_tail(esc))
    return Reply("\n".join(lines))


def exhausted_alert(esc: Escalation, title: str, why: str | None, every: str) -> Reply:
    """To the centre lead and the staff on duty when the chain ran out unacknowledged."""
    lines = _head(esc, f"·{UNACKNOWLEDGED}", title)
    lines.append(f"已走完全部升级层级，至今无人确认，现转给{EXHAUSTED_TO}。")
    if why:
        lines.append(f"（{why}）")
    lines += [_tail(esc), f"确认之前每 {every}提醒一次。"]
    return Reply("\n".join(lines))


def exhausted_reminder(esc: Escalation, title: str, now: datetime) -> Reply:
    """The repeated reminder of an item nobody has acknowledged."""
    since = local(esc.exhausted_at or now)
    lines = _head(esc, f"·{UNACKNOWLEDGED}·再次提醒", title)
    lines += [f"自 {since:%m-%d %H:%M} 起仍无人确认，请尽快处理。", _tail(esc)]
    return Reply("\n".join(lines))


def lapsed_reminder(esc: Escalation, title: str) -> Reply:
    """To whoever acknowledged an item that was not resolved in time."""
    due = local(esc.due_at) if esc.due_at else None
    lines = _head(esc, "·待结案提醒", title)
    lines.append("你已确认跟进，但未在期限内结案。")
    lines.append(f"请回复“已处理 {item_ref(esc.id)} 处理情况”结案；"
                 f"仍在跟进请回复“收到 {item_ref(esc.id)}”。")
    if due is not None:
        lines.append(f"请在 {due:%m-%d %H:%M} 前回复，{consequence(esc)}")
    return Reply("\n".join(lines))


def duration_words(seconds: float) -> str:
    """A cadence in words, spaced as every staff line writes numbers: 30 分钟, 1 小时."""
    minutes = round(seconds / 60)
    if minutes % 60:
        return f"{minutes} 分钟"
    return f"{minutes // 60} 小时"
