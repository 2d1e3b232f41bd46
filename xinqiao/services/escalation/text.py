"""What the escalation engine names: labels, and the facts its pushes are worded from.

The pushes themselves are worded by ``handlers/escalation_texts`` (services/escalation/wording).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from xinqiao.services.escalation.wording import Alerting, words
from xinqiao.services.pushed import Pushed
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


def alerting(esc: Escalation, title: str) -> Alerting:
    """The facts an item's push names, as the item stands now."""
    assert esc.id is not None
    nxt = esc.level + 1
    return Alerting(ref=item_ref(esc.id), title=title, severity=severity_label(esc),
                    level=level_label(esc.chain[esc.level]) if esc.level < len(esc.chain)
                    else EXHAUSTED_TO, due_at=esc.due_at,
                    next_level=level_label(esc.chain[nxt]) if nxt < len(esc.chain) else None,
                    repeats=esc.repeats > 0)


MISSING = "checkin_missing"


def period_of(esc: Escalation) -> date | None:
    """The due date a missing-check-in item is about (its key ``checkin:<class>:<date>``)."""
    try:
        return date.fromisoformat(esc.subject.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


def escalated_notice(esc: Escalation, title: str) -> Pushed:
    """What the level before hears when the item it did not acknowledge has climbed."""
    left = esc.chain[esc.level - 1] if 0 < esc.level <= len(esc.chain) else None
    if esc.kind == MISSING and left is not None and list(left["notify"]) == ["committee"]:
        # The committee member could never acknowledge it: a check-in is what closes it.
        return words().checkin_escalated(alerting(esc, title), period_of(esc))
    return words().escalated(alerting(esc, title))


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


def level_alert(esc: Escalation, title: str, again: bool, why: str | None) -> Pushed:
    """The alert to a level as it is reached (or reminded at its deadline)."""
    return words().level_alert(alerting(esc, title), again, why)


def exhausted_alert(esc: Escalation, title: str, why: str | None, every: str) -> Pushed:
    """To the centre lead and the staff on duty when the chain ran out unacknowledged."""
    return words().exhausted_alert(alerting(esc, title), why, every)


def exhausted_reminder(esc: Escalation, title: str, now: datetime) -> Pushed:
    """The repeated reminder of an item nobody has acknowledged."""
    return words().exhausted_reminder(alerting(esc, title), esc.exhausted_at or now)


def lapsed_reminder(esc: Escalation, title: str) -> Pushed:
    """To whoever acknowledged an item that was not resolved in time."""
    return words().lapsed_reminder(alerting(esc, title))


def duration_words(seconds: float) -> str:
    """A cadence in words, spaced as every staff line writes numbers: 30 分钟, 1 小时."""
    minutes = round(seconds / 60)
    if minutes % 60:
        return f"{minutes} 分钟"
    return f"{minutes // 60} 小时"
