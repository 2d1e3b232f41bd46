"""The network's reports: each report type of the registry as a form (design.md §3.1).

A report form files what its ``[report]`` table says (services/report_types); the weekly
check-in (``filing = "checkin"``) also keeps the class's week in order.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select

from xinqiao.clock import local
from xinqiao.handlers.flow import Context, Flow, OneShotFlow, Turn
from xinqiao.handlers.form_spec import FieldKind, FormSpec, load_form
from xinqiao.handlers.forms import FormFlow, OnAnswers
from xinqiao.messages import Choice, Reply
from xinqiao.services.escalation import Subject
from xinqiao.services.item_links import open_or_join
from xinqiao.services.network import Network
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.refs import item_ref
from xinqiao.services.report_spec import ReportType, gravest
from xinqiao.services.report_types import report_types
from xinqiao.services.severity import is_urgent
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.storage.reports import (
    CheckIn,
    Escalation,
    EscalationStatus,
    Report,
    Severity,
)

HOTLINES = ("如果有人正处在危险中，请立即拨打 110 或 120；"
            "全国心理援助热线 12356 也可以随时求助。")
_MENU = (Choice("menu", "主菜单"),)


class NothingToReportFlow(OneShotFlow):
    """本周无异常 tapped on a check-in reminder: submits the check-in in one tap."""

    id = "checkin_none"
    title = "本周无异常"

    def __init__(self, network: Network, rtype: ReportType, spec: FormSpec) -> None:
        self.network = network
        self.rtype = rtype
        self.spec = spec

    def available_to(self, person: Person | None, roles: frozenset[Role]) -> bool:
        """Those who file the check-in, like the form."""
        return person is not None and any(r.value in self.rtype.filed_by for r in roles)

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Submit 本周无异常 for the period the check-in counts for."""
        answers = self.spec.nothing_to_report()
        return Turn.end(*await _checkin(self.network, self.rtype, self.spec, ctx, answers))


def _filer(network: Network, rtype: ReportType, spec: FormSpec) -> OnAnswers:
    async def on_complete(ctx: Context, answers: dict[str, Any]) -> tuple[Reply, ...]:
        if rtype.filing == "checkin":
            return await _checkin(network, rtype, spec, ctx, answers)
        return await _report(network, rtype, spec, ctx, answers)
    return on_complete


def report_flows(network: Network) -> tuple[Flow, ...]:
    """Every report type's form wired to its filing, and the one-tap check-in."""
    flows: list[Flow] = []
    for rtype in report_types().filed():
        assert rtype.path is not None
        # Who files a report is the report type's to say; the form follows it.
        spec = load_form(rtype.path).model_copy(update={"roles": rtype.filed_by})
        flows.append(FormFlow(spec, _filer(network, rtype, spec)))
        if rtype.filing == "checkin":
            flows.append(NothingToReportFlow(network, rtype, spec))
    return tuple(flows)


async def _subject_person(ctx: Context, picked: dict[str, Any] | None) -> Person | None:
    if not picked or picked.get("person_id") is None:
        return None
    return await ctx.session.get(Person, int(picked["person_id"]))


async def _report(network: Network, rtype: ReportType, spec: FormSpec, ctx: Context,
                  answers: dict[str, Any]) -> tuple[Reply, ...]:
    """Store a report about a (possibly unlisted) student, open its item, tell who it says."""
    assert ctx.person is not None
    now = ctx.clock.now()
    about = rtype.subjects[0] if rtype.subjects else ""
    severity, factors = rtype.assess(answers, about)
    picked = answers.get(about) if about else None
    subject = await _subject_person(ctx, picked)
    unit = subject or ctx.person  # someone not on the roster: the reporter's own units
    field = spec.field(about)
    in_dorm = field is not None and field.kind is FieldKind.person and field.scope == "dorm"
    report = Report(
        kind=rtype.kind, reporter_person_id=ctx.person.id,
        subject_person_id=subject.id if subject else None,
        subject_name=(picked or {}).get("name"), college_id=unit.college_id,
        klass_id=unit.klass_id, dorm_id=ctx.person.dorm_id if in_dorm else None,
        severity=severity, factors=factors, answers=answers, created_at=now,
    )
    ctx.session.add(report)
    await ctx.session.flush()
    esc = await open_or_join(
        network.escalations, ctx.session,
        Subject(key=f"report:{report.id}", kind=rtype.kind, title=rtype.title,
                college_id=report.college_id, klass_id=report.klass_id, report_id=report.id,
                person_id=report.subject_person_id),
        severity, now)
    if rtype.tell is not None:
        told = await level_recipients(ctx.session, rtype.tell.levels, report.college_id,
                                      report.klass_id)
        await push_to_people(ctx.session, [p for p in told if p != ctx.person.id],
                             key=f"filed:{report.id}", reply=Reply(rtype.tell.text), now=now)
    text = rtype.reply.format(ref=item_ref(esc.id))
    if rtype.hotlines == "always" or (rtype.hotlines == "urgent" and is_urgent(severity)):
        text += "\n" + HOTLINES
    return (Reply(text, _MENU),)


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
    network: Network, rtype: ReportType, spec: FormSpec, ctx: Context, answers: dict[str, Any]
) -> tuple[Reply, ...]:
    assert ctx.person is not None
    now = ctx.clock.now()
    klass_id = await _committee_class(ctx)
    if klass_id is None:
        return (Reply("没有找到你负责的班级，请联系辅导员核对名单。", _MENU),)
    period = await _period_for(network, ctx, klass_id)
    # Each student named: (picked, severity, factors), by the report type's rules.
    concerns = [(answers[name], *rtype.assess(answers, name))
                for name in rtype.subjects if answers.get(name)]
    nothing = spec.reports_nothing(answers)
    severity = gravest([sev for _, sev, _ in concerns], rtype.severity)
    crisis = severity is Severity.crisis
    existing = (await ctx.session.exec(select(CheckIn).where(
        CheckIn.klass_id == klass_id, CheckIn.period == period))).first()
    report = Report(
        kind=rtype.kind, reporter_person_id=ctx.person.id,
        college_id=ctx.person.college_id, klass_id=klass_id, severity=severity,
        factors=sorted({f for _, _, fs in concerns for f in fs}), answers=answers,
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
    for n, (picked, sev, _) in enumerate(concerns, 1):
        student = await _subject_person(ctx, picked)
        await open_or_join(
            network.escalations, ctx.session,
            Subject(key=f"report:{report.id}:{n}", kind=rtype.kind, title=rtype.title,
                    college_id=report.college_id, klass_id=klass_id, report_id=report.id,
                    person_id=student.id if student else None),
            sev, now)
    amended = "（已更新本周的晴雨表）" if existing else ""
    text = f"本周晴雨表已提交{amended}，谢谢你！"
    if crisis:
        text += "\n你标记了需要马上处理的情况，学院和心理中心已收到。\n" + HOTLINES
    return (Reply(text, _MENU),)
