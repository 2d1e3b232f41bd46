"""报表 pages: a college's monthly report (月报) with its charts, and its xlsx download.

The door is the one chat's 个案 and the college pages use (``case.read``): a college's roles
reach their colleges, the centre every college (``colleges_in_reach``). A college outside
that reach answers 404 like a missing one. The download is the same workbook as
``xinqiao report monthly`` and is audited the same way (``report.monthly_export``).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from urllib.parse import quote

from aiohttp import web
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.gate import (
    Staff,
    base_context,
    not_found,
    render,
    services,
    staff_page,
)
from xinqiao.bot.console_web.monthly_data import (
    acks_in_time,
    charts,
    monthly_of,
    months_upto,
    parse_month,
    positives,
)
from xinqiao.services import audit
from xinqiao.services.access import Action, Kind, colleges_in_reach
from xinqiao.services.monthly.export import title_of, write_monthly_xlsx
from xinqiao.services.monthly.report import kind_rows, month_label
from xinqiao.storage.models import College

DOOR = (Kind.case, Action.read)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def _colleges(s: AsyncSession, staff: Staff) -> list[tuple[int, str]]:
    """The colleges this person's reports reach, by name."""
    reach = colleges_in_reach(staff.actor, *DOOR)
    query = select(College.id, College.name).where(
        College.school_id == staff.person.school_id)
    if reach is not None:
        query = query.where(col(College.id).in_(reach))
    return sorted(((c or 0, n) for c, n in await s.exec(query)), key=lambda r: (r[1], r[0]))


def _picked(request: web.Request, colleges: list[tuple[int, str]]) -> tuple[int, str] | None:
    raw = request.query.get("college", "")
    if not raw:
        return colleges[0] if colleges else None
    return next((c for c in colleges if str(c[0]) == raw), None)


@staff_page(DOOR, "monthly")
async def monthly_page(request: web.Request, s: AsyncSession,
                       staff: Staff) -> web.StreamResponse:
    """GET /console/monthly[?college=N&month=YYYY-MM]: the 月报 and its charts, else 404."""
    svc = services(request)
    now = svc.clock.now()
    colleges = await _colleges(s, staff)
    picked = _picked(request, colleges)
    month = parse_month(request.query.get("month", ""), now)
    if picked is None or month is None:
        return not_found(request, staff)
    data = await monthly_of(s, svc.network, picked[0], month, now)
    drawn = charts(data, await acks_in_time(s, picked[0], month),
                   await positives(s, colleges, month))
    return render(request, "monthly.html", base_context(
        staff, data=data, title=title_of(data), charts=drawn, colleges=colleges,
        college=picked, month=month, months=months_upto(now), month_label=month_label,
        kinds=kind_rows(data["reports"]["by_kind"])))


@staff_page(DOOR, "monthly")
async def monthly_xlsx(request: web.Request, s: AsyncSession,
                       staff: Staff) -> web.StreamResponse:
    """GET /console/monthly.xlsx?college=N&month=YYYY-MM: the workbook, audited; else 404."""
    svc = services(request)
    now = svc.clock.now()
    picked = _picked(request, await _colleges(s, staff))
    month = parse_month(request.query.get("month", ""), now)
    if picked is None or month is None or not request.query.get("college"):
        return not_found(request, staff)
    data = await monthly_of(s, svc.network, picked[0], month, now)
    name = f"{picked[1]}-{month:%Y-%m}-月报.xlsx"
    await audit.record(s, at=now, action="report.monthly_export", actor_person_id=staff.person_id,
                       college=picked[1], month=month.isoformat(), file=name,
                       confirmed=data.get("confirmed_at") is not None, via="console")
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "monthly.xlsx"
        await asyncio.to_thread(write_monthly_xlsx, data, out)
        body = out.read_bytes()
    return web.Response(body=body, content_type=XLSX, headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"})


def add_routes(r: web.UrlDispatcher) -> None:
    """The 报表 routes."""
    r.add_get("/monthly", monthly_page)
    r.add_get("/monthly.xlsx", monthly_xlsx)
