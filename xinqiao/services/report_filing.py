"""Filing a report or a class's weekly check-in: the rows, the items and the period it counts for.

The report forms (handlers/network.py) word the answer; this module stores what was filed and
returns a frozen account of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.services.escalation.engine import Subject
from xinqiao.services.item_links import open_or_join
from xinqiao.services.network import Network
from xinqiao.services.report_spec import ReportType, gravest
from xinqiao.services.severity import is_urgent
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.storage.reports import CheckIn, Escalation, EscalationStatus, Report, Severity
from xinqiao.vocabulary import Rostered


@dataclass(frozen=True)
class FiledReport:
    """A stored report and the item it opened or joined."""

    report_id: int
    item_id: int
    college_id: int | None
    klass_id: int | None
    urgent: bool


@dataclass(frozen=True)
class FiledCheckIn:
    """A class's check-in as stored: whether it amended the period's first, and how grave."""

    amended: bool
    crisis: bool
    # The item of each student named, in the form's order, and whether it is a crisis: the
    # committee member is told the numbers, as any reporter is.
    items: tuple[tuple[int, bool], ...] = ()


async def _subject_person(s: AsyncSession, picked: dict[str, Any] | None) -> Person | None:
    if not picked or picked.get("person_id") is None:
        return None
    return await s.get(Person, int(picked["person_id"]))


async def file_report(
    s: AsyncSession, network: Network, rtype: ReportType, reporter: Rostered,
    answers: dict[str, Any], *, in_dorm: bool, now: datetime,
) -> FiledReport:
    """Store a report about a (possibly unlisted) student and open or join its item."""
    about = rtype.subjects[0] if rtype.subjects else ""
    severity, factors = rtype.assess(answers, about)
    picked = answers.get(about) if about else None
    subject = await _subject_person(s, picked)
    unit = subject or reporter  # someone not on the roster: the reporter's own units
    report = Report(
        kind=rtype.kind, reporter_person_id=reporter.id,
        subject_person_id=subject.id if subject else None,
        subject_name=(picked or {}).get("name"), college_id=unit.college_id,
        klass_id=unit.klass_id, dorm_id=reporter.dorm_id if in_dorm else None,
        severity=severity, factors=factors, answers=answers, created_at=now,
    )
    s.add(report)
    await s.flush()
    assert report.id is not None
    esc = await open_or_join(
        network.escalations, s,
        Subject(key=f"report:{report.id}", kind=rtype.kind, title=rtype.title,
                college_id=report.college_id, klass_id=report.klass_id, report_id=report.id,
                person_id=report.subject_person_id),
        severity, now)
    assert esc.id is not None
    return FiledReport(report.id, esc.id, report.college_id, report.klass_id,
                       is_urgent(severity))


async def committee_class(s: AsyncSession, person: Rostered) -> int | None:
    """The class a committee member files the check-in for (their assignment, else their own)."""
    row = (await s.exec(select(RoleAssignment.klass_id).where(
        RoleAssignment.person_id == person.id,
        RoleAssignment.role == Role.committee.value))).first()
    return row if row is not None else person.klass_id


async def period_for(network: Network, s: AsyncSession, klass_id: int, now: datetime) -> date:
    """A late check-in counts for the oldest period still missing (an open item, else a due
    day of this week up to today without a check-in, as completion shows it); a second one
    in a week whose due days are all past and sent amends this week's (本周, as the form
    says), never next week's; else the coming one."""
    prefix = f"checkin:{klass_id}:"
    missing = (await s.exec(
        select(Escalation.subject)
        .where(col(Escalation.subject).startswith(prefix),
               Escalation.status != EscalationStatus.resolved)
        .order_by(col(Escalation.subject)))).first()
    if missing is not None:
        return date.fromisoformat(missing[len(prefix):])
    today = local(now).date()
    past = [d for d in network.week_periods(now) if d <= today]
    if past:
        sent = set((await s.exec(select(col(CheckIn.period)).where(
            CheckIn.klass_id == klass_id, col(CheckIn.period).in_(past)))).all())
        if gaps := [d for d in past if d not in sent]:
            return gaps[0]
        coming = network.checkin_period(now)
        if coming not in network.week_periods(now):
            return past[-1]
        return coming
    return network.checkin_period(now)


async def file_checkin(
    s: AsyncSession, network: Network, rtype: ReportType, reporter: Rostered, klass_id: int,
    answers: dict[str, Any], *, nothing: bool, now: datetime,
) -> FiledCheckIn:
    """Store a class's check-in for the period it counts for, close that period's missing
    item and open an item per student named."""
    period = await period_for(network, s, klass_id, now)
    # Each student named: (picked, severity, factors), by the report type's rules.
    concerns = [(answers[name], *rtype.assess(answers, name))
                for name in rtype.subjects if answers.get(name)]
    severity = gravest([sev for _, sev, _ in concerns], rtype.severity)
    existing = (await s.exec(select(CheckIn).where(
        CheckIn.klass_id == klass_id, CheckIn.period == period))).first()
    report = Report(
        kind=rtype.kind, reporter_person_id=reporter.id,
        college_id=reporter.college_id, klass_id=klass_id, severity=severity,
        factors=sorted({f for _, _, fs in concerns for f in fs}), answers=answers,
        supersedes=existing.report_id if existing else None, created_at=now,
    )
    s.add(report)
    await s.flush()
    assert report.id is not None
    if existing is None:
        s.add(CheckIn(klass_id=klass_id, period=period, report_id=report.id,
                      nothing_to_report=nothing, submitted_by=reporter.id, submitted_at=now))
    else:  # a second check-in in one period amends the first; history stays in `supersedes`
        existing.report_id, existing.nothing_to_report = report.id, nothing
        existing.submitted_at, existing.versions = now, existing.versions + 1
        s.add(existing)
    await network.escalations.close_subject(
        s, f"checkin:{klass_id}:{period.isoformat()}", now, reporter.id, "check-in submitted")
    items: list[tuple[int, bool]] = []
    for n, (picked, sev, _) in enumerate(concerns, 1):
        student = await _subject_person(s, picked)
        esc = await open_or_join(
            network.escalations, s,
            Subject(key=f"report:{report.id}:{n}", kind=rtype.kind, title=rtype.title,
                    college_id=report.college_id, klass_id=klass_id, report_id=report.id,
                    person_id=student.id if student else None),
            sev, now)
        assert esc.id is not None
        items.append((esc.id, sev is Severity.crisis))
    return FiledCheckIn(amended=existing is not None, crisis=severity is Severity.crisis,
                        items=tuple(items))
