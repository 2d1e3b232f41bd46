"""The network's reports: weekly check-in, dorm report, urgent report (design.md §3.1)."""

from __future__ import annotations

from datetime import date
from functools import cache
from typing import Any

from sqlmodel import col, select

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, Flow, OneShotFlow, Turn
from xinqiao.handlers.form_spec import packaged_form
from xinqiao.handlers.forms import FormFlow
from xinqiao.messages import Choice, Reply
from xinqiao.services.escalation import Subject
from xinqiao.services.item_links import open_or_join
from xinqiao.services.network import Network
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.refs import item_ref
from xinqiao.services.severity import is_urgent
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.storage.reports import (
    CheckIn,
    Escalation,
    EscalationStatus,
    Report,
    ReportKind,
    Severity,
)

CRISIS_FACTOR = "self_harm"  # design.md §2.1: talk of death or self-harm is always crisis
URGENCY = {"normal": Severity.routine, "soon": Severity.soon, "now": Severity.urgent}
HOTLINES = ("如果有人正处在危险中，请立即拨打 110 或 120；"
            "全国心理援助热线 12356 也可以随时求助。")
_MENU = (Choice("menu", "主菜单"),)


_FORM_OF_KIND = {"dorm": "dorm_report", "urgent": "urgent_report", "checkin": "checkin"}
_READER_WORDS = {"class_advisor": "辅导员", "college_counsellor": "心理老师",
                 "centre_staff": "心理老师", "centre_lead": "心理老师", "college_lead": "学院领导"}


@cache
def _shown_to_of_form(form_id: str) -> tuple[str, ...]:
    return packaged_form(form_id).shown_to


def withheld_from(answers: dict[str, Any], kind: str, roles: frozenset[Role]) -> str | None:
    """Why these roles may not read a report's free text (the form's promise), or None.

    A crisis raised from inside a form carries the form's promise in its answers.
    """
    shown = answers.get("shown_to")
    if not isinstance(shown, list):
        form = _FORM_OF_KIND.get(kind)
        shown = list(_shown_to_of_form(form)) if form else []
    if not shown or any(r.value in shown for r in roles):
        return None
    readers = "和".join(dict.fromkeys(_READER_WORDS.get(r, r) for r in shown))
    return f"（反映人填写的具体内容按约定只有{readers}能看到）"


class NothingToReportFlow(OneShotFlow):
    """本周无异常 tapped on a check-in reminder: submits the check-in in one tap."""

    id = "checkin_none"
    title = "本周无异常"

    def __init__(self, network: Network) -> None:
        self.network = network

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """Committee members, like the form."""
        return person is not None and Role.committee in roles

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Submit 本周无异常 for the period the check-in counts for."""
        return Turn.end(*await _checkin(self.network, ctx, {"status": "none"}))


def report_flows(network: Network) -> tuple[Flow, ...]:
    """The three report forms wired to their routing, and the one-tap check-in."""
    return (
        NothingToReportFlow(network),
        FormFlow(packaged_form("checkin"), lambda ctx, a: _checkin(network, ctx, a)),
        FormFlow(packaged_form("dorm_report"), lambda ctx, a: _dorm(network, ctx, a)),
        FormFlow(packaged_form("urgent_report"), lambda ctx, a: _urgent(network, ctx, a)),
    )


async def _subject_person(ctx: Context, picked: dict[str, Any] | None) -> Person | None:
    if not picked or picked.get("person_id") is None:
        return None
    return await ctx.session.get(Person, int(picked["person_id"]))


def _clean(factors: list[str] | None) -> list[str]:
    return [f for f in factors or [] if f != "none"]


async def _file(
    network: Network, ctx: Context, kind: ReportKind, picked: dict[str, Any] | None,
    severity: Severity, factors: list[str], answers: dict[str, Any], title: str,
) -> tuple[Report, Escalation]:
    """Store a report about a (possibly unlisted) student and open its escalation."""
    assert ctx.person is not None
    now = ctx.clock.now()
    subject = await _subject_person(ctx, picked)
    unit = subject or ctx.person  # someone not on the roster: the reporter's own units
    report = Report(
        kind=kind, reporter_person_id=ctx.person.id,
        subject_person_id=subject.id if subject else None,
        subject_name=(picked or {}).get("name"), college_id=unit.college_id,
        klass_id=unit.klass_id, dorm_id=ctx.person.dorm_id if kind is ReportKind.dorm else None,
        severity=severity, factors=factors, answers=answers, created_at=now,
    )
    ctx.session.add(report)
    await ctx.session.flush()
    esc = await open_or_join(
        network.escalations, ctx.session,
        Subject(key=f"report:{report.id}", kind=kind.value, title=title,
                college_id=report.college_id, klass_id=report.klass_id, report_id=report.id,
                person_id=report.subject_person_id),
        severity, now)
    return report, esc


async def _dorm(network: Network, ctx: Context, answers: dict[str, Any]) -> tuple[Reply, ...]:
    assert ctx.person is not None
    factors = _clean(answers.get("factors"))
    severity = Severity.crisis if CRISIS_FACTOR in factors else URGENCY[answers["urgency"]]
    report, esc = await _file(network, ctx, ReportKind.dorm, answers.get("subject"), severity,
                              factors, answers, "宿舍情况反映")
    # The class committee learns that a report was filed, never what it says or about whom.
    committee = await level_recipients(ctx.session, ["committee"], report.college_id,
                                       report.klass_id)
    await push_to_people(
        ctx.session, [p for p in committee if p != ctx.person.id], key=f"filed:{report.id}",
        reply=Reply("本班有一条新的宿舍情况反映已转给辅导员跟进（内容仅辅导员和心理老师可见）。"),
        now=ctx.clock.now())
    text = f"收到，谢谢你的细心。编号 {item_ref(esc.id)}，老师会尽快跟进。"
    if is_urgent(severity):
        text += "\n" + HOTLINES
    return (Reply(text, _MENU),)


async def _urgent(network: Network, ctx: Context, answers: dict[str, Any]) -> tuple[Reply, ...]:
    severity = Severity.crisis if answers.get("danger") == "yes" else Severity.urgent
    factors = [CRISIS_FACTOR] if severity is Severity.crisis else []
    _, esc = await _file(network, ctx, ReportKind.urgent, answers.get("who"), severity, factors,
                         answers, "紧急情况随时报")
    return (Reply(f"已上报（{item_ref(esc.id)}），学院和心理中心已同时收到，会马上联系。"
                  f"\n{HOTLINES}", _MENU),)


async def _committee_class(ctx: Context) -> int | None:
    assert ctx.person is not None
    row = (await ctx.session.exec(select(RoleAssignment.klass_id).where(
        RoleAssignment.person_id == ctx.person.id,
        RoleAssignment.role == Role.committee.value))).first()
    return row if row is not None else ctx.person.klass_id


async def _period_for(network: Network, ctx: Context, klass_id: int) -> date:
    """A late check-in counts for the oldest period still missing (an open item, else a due
    day of this week up to today without a check-in, as completion shows it); a second one
    in a week whose due days are all past and sent amends this week's (本周, as the form
    says), never next week's; else the coming one."""
    prefix = f"checkin:{klass_id}:"
    missing = (await ctx.session.exec(
        select(Escalation.subject)
        .where(col(Escalation.subject).startswith(prefix),
               Escalation.status != EscalationStatus.resolved)
        .order_by(col(Escalation.subject)))).first()
    if missing is not None:
        return date.fromisoformat(missing[len(prefix):])
    now = ctx.clock.now()
    today = local(now).date()
    past = [d for d in network.week_periods(now) if d <= today]
    if past:
        sent = set((await ctx.session.exec(select(col(CheckIn.period)).where(
            CheckIn.klass_id == klass_id, col(CheckIn.period).in_(past)))).all())
        if gaps := [d for d in past if d not in sent]:
            return gaps[0]
        coming = network.checkin_period(now)
        if coming not in network.week_periods(now):
            return past[-1]
        return coming
    return network.checkin_period(now)


async def _checkin(
    network: Network, ctx: Context, answers: dict[str, Any]
) -> tuple[Reply, ...]:
    assert ctx.person is not None
    now = ctx.clock.now()
    klass_id = await _committee_class(ctx)
    if klass_id is None:
        return (Reply("没有找到你负责的班级，请联系辅导员核对名单。", _MENU),)
    period = await _period_for(network, ctx, klass_id)
    concerns = [
        (answers[f"concern_{i}"], _clean(answers.get(f"concern_{i}_factors")),
         answers.get(f"concern_{i}_tier"))
        for i in (1, 2, 3) if answers.get(f"concern_{i}")
    ]
    nothing = answers.get("status") == "none"
    crisis = any(CRISIS_FACTOR in f or tier == "crisis" for _, f, tier in concerns)
    severity = Severity.crisis if crisis else Severity.routine
    existing = (await ctx.session.exec(select(CheckIn).where(
        CheckIn.klass_id == klass_id, CheckIn.period == period))).first()
    report = Report(
        kind=ReportKind.checkin, reporter_person_id=ctx.person.id,
        college_id=ctx.person.college_id, klass_id=klass_id, severity=severity,
        factors=sorted({f for _, fs, _ in concerns for f in fs}), answers=answers,
        supersedes=existing.report_id if existing else None, created_at=now,
    )
    ctx.session.add(report)
    await ctx.session.flush()
    assert report.id is not None
    if existing is None:
        ctx.session.add(CheckIn(klass_id=klass_id, period=period, report_id=report.id,
                                nothing_to_report=nothing, submitted_by=ctx.person.id,
                                submitted_at=now))
    else:  # a second check-in in one period amends the first; history stays in `supersedes`
        existing.report_id, existing.nothing_to_report = report.id, nothing
        existing.submitted_at, existing.versions = now, existing.versions + 1
        ctx.session.add(existing)
    await network.escalations.close_subject(
        ctx.session, f"checkin:{klass_id}:{period.isoformat()}", now, ctx.person.id,
        "check-in submitted")
    for n, (picked, factors, tier) in enumerate(concerns, 1):
        student = await _subject_person(ctx, picked)
        sev = Severity.crisis if CRISIS_FACTOR in factors or tier == "crisis" else (
            Severity.routine)
        await open_or_join(
            network.escalations, ctx.session,
            Subject(key=f"report:{report.id}:{n}", kind="checkin", title="班级心理晴雨表关注",
                    college_id=report.college_id, klass_id=klass_id, report_id=report.id,
                    person_id=student.id if student else None),
            sev, now)
    amended = "（已更新本周的晴雨表）" if existing else ""
    text = f"本周晴雨表已提交{amended}，谢谢你！"
    if crisis:
        text += "\n你标记了需要马上处理的情况，学院和心理中心已收到。\n" + HOTLINES
    return (Reply(text, _MENU),)
