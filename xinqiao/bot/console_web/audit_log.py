"""审计 pages (the centre lead): the audit trail searched and filtered, paged, and as CSV.

The door is the matrix's ``audit_log.read`` (the centre lead alone); anyone else gets the
console's 404. Filters work on the trail's plain columns (who, about whom, what, when, allowed);
the free detail of an entry is encrypted and, as in chat's 审计记录, never shown. Every search
and every export is itself audited (``audit_log.read``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

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
from xinqiao.clock import SHANGHAI, local
from xinqiao.services.access import Action, Kind, Target, authorize
from xinqiao.services.audit import ACTION_LABELS
from xinqiao.services.person_info import by_number
from xinqiao.storage.models import AuditEntry, Person

DOOR = (Kind.audit_log, Action.read)
PAGE = 50
CSV_LIMIT = 20000  # rows in one export: a narrower date range for more


@dataclass(frozen=True)
class AuditFilters:
    """Who did it (学号/工号), about whom, which action, the date range, refusals only."""

    actor: str = ""
    student: str = ""
    action: str = ""
    since: date | None = None
    until: date | None = None
    refused: bool = False
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> AuditFilters:
        """From the query string; unknown values are ignored."""
        def day(key: str) -> date | None:
            try:
                return date.fromisoformat(query.get(key, "")) if query.get(key) else None
            except ValueError:
                return None
        page = query.get("page", "")
        action = query.get("action", "")
        return cls(query.get("actor", "").strip()[:32], query.get("student", "").strip()[:32],
                   action if action in ACTION_LABELS else "", day("since"), day("until"),
                   query.get("refused") == "1",
                   max(1, int(page)) if page.isdecimal() and len(page) < 6 else 1)

    def query(self, **change: Any) -> str:
        """The filters (with changes) as a query string."""
        values = {"actor": self.actor, "student": self.student, "action": self.action,
                  "since": self.since.isoformat() if self.since else "",
                  "until": self.until.isoformat() if self.until else "",
                  "refused": "1" if self.refused else "", "page": ""} | change
        return urlencode({k: v for k, v in values.items() if v not in ("", None, 1)})


@dataclass(frozen=True)
class Line:
    """One entry as the page and the CSV show it."""

    at: datetime
    actor: str
    action: str
    subject: str
    allowed: bool


async def _who(s: AsyncSession, number: str) -> Person | bool | None:
    """The person a filter names (False: the filter is empty)."""
    return await by_number(s, number) if number else False


async def _entries(s: AsyncSession, f: AuditFilters, actor: Person | bool | None,
                   student: Person | bool | None, offset: int, limit: int) -> list[Line]:
    query = select(AuditEntry)
    for who, column in ((actor, AuditEntry.actor_person_id),
                        (student, AuditEntry.subject_person_id)):
        if who is None:
            return []  # a number nobody has: nothing matches
        if isinstance(who, Person):
            query = query.where(col(column) == who.id)
    if f.action:
        query = query.where(AuditEntry.action == f.action)
    if f.since:
        query = query.where(col(AuditEntry.at) >= datetime.combine(f.since, time(0), SHANGHAI))
    if f.until:
        end = datetime.combine(f.until + timedelta(days=1), time(0), SHANGHAI)
        query = query.where(col(AuditEntry.at) < end)
    if f.refused:
        query = query.where(col(AuditEntry.allowed).is_(False))
    rows = list(await s.exec(query.order_by(col(AuditEntry.id).desc())
                             .offset(offset).limit(limit)))
    ids = {p for r in rows for p in (r.actor_person_id, r.subject_person_id) if p is not None}
    names = {p.id: f"{p.name}（{p.external_id}）" for p in await s.exec(
        select(Person).where(col(Person.id).in_(ids)))} if ids else {}
    return [Line(local(r.at), names.get(r.actor_person_id, "") if r.actor_person_id else
                 ("服务器命令行" if r.detail.get("via") == "cli" else "系统/未绑定"),
                 ACTION_LABELS.get(r.action, r.action), names.get(r.subject_person_id, "")
                 if r.subject_person_id else "", r.allowed) for r in rows]


async def _search(request: web.Request, s: AsyncSession, staff: Staff, export: str
                  ) -> tuple[AuditFilters, Person | bool | None, Person | bool | None] | None:
    """The filters and the people they name, after asking (and auditing) the matrix."""
    f = AuditFilters.parse(request.query)
    actor, student = await _who(s, f.actor), await _who(s, f.student)
    about = student if isinstance(student, Person) else None
    if not await authorize(s, staff.actor, Kind.audit_log, Action.read, Target.about(about),
                           now=services(request).clock.now(), via="console", export=export,
                           about=f.student or None, by=f.actor or None):
        return None
    return f, actor, student


@staff_page(DOOR, "audit_log")
async def audit_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/audit: the trail, newest first, 50 a page."""
    found = await _search(request, s, staff, "")
    if found is None:
        return not_found(request, staff)
    f, actor, student = found
    lines = await _entries(s, f, actor, student, (f.page - 1) * PAGE, PAGE + 1)
    return render(request, "audit.html", base_context(
        staff, filters=f, lines=lines[:PAGE], more=len(lines) > PAGE,
        actions=sorted(ACTION_LABELS.items(), key=lambda kv: kv[1]),
        unknown=[label for label, who in (("操作人", actor), ("对象", student)) if who is None]))


@staff_page(DOOR, "audit_log")
async def audit_csv(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/audit.csv: the same search as a CSV file (UTF-8 with BOM for Excel)."""
    found = await _search(request, s, staff, "csv")
    if found is None:
        return not_found(request, staff)
    f, actor, student = found
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["时间", "操作人", "操作", "对象", "结果"])
    for line in await _entries(s, f, actor, student, 0, CSV_LIMIT):
        writer.writerow([f"{line.at:%Y-%m-%d %H:%M:%S}", line.actor, line.action, line.subject,
                         "允许" if line.allowed else "拒绝"])
    stamp = f"{local(services(request).clock.now()):%Y%m%d-%H%M}"
    return web.Response(body=("\ufeff" + out.getvalue()).encode(), headers={
        "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'})


def add_routes(r: web.UrlDispatcher) -> None:
    """The 审计 routes."""
    r.add_get("/audit", audit_page)
    r.add_get("/audit.csv", audit_csv)
