"""报表 as data: a college's 月报 (the very data chat's 月报 and its xlsx use) and its charts.

The figures come from ``services/monthly.build_monthly`` — or, once the college lead confirmed
the month, from the stored, signed-off copy, as ``xinqiao report monthly`` exports it. Two
figures the 月报 does not carry are counted here: how many items were acknowledged within
their deadline (the first people they went to acknowledged before the item climbed), and the
screening positives of every college in reach side by side. Counts only: no name, no answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from markupsafe import Markup
from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.svg_chart import Bar, bar_chart, percent
from xinqiao.clock import local
from xinqiao.services.monthly.export import signoff_of
from xinqiao.services.monthly.figures import screening_figures
from xinqiao.services.monthly.report import build_monthly, kind_rows, month_window
from xinqiao.services.network import Network
from xinqiao.services.report_types import report_types
from xinqiao.storage.reports import Escalation, EscalationStep, MonthlyReport, Report

MONTHS = 12  # how far back the month picker goes


def months_upto(now: datetime) -> list[date]:
    """The first days of this month and the ``MONTHS - 1`` before it, newest first."""
    today = local(now).date()
    first = today.replace(day=1)
    out = []
    for _ in range(MONTHS):
        out.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    return out


def parse_month(raw: str, now: datetime) -> date | None:
    """``2026-09`` → 2026-09-01 if among the picker's months; empty → last month."""
    months = months_upto(now)
    if not raw:
        return months[1]
    try:
        wanted = date.fromisoformat(raw + "-01")
    except ValueError:
        return None
    return wanted if wanted in months else None


async def monthly_of(s: AsyncSession, network: Network, college_id: int, month: date,
                     now: datetime) -> dict[str, Any]:
    """The month's 月报 data: the confirmed copy if the lead signed it off, else built now
    (only due dates already past count, as ``xinqiao report monthly`` does)."""
    stored = (await s.exec(select(MonthlyReport).where(
        col(MonthlyReport.college_id) == college_id, col(MonthlyReport.month) == month))).first()
    if stored is not None and stored.confirmed_at is not None and stored.data:
        data = dict(stored.data)
    else:
        due_at = network.policy.checkin_due_at
        periods = [p for p in network.month_periods(month) if due_at(p) <= now]
        data = await build_monthly(s, college_id, month, periods, due_at)
    return data | await signoff_of(s, stored)


async def acks_in_time(s: AsyncSession, college_id: int, month: date
                       ) -> dict[str, tuple[int, int]]:
    """Per report kind: (acknowledged before the first climb, items whose outcome is known).

    An item counts once it was acknowledged or has climbed; one still waiting on its first
    people inside their deadline is not counted yet.
    """
    start, end = month_window(month)
    acked = (select(EscalationStep.escalation_id, func.min(EscalationStep.level).label("lv"))
             .where(EscalationStep.action == "acked")
             .group_by(col(EscalationStep.escalation_id)).subquery())
    rows = await s.exec(
        select(Report.kind, acked.c.lv, Escalation.level, Escalation.exhausted_at)
        .join(Report, col(Report.id) == col(Escalation.report_id))
        .outerjoin(acked, acked.c.escalation_id == col(Escalation.id))
        .where(col(Report.college_id) == college_id, col(Report.created_at) >= start,
               col(Report.created_at) < end))
    found: dict[str, tuple[int, int]] = {}
    for kind, first_ack, level, exhausted in rows:
        if first_ack is None and level == 0 and exhausted is None:
            continue  # still inside its first deadline
        within, known = found.get(kind, (0, 0))
        found[kind] = (within + int(first_ack == 0), known + 1)
    return found


async def positives(s: AsyncSession, colleges: list[tuple[int, str]], month: date
                    ) -> list[tuple[str, int, int]]:
    """Per college in reach: (name, students screening positive, students invited)."""
    window = month_window(month)
    out = []
    for college_id, name in colleges:
        figures = await screening_figures(s, college_id, window)
        out.append((name, int(figures["positive"]), int(figures["invited"])))
    return out


@dataclass(frozen=True)
class Chart:
    """A chart's heading and its SVG."""

    title: str
    svg: Markup


def charts(data: dict[str, Any], acks: dict[str, tuple[int, int]],
           screened: list[tuple[str, int, int]]) -> list[Chart]:
    """The five charts of the page, each with its numbers written beside its bars."""
    checkins = data["checkins"]
    by_class = [Bar(c["klass"], c["submitted"], c["due"], percent(c["submitted"], c["due"]),
                    "bad" if c["missing"] else "good") for c in checkins["by_class"]]
    whole = Bar("全院", checkins["submitted"], checkins["due"],
                percent(checkins["submitted"], checkins["due"]))
    kinds = kind_rows(data["reports"]["by_kind"])
    top = max([counts["count"] for _, counts in kinds] + [1])
    reports = [Bar(label, counts["count"], top, f"{counts['count']} 条")
               for label, counts in kinds]
    types = report_types()
    in_time = [Bar(types.monthly_label(k), w, n, percent(w, n), "good" if w == n else "bad")
               for k, (w, n) in sorted(acks.items(), key=lambda kv: types.monthly_label(kv[0]))]
    cases = data.get("cases") or {}
    most = max([cases.get(k, 0) for k in ("opened", "closed", "open_at_end")] + [1])
    case_bars = [Bar(label, cases.get(key, 0), most, f"{cases.get(key, 0)} 个")
                 for key, label in (("opened", "本月新开"), ("closed", "本月结案"),
                                    ("open_at_end", "月末在管"))]
    most = max([p for _, p, _ in screened] + [1])
    screen = [Bar(name, p, most, f"{p}/{n} 人", "bad" if p else "") for name, p, n
              in screened]
    return [Chart("周报完成（已交/应交）", bar_chart("周报完成", [whole, *by_class])),
            Chart("上报（按类型）", bar_chart("上报（按类型）", reports)),
            Chart("按时确认（首批接收人在期限内确认）", bar_chart("按时确认", in_time)),
            Chart("危机个案", bar_chart("危机个案", case_bars)),
            Chart("测评阳性（按学院，阳性/应测人数）", bar_chart("测评阳性", screen))]
