"""晴雨表 as data: check-in completion as a class × week grid (or college × week for the centre).

Each cell is one class and one week: 已交 when every due date of the week that has passed has
a check-in, 迟交 when one came after its due moment, 未交 when one is missing (with 提醒 when
the scheduler's 晴雨表未提交 item is still open to chase), 未到期 before the week's due moment,
and — for a week without a due date (a holiday). Counts only: no student appears here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, literal_column, union_all
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.reach import Unit
from xinqiao.clock import local
from xinqiao.services.completion import ClassCompletion, class_completion
from xinqiao.services.escalation.checkin_items import MISSING, period_of
from xinqiao.services.network import Network
from xinqiao.storage.models import Klass
from xinqiao.storage.reports import CheckIn, Escalation, EscalationStatus

WEEKS = 6
LABELS = {"ok": "已交", "late": "迟交", "missing": "未交", "pending": "未到期", "none": "—"}


@dataclass(frozen=True)
class Cell:
    """One class (or college) in one week."""

    state: str  # ok, late, missing, pending, none: a CSS class too
    label: str
    remind: bool = False


@dataclass(frozen=True)
class GridRow:
    """One class (or, in the centre's overview, one college) across the weeks."""

    key: int
    name: str
    sub: str
    cells: list[Cell]


@dataclass(frozen=True)
class Week:
    """A week of the grid: its Monday, its due dates, and those whose due moment has passed."""

    monday: date
    periods: list[date]
    due: list[date]

    @property
    def label(self) -> str:
        """``9/7周``."""
        return f"{self.monday.month}/{self.monday.day}周"


def weeks_upto(network: Network, now: datetime, count: int = WEEKS) -> list[Week]:
    """The last ``count`` weeks, this one first."""
    today = local(now).date()
    monday = today - timedelta(days=today.isoweekday() - 1)
    weeks = []
    for n in range(count):
        start = monday - timedelta(weeks=n)
        periods = network.periods_between(start, start + timedelta(days=6))
        due = [p for p in periods if network.policy.checkin_due_at(p) <= now]
        weeks.append(Week(start, periods, due))
    return weeks


def _cell(line: ClassCompletion | None, week: Week, chase: bool) -> Cell:
    if not week.periods:
        return Cell("none", LABELS["none"])
    if not week.due:
        return Cell("pending", LABELS["pending"])
    missing = line is None or any(p in line.missing for p in week.due)
    if missing:
        return Cell("missing", LABELS["missing"], chase)
    late = line is not None and any(p in line.late for p in week.due)
    return Cell("late" if late else "ok", LABELS["late" if late else "ok"])


async def _lines(s: AsyncSession, units: list[Unit], weeks: list[Week],
                 network: Network) -> dict[int, ClassCompletion]:
    due = [p for w in weeks for p in w.due]
    wanted = {u.klass_id for u in units}
    found: dict[int, ClassCompletion] = {}
    for college_id in sorted({u.college_id for u in units}):
        for line in await class_completion(s, college_id, due,
                                           due_at=network.policy.checkin_due_at):
            if line.klass_id in wanted:
                found[line.klass_id] = line
    return found


async def chaseable(s: AsyncSession, klass_ids: set[int]) -> set[tuple[int, date]]:
    """(class, Monday) pairs with an open 晴雨表未提交 item to chase."""
    if not klass_ids:
        return set()
    rows = await s.exec(select(Escalation).where(
        Escalation.kind == MISSING, col(Escalation.klass_id).in_(klass_ids),
        Escalation.status != EscalationStatus.resolved))
    found = set()
    for esc in rows:
        if (period := period_of(esc)) is not None and esc.klass_id is not None:
            found.add((esc.klass_id, period - timedelta(days=period.isoweekday() - 1)))
    return found


async def class_rows(s: AsyncSession, network: Network, units: list[Unit],
                     weeks: list[Week]) -> list[GridRow]:
    """A row per class: its cells, week by week."""
    lines = await _lines(s, units, weeks, network)
    chase = await chaseable(s, {u.klass_id for u in units})
    return [GridRow(u.klass_id, u.klass, u.college,
                    [_cell(lines.get(u.klass_id), w, (u.klass_id, w.monday) in chase)
                     for w in weeks]) for u in units]


async def college_rows(s: AsyncSession, network: Network, colleges: list[tuple[int, str]],
                       weeks: list[Week]) -> list[GridRow]:
    """The centre's overview: a row per college, each cell classes complete / classes.

    Counted in the database, not class by class: a class is complete for a week when it has a
    check-in for each of the week's past due dates, so classes are counted per college among
    those whose check-ins in the week number its due dates: one query for all the weeks.
    """
    classes = dict((await s.exec(select(Klass.college_id, func.count())
                                 .group_by(col(Klass.college_id)))).all())
    complete: dict[tuple[int, int], int] = {}
    # Per week: the classes whose check-ins in the week number its past due dates (one
    # check-in per class and date, a unique key), tagged with the week's index.
    parts: list[Any] = [sa_select(col(Klass.college_id).label("college"),
                       literal_column(str(n)).label("week"))
             .select_from(CheckIn).join(Klass, col(Klass.id) == col(CheckIn.klass_id))
             .where(col(CheckIn.period).in_(w.due))
             .group_by(col(CheckIn.klass_id), col(Klass.college_id))
             .having(func.count() == len(w.due))
             for n, w in enumerate(weeks) if w.due]
    if parts:
        found = union_all(*parts).subquery()
        conn = await s.connection()
        for college_id, n, count in (await conn.execute(
                sa_select(found.c.college, found.c.week, func.count())
                .group_by(found.c.college, found.c.week))).all():
            complete[(college_id, int(n))] = int(count)
    rows = []
    for college_id, name in colleges:
        cells = []
        for n, week in enumerate(weeks):
            if not week.periods or not week.due:
                cells.append(Cell("none" if not week.periods else "pending",
                                  LABELS["none" if not week.periods else "pending"]))
                continue
            done, total = complete.get((college_id, n), 0), classes.get(college_id, 0)
            cells.append(Cell("ok" if done == total else "missing", f"{done}/{total}"))
        rows.append(GridRow(college_id, name, "", cells))
    return rows


def missing_now(rows: list[GridRow], weeks: list[Week]) -> list[GridRow]:
    """The rows missing in the latest week that has a due date past."""
    index = next((i for i, w in enumerate(weeks) if w.due), None)
    if index is None:
        return []
    return [r for r in rows if r.cells[index].state == "missing"]
