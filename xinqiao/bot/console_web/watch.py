"""关注名单 pages: students by tier in my scope, and one student's timeline.

The list is audited once per look as chat's 关注名单 is (``attention.read`` with the count);
a student's page is chat's 学生信息 picture, one read audited once (``attention.student``)
after the access matrix let the reader in (``Kind.picture``); outside their scope it is a 404
like any other record.
"""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.gate import (
    Staff,
    base_context,
    not_found,
    render,
    services,
    staff_page,
)
from xinqiao.bot.console_web.student_data import timeline
from xinqiao.bot.console_web.watch_data import COLOURS, WatchFilters, watch_list
from xinqiao.services import audit
from xinqiao.services.access import Action, Kind, Target, authorize
from xinqiao.services.cases.signoff import TIER_LABELS
from xinqiao.services.directory import unit_names
from xinqiao.storage.models import Person, Tier

READ = (Kind.attention, Action.read)


@staff_page(READ, "attention")
async def watch_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/watch: the colour cards, filters and the students."""
    svc = services(request)
    filters = WatchFilters.parse(request.query)
    now = svc.clock.now()
    found = await watch_list(s, staff.actor, filters, now, svc.settings.content_dir)
    await audit.record(s, at=now, action="attention.read", actor_person_id=staff.person_id,
                       count=found.total, via="console")
    return render(request, "watch.html", base_context(
        staff, counts=found.counts, rows=found.rows, filters=filters, colours=COLOURS,
        klasses=found.klasses, found=found))


@staff_page(READ, "attention")
async def student_page(request: web.Request, s: AsyncSession,
                       staff: Staff) -> web.StreamResponse:
    """GET /console/students/{id}: the student's timeline (one audit line), else 404."""
    svc = services(request)
    raw = request.match_info["person_id"]
    number = int(raw) if raw.isdecimal() and len(raw) < 10 else 0
    student = await s.get(Person, number) if number else None
    target = Target.about(student) if student is not None and student.active else None
    if not await authorize(s, staff.actor, Kind.picture, Action.read, target,
                           now=svc.clock.now(), audit_as="attention.student",
                           person=number or raw[:16], via="console"):
        return not_found(request, staff)
    assert student is not None
    college, klass, _ = await unit_names(s, student)
    lines, found = await timeline(s, staff.actor, student, svc.settings.content_dir)
    return render(request, "student.html", base_context(
        staff, student=student, units=" ".join(u for u in (college, klass) if u),
        tier=TIER_LABELS[Tier(student.tier)], lines=lines, safety_plan=found.safety_plan))
