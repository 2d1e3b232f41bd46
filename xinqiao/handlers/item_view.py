"""What a responder reads in ``待办 N``: who, from where, by whom, by when, and what else is open.

Contact details follow the access matrix: services/item_detail.py reads the item's people and
reports as the reader may know them (a look at a reporter audited); this module words them.
"""

from __future__ import annotations

import tomllib
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.handlers.booking.texts import when_text
from xinqiao.handlers.network import withheld_from
from xinqiao.messages import Choice
from xinqiao.services.access import Actor
from xinqiao.services.escalation_text import (
    EXHAUSTED_TO,
    UNACKNOWLEDGED,
    level_label,
    severity_label,
    status_label,
    title_of,
)
from xinqiao.services.item_detail import ItemReport, Who, item_detail
from xinqiao.services.item_links import awaiting_ack
from xinqiao.services.refs import item_ref
from xinqiao.services.report_types import report_types
from xinqiao.storage.reports import Escalation

ANSWER_LABELS = {
    "message": "原话", "observed": "观察到的情况", "where": "地点", "what": "发生了什么",
    "study": "学习", "life": "生活", "relationships": "人际", "family": "家庭",
    "emotion": "情绪", "present": "在校人数",
}
TIER_SUGGESTED = {"key": "重点关注", "crisis": "危机关注", "routine": "暂不确定"}


@cache
def factor_labels() -> dict[str, str]:
    """Risk-factor codes to their labels, from the forms' shared option sets."""
    path = Path(__file__).with_name("forms") / "option_sets.toml"
    with path.open("rb") as f:
        return {o["value"]: o["label"] for o in tomllib.load(f)["risk_factors"]}


def _factors(codes: list[str]) -> str:
    labels = factor_labels()
    return "、".join(labels.get(c, c) for c in codes if c != "none")


def _who(who: Who) -> str:
    units = "，".join(u for u in (who.klass, who.dorm) if u)
    text = who.name + (f"（{units}）" if units else "")
    if who.phone:
        text += f"，电话 {who.phone}"
    return text


def _form_title(form_id: str) -> str:
    rtype = report_types().for_form(form_id)
    return rtype.form_title if rtype else form_id  # a form since removed: its id


def _source(report: ItemReport) -> str:
    label = report_types().source(report.kind)
    origin = str(report.answers.get("source", ""))
    if report.kind == "crisis" and origin.startswith("screening:"):
        label = f"危机预警（测评 {origin.split(':', 1)[1].upper()}）"
    elif report.kind == "screening":  # never the answers: the college may see this item too
        label = f"心理测评 {origin.split(':', 1)[-1].upper()}（第 9 题提示自伤念头）"
    elif report.kind == "crisis" and origin == "message":
        form = report.answers.get("form")  # words typed into a report about a student
        label = (f"危机预警（《{_form_title(str(form))}》中的文字）" if form
                 else "危机预警（聊天消息）")
    return f"{label} · {local(report.created_at):%m-%d %H:%M}"


def _concern(esc: Escalation, report: ItemReport) -> int | None:
    """Which named student of a check-in this item is about (``report:<id>:<n>``)."""
    parts = esc.subject.split(":")
    if esc.report_id == report.id and len(parts) == 3 and parts[2].isdecimal():
        return int(parts[2])
    for n in (1, 2, 3):
        picked = report.answers.get(f"concern_{n}")
        if isinstance(picked, dict) and picked.get("person_id") == esc.subject_person_id:
            return n
    return None


def _report_lines(actor: Actor, esc: Escalation, report: ItemReport) -> list[str]:
    lines = [f"来源：{_source(report)}"]
    if report.by_reader:
        lines.append("反映人：你本人")
    elif report.reporter is not None:
        lines.append(f"反映人：{_who(report.reporter)}")
    if report.kind == "checkin" and (n := _concern(esc, report)) is not None:
        picked = report.answers.get(f"concern_{n}") or {}
        lines.append(f"晴雨表关注同学：{picked.get('name', '')}")
        if factors := _factors(list(report.answers.get(f"concern_{n}_factors") or [])):
            lines.append(f"相关情况：{factors}")
        tier = str(report.answers.get(f"concern_{n}_tier") or "")
        if tier:
            lines.append(f"委员建议：{TIER_SUGGESTED.get(tier, tier)}")
    elif report.factors:
        lines.append(f"相关情况：{_factors(list(report.factors))}")
    # The free text only to the roles the form promised it to (dorm report: 辅导员, 心理老师).
    withheld = withheld_from(report.answers, report.kind, actor.roles)
    return lines + ([withheld] if withheld else answers_shown(report.answers, report.kind))


async def item_lines(s: AsyncSession, actor: Actor, esc: Escalation,
                     now: datetime) -> tuple[list[str], list[Choice]]:
    """The item's text lines, and taps to the student's other open items."""
    detail = await item_detail(s, actor, esc, now)
    state = status_label(esc)
    # Once the chain ran out it sits with the centre lead and the staff on duty, reminded
    # at a cadence: there is no deadline left to meet, only the next reminder.
    unacknowledged = state == UNACKNOWLEDGED
    where = EXHAUSTED_TO if unacknowledged else level_label(esc.chain[esc.level])
    lines = [f"{item_ref(esc.id)} {title_of(esc.kind, '事项')}",
             f"紧急程度：{severity_label(esc)}；当前在：{where}；"
             f"状态：{state}"]
    if awaiting_ack(esc) and esc.due_at is not None:
        due = "下次提醒" if unacknowledged else "确认期限"
        lines.append(f"{due}：{local(esc.due_at):%m-%d %H:%M}（尚无人确认）")
    elif detail.acker is not None:
        when = f"（{local(esc.acked_at):%m-%d %H:%M}）" if esc.acked_at else ""
        lines.append(f"已确认：{detail.acker}{when}")
    reports = detail.reports
    if detail.student is not None:
        lines.append(f"涉及同学：{_who(detail.student)}")
    elif reports and reports[0].subject_name:
        lines.append(f"涉及同学：{reports[0].subject_name}（不在名单中）")
    if detail.missed is not None:
        lines += [f"来源：咨询预约爽约 · {when_text(detail.missed.start)}",
                  f"咨询老师：{detail.missed.counsellor or '?'}",
                  f"跟进期限：{local(esc.opened_at + timedelta(hours=24)):%m-%d %H:%M}"]
    if len(reports) > 1:
        lines.append(f"共 {len(reports)} 份反映：")
    for report in reports:
        lines += _report_lines(actor, esc, report)
    choices: list[Choice] = []
    for other_id, other_kind in detail.others:
        lines.append(f"该生另有未结事项：{item_ref(other_id)} {title_of(other_kind, '事项')}"
                     f"（回复“待办 {item_ref(other_id)}”查看）")
        choices.append(Choice(f"view:{other_id}", f"查看 {item_ref(other_id)}"))
    return lines, choices


def answers_shown(answers: dict[str, Any], kind: str = "") -> list[str]:
    """The free-text answers a view may show, labelled (a report type may name its own)."""
    rtype = report_types().get(kind)
    shown = ANSWER_LABELS | (rtype.answer_labels if rtype else {})
    return [f"{label}：{answers[key]}" for key, label in shown.items()
            if answers.get(key) not in (None, "")]
