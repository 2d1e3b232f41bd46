"""The college monthly report (月报): built from the month's data, confirmed by its lead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any, Protocol

from sqlalchemy import exists, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI
from xinqiao.services.completion import class_completion
from xinqiao.services.monthly.figures import (
    case_figures,
    counselling_figures,
    response_times,
    screening_figures,
)
from xinqiao.services.pushed import Pushed
from xinqiao.services.recipients import push_to_people
from xinqiao.services.report_types import report_types
from xinqiao.services.wording_port import WordingPort
from xinqiao.storage.db import dialect_name
from xinqiao.storage.models import College, Person, Role, RoleAssignment, Tier
from xinqiao.storage.reports import Escalation, MonthlyReport, Report, ReportKind

OUTCOMES = ("open", "acked", "resolved", "escalated")


class MonthlyWording(Protocol):
    """The push of a generated 月报; ``handlers/monthly_texts`` is one."""

    def generated(self, college: str, month: date) -> Pushed:
        """To a college's leads: the month's report is ready to read and confirm."""
        ...


words: WordingPort[MonthlyWording] = WordingPort("monthly", "xinqiao.handlers.monthly_texts")
OUTCOME_LABELS = {"open": "待响应", "acked": "已接手", "resolved": "已办结", "escalated": "曾升级"}
TIER_LABELS = {Tier.routine: "日常关注", Tier.key: "重点关注", Tier.crisis: "危机关注"}


def _zero() -> dict[str, int]:
    return {"count": 0, **dict.fromkeys(OUTCOMES, 0)}


def kind_rows(by_kind: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """A 月报's report rows as (label, counts): the registry's order, then any kind it no
    longer has (a centre's type since removed keeps its row under its own name)."""
    types = report_types()
    order = [t.kind for t in types.monthly() if t.kind in by_kind]
    order += [k for k in by_kind if k not in order]
    return [(types.monthly_label(k), by_kind[k]) for k in order]


def month_label(month: date) -> str:
    """``2026年9月``."""
    return f"{month.year}年{month.month}月"


def month_window(month: date) -> tuple[datetime, datetime]:
    """The month's start and end in UTC, on Shanghai days."""
    after = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    start = datetime.combine(date(month.year, month.month, 1), time(0), SHANGHAI)
    end = datetime.combine(after, time(0), SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


DueAt = Callable[[date], datetime]  # a period's due moment (the policy's checkin_due_at)
Span = tuple[datetime, datetime | None, datetime | None]  # opened, acknowledged, resolved


async def build_monthly(
    session: AsyncSession, college_id: int, month: date, periods: list[date],
    due_at: DueAt | None = None,
) -> dict[str, Any]:
    """The month's data for one college, JSON-ready (dates as ISO strings)."""
    college = await session.get(College, college_id)
    if college is None:
        raise LookupError(f"no college {college_id}")
    start, end = month_window(month)
    lines = await class_completion(session, college_id, periods, due_at=due_at)
    due, submitted = sum(c.due for c in lines), sum(c.submitted for c in lines)
    checkins = {
        "classes": len(lines), "complete": sum(1 for c in lines if c.complete),
        "due": due, "submitted": submitted,
        "nothing_to_report": sum(c.nothing_to_report for c in lines),
        "late": sum(len(c.late) for c in lines),
        "rate": submitted / due if due else 0.0,
        "by_class": [  # classes still missing a check-in first
            {"klass": c.klass, "due": c.due, "submitted": c.submitted,
             "nothing_to_report": c.nothing_to_report,
             "missing": [p.isoformat() for p in c.missing],
             "late": [p.isoformat() for p in c.late]}
            for c in sorted(lines, key=lambda c: (c.complete, c.klass))
        ],
    }
    # Every kind has a row unless its report type says it is not the network's report (a
    # concern question, a screening signal: data/report_kinds.toml); none is dropped unseen.
    types = report_types()
    in_month = (
        col(Report.college_id) == college_id,
        col(Report.created_at) >= start,
        col(Report.created_at) < end,
        col(Report.kind).not_in(types.outside_monthly()),
    )
    newer = aliased(Report)
    latest = ~exists().where(col(newer.supersedes) == col(Report.id))
    # Amended check-ins count once: only versions nothing supersedes.
    columns = select(Report.kind, Report.subject_person_id, Report.factors, Report.answers)
    rows = (await session.exec(columns.where(*in_month, latest))).all()
    by_kind = {t.kind: _zero() for t in types.monthly()}
    flagged = 0
    for kind, subject, factors, answers in rows:
        by_kind.setdefault(kind, _zero())["count"] += 1
        if kind == ReportKind.checkin and (
            subject is not None or factors or (answers or {}).get("concerns")
        ):
            flagged += 1
    escalations = select(Report.kind, Escalation).join(
        Report, col(Report.id) == col(Escalation.report_id)
    )
    spans: dict[str, list[Span]] = {kind: [] for kind in by_kind}
    for kind, esc in (await session.exec(escalations.where(*in_month))).all():
        counts = by_kind.setdefault(kind, _zero())
        counts[esc.status] += 1
        counts["escalated"] += int(esc.level > 0)
        spans.setdefault(kind, []).append((esc.opened_at, esc.acked_at, esc.resolved_at))
    unlinked_levels = (  # escalations without a report: overdue check-ins
        await session.exec(
            select(Escalation.level).where(
                col(Escalation.college_id) == college_id, col(Escalation.report_id).is_(None),
                col(Escalation.opened_at) >= start, col(Escalation.opened_at) < end,
            )
        )
    ).all()
    unlinked = len(unlinked_levels)
    # A missing check-in that climbed past the committee member counts under 曾升级 too.
    climbed = sum(1 for lv in unlinked_levels if lv > 0)
    by_kind.setdefault(ReportKind.checkin, _zero())["escalated"] += climbed
    # Students are the people with a class; staff carry only their college.
    tiers = (
        await session.exec(
            select(Person.tier, func.count())
            .where(col(Person.college_id) == college_id, col(Person.klass_id).is_not(None),
                   col(Person.active).is_(True))
            .group_by(col(Person.tier))
        )
    ).all()
    students = {t.value: 0 for t in Tier} | {str(t): int(n) for t, n in tiers}
    window = (start, end)
    return {
        "college_id": college_id,
        "college": college.name,
        "month": date(month.year, month.month, 1).isoformat(),
        "periods": [p.isoformat() for p in sorted(set(periods))],
        "checkins": checkins,
        "reports": {
            "total": len(rows),
            "by_kind": {k: {**v, **response_times(spans.get(k, []))}
                        for k, v in by_kind.items()},
            **{o: sum(v[o] for v in by_kind.values()) for o in OUTCOMES},
            "flagged_checkins": flagged,
            "unlinked_escalations": int(unlinked),
        },
        "students": {"total": sum(students.values()), **students},
        "screening": await screening_figures(session, college_id, window),
        "counselling": await counselling_figures(session, college_id, window),
        "cases": await case_figures(session, college_id, window),
    }


async def push_to_role(
    session: AsyncSession,
    *,
    role: Role,
    college_id: int | None,
    school_id: int,
    key: str,
    reply: Pushed,
    now: datetime,
) -> int:
    """Queue a reminder, keyed ``{key}:{person id}``, to each active holder of ``role``."""
    holders = (
        select(RoleAssignment.person_id)
        .join(Person, col(Person.id) == col(RoleAssignment.person_id))
        .where(col(RoleAssignment.role) == role.value, col(Person.active).is_(True),
               col(Person.school_id) == school_id)
    )
    if college_id is not None:
        holders = holders.where(col(RoleAssignment.college_id) == college_id)
    people = (await session.exec(holders)).all()
    return len(await push_to_people(session, people, key=key, reply=reply, now=now))


async def generate_monthly(
    session: AsyncSession, month: date, periods: list[date], now: datetime,
    due_at: DueAt | None = None,
) -> int:
    """(Re)build every college's unconfirmed 月报 for ``month``, tell its leads; return count."""
    month = date(month.year, month.month, 1)
    colleges = (await session.exec(select(College).order_by(col(College.id)))).all()
    generated = 0
    for college in colleges:
        assert college.id is not None
        row = await _locked_row(session, college.id, month, now)
        if row.confirmed_at is not None:
            continue
        row.data = await build_monthly(session, college.id, month, periods, due_at)
        row.generated_at = now
        session.add(row)
        generated += 1
        await push_to_role(
            session, role=Role.college_lead, college_id=college.id,
            school_id=college.school_id, key=f"monthly:{college.id}:{month}",
            reply=words().generated(college.name, month), now=now,
        )
    return generated


async def _locked_row(
    session: AsyncSession, college_id: int, month: date, now: datetime
) -> MonthlyReport:
    """The college's row for the month, created empty if missing, locked on PostgreSQL."""
    insert = postgresql.insert if dialect_name(session) == "postgresql" else sqlite.insert
    await session.exec(
        insert(MonthlyReport)
        .values(college_id=college_id, month=month, data={}, generated_at=now)
        .on_conflict_do_nothing(index_elements=["college_id", "month"])
    )
    query = select(MonthlyReport).where(
        col(MonthlyReport.college_id) == college_id, col(MonthlyReport.month) == month
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update()
    return (await session.exec(query.execution_options(populate_existing=True))).one()
