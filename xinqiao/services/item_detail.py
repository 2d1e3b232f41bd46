"""One item as a responder may see it, as data: who, from where, by whom, by when, what else.

Chat's ``待办 DN`` words this as lines (handlers/item_view); the console's item page lays it out
(bot/console_web/item_data). Both read the same structure, so what a role may see is decided
once, here: a report's free text only for the roles its form promised it to (``shown_to``), a
student's phone and a reporter's identity only for a role that may read that person's roster
record, each such look at a reporter audited like any other read of someone else's record.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.services import audit
from xinqiao.services.access import Action, Actor, Kind, Target, escalation_target, may
from xinqiao.services.directory import unit_names
from xinqiao.services.escalation.engine import SEVERITY_LABELS
from xinqiao.services.escalation.text import (
    EXHAUSTED_TO,
    UNACKNOWLEDGED,
    level_label,
    status_label,
    title_of,
)
from xinqiao.services.item_links import open_items_about, reports_of
from xinqiao.services.refs import item_ref
from xinqiao.services.report_types import report_types
from xinqiao.storage.booking import Appointment
from xinqiao.storage.models import Person, Role
from xinqiao.storage.reports import Escalation, EscalationStatus, Report, Severity

ANSWER_LABELS = {
    "message": "原话", "observed": "观察到的情况", "where": "地点", "what": "发生了什么",
    "study": "学习", "life": "生活", "relationships": "人际", "family": "家庭",
    "emotion": "情绪", "present": "在校人数",
}
TIER_SUGGESTED = {"key": "重点关注", "crisis": "危机关注", "routine": "暂不确定"}
READER_WORDS = {"class_advisor": "辅导员", "college_counsellor": "心理老师",
                "centre_staff": "心理老师", "centre_lead": "心理老师", "college_lead": "学院领导"}
LINKED_LIMIT = 5


@dataclass(frozen=True)
class Fact:
    """One labelled piece of an item: 来源, 反映人, 相关情况, one of the report's answers."""

    label: str
    text: str


@dataclass(frozen=True)
class ReportDetail:
    """One report of the item: its facts, or why its free text is withheld from the reader."""

    facts: list[Fact]
    withheld: str | None = None


@dataclass(frozen=True)
class NoShow:
    """The missed appointment behind a no-show item (its note stays private)."""

    at: datetime
    counsellor: str
    follow_up_by: datetime


@dataclass(frozen=True)
class Linked:
    """Another open item about the same student that the reader was sent."""

    id: int
    ref: str
    title: str


@dataclass(frozen=True)
class ItemDetail:
    """Everything a reader may see of one item (the caller authorised and audited the read)."""

    id: int
    ref: str
    title: str
    severity: str
    where: str
    state: str
    due_label: str | None  # 确认期限 or 下次提醒, while nobody acknowledged
    due_at: datetime | None
    acked_by: str | None  # who acknowledged ("?" for someone since removed)
    acked_at: datetime | None
    student: str | None  # name (class, dorm), and the phone where the reader may see it
    off_roster: bool  # the student named is not on the roster
    noshow: NoShow | None
    reports: list[ReportDetail]
    linked: list[Linked]


@cache
def factor_labels() -> dict[str, str]:
    """Risk-factor codes to their labels, from the forms' shared option sets."""
    path = Path(__file__).parents[1] / "handlers" / "forms" / "option_sets.toml"
    with path.open("rb") as f:
        return {o["value"]: o["label"] for o in tomllib.load(f)["risk_factors"]}


def _factors(codes: list[str]) -> str:
    labels = factor_labels()
    return "、".join(labels.get(c, c) for c in codes if c != "none")


def withheld_from(answers: dict[str, Any], kind: str, roles: frozenset[Role]) -> str | None:
    """Why these roles may not read a report's free text (the form's promise), or None.

    A crisis raised from inside a form carries the form's promise in its answers.
    """
    shown = answers.get("shown_to")
    if not isinstance(shown, list):
        rtype = report_types().get(kind)
        shown = list(rtype.shown_to) if rtype else []
    if not shown or any(r.value in shown for r in roles):
        return None
    readers = "和".join(dict.fromkeys(READER_WORDS.get(r, r) for r in shown))
    return f"（反映人填写的具体内容按约定只有{readers}能看到）"


def answers_shown(answers: dict[str, Any], kind: str = "") -> list[Fact]:
    """The free-text answers a view may show, labelled (a report type may name its own)."""
    rtype = report_types().get(kind)
    shown = ANSWER_LABELS | (rtype.answer_labels if rtype else {})
    return [Fact(label, str(answers[key])) for key, label in shown.items()
            if answers.get(key) not in (None, "")]


async def _who(s: AsyncSession, person: Person, with_phone: bool) -> str:
    _, klass, dorm = await unit_names(s, person)
    units = "，".join(u for u in (klass, dorm) if u)
    text = person.name + (f"（{units}）" if units else "")
    if with_phone and person.phone:
        text += f"，电话 {person.phone}"
    return text


def _form_title(form_id: str) -> str:
    rtype = report_types().for_form(form_id)
    return rtype.form_title if rtype else form_id  # a form since removed: its id


def _source(report: Report) -> str:
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


def _concern(esc: Escalation, report: Report) -> int | None:
    """Which named student of a check-in this item is about (``report:<id>:<n>``)."""
    parts = esc.subject.split(":")
    if esc.report_id == report.id and len(parts) == 3 and parts[2].isdecimal():
        return int(parts[2])
    for n in (1, 2, 3):
        picked = report.answers.get(f"concern_{n}")
        if isinstance(picked, dict) and picked.get("person_id") == esc.subject_person_id:
            return n
    return None


async def _report(s: AsyncSession, actor: Actor, esc: Escalation, report: Report,
                  now: datetime) -> ReportDetail:
    facts = [Fact("来源", _source(report))]
    reporter = (await s.get(Person, report.reporter_person_id)
                if report.reporter_person_id else None)
    if reporter is not None and reporter.id != esc.subject_person_id:
        # Only those who may know who the reporter is (and so contact them) see the name.
        if reporter.id == actor.person_id:
            facts.append(Fact("反映人", "你本人"))
        elif may(actor, Kind.roster, Action.read, Target.about(reporter)):
            facts.append(Fact("反映人", await _who(s, reporter, with_phone=True)))
            await audit.record(s, at=now, action="roster.read", actor_person_id=actor.person_id,
                               subject_person_id=reporter.id, kind=Kind.roster.value,
                               escalation=esc.id, part="reporter")
    if report.kind == "checkin" and (n := _concern(esc, report)) is not None:
        picked = report.answers.get(f"concern_{n}") or {}
        facts.append(Fact("晴雨表关注同学", str(picked.get("name", ""))))
        if factors := _factors(list(report.answers.get(f"concern_{n}_factors") or [])):
            facts.append(Fact("相关情况", factors))
        tier = str(report.answers.get(f"concern_{n}_tier") or "")
        if tier:
            facts.append(Fact("委员建议", TIER_SUGGESTED.get(tier, tier)))
    elif report.factors:
        facts.append(Fact("相关情况", _factors(report.factors)))
    # The free text only to the roles the form promised it to (dorm report: 辅导员, 心理老师).
    withheld = withheld_from(report.answers, report.kind, actor.roles)
    if withheld:
        return ReportDetail(facts, withheld)
    return ReportDetail(facts + answers_shown(report.answers, report.kind))


async def _noshow(s: AsyncSession, esc: Escalation) -> NoShow | None:
    appt = await s.get(Appointment, int(esc.subject.split(":", 1)[1]))
    if appt is None:
        return None
    counsellor = await s.get(Person, appt.counsellor_id)
    return NoShow(appt.start_at, counsellor.name if counsellor else "?",
                  esc.opened_at + timedelta(hours=24))


async def item_detail(s: AsyncSession, actor: Actor, esc: Escalation,
                      now: datetime) -> ItemDetail:
    """The item as this reader may see it (reporter looks audited as they happen)."""
    assert esc.id is not None
    state = status_label(esc)
    # Once the chain ran out it sits with the centre lead and the staff on duty, reminded
    # at a cadence: there is no deadline left to meet, only the next reminder.
    unacknowledged = state == UNACKNOWLEDGED
    due_label = due_at = acked_by = acked_at = None
    if esc.status == EscalationStatus.open and esc.due_at is not None:
        due_label, due_at = ("下次提醒" if unacknowledged else "确认期限"), esc.due_at
    elif esc.acked_by is not None:
        acker = await s.get(Person, esc.acked_by)
        acked_by, acked_at = (acker.name if acker else "?"), esc.acked_at
    reports = await reports_of(s, esc)
    student = (await s.get(Person, esc.subject_person_id)
               if esc.subject_person_id is not None else None)
    who, off_roster = None, False
    if student is not None:
        phone = may(actor, Kind.roster, Action.read, Target.about(student))
        who = await _who(s, student, with_phone=phone)
    elif reports and reports[0].subject_name:
        who, off_roster = reports[0].subject_name, True
    noshow = await _noshow(s, esc) if esc.kind == "noshow" else None
    details = [await _report(s, actor, esc, r, now) for r in reports]
    linked: list[Linked] = []
    if student is not None and student.id is not None:
        # Only items this person was sent: a linked crisis item must not tell an advisor the tier.
        for other in await open_items_about(s, student.id):
            if other.id != esc.id and other.id is not None and may(
                    actor, Kind.report, Action.read, await escalation_target(s, other)):
                linked.append(Linked(other.id, item_ref(other.id), title_of(other.kind, "事项")))
    return ItemDetail(
        esc.id, item_ref(esc.id), title_of(esc.kind, "事项"),
        SEVERITY_LABELS[Severity(esc.severity)],
        EXHAUSTED_TO if unacknowledged else level_label(esc.chain[esc.level]), state,
        due_label, due_at, acked_by, acked_at, who, off_roster, noshow, details,
        linked[:LINKED_LIMIT])
