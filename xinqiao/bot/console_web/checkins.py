"""晴雨表 pages: the class × week grid of check-in completion in my scope, and 提醒 for a class
whose check-in is missing (the scheduler's own reminder to the class's committee member)."""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.checkin_grid import (
    LABELS,
    class_rows,
    college_rows,
    missing_now,
    weeks_upto,
)
from xinqiao.bot.console_web.gate import (
    Staff,
    base_context,
    not_found,
    render,
    see_other,
    services,
    staff_page,
)
from xinqiao.bot.console_web.reach import ATTENTION, classes_of, colleges_of, reach_of
from xinqiao.services.access import Action, Kind, Target, authorize
from xinqiao.services.checkin_nudge import nudge
from xinqiao.storage.models import College, Klass

DONE = {"sent": "已提醒该班的心理委员补交晴雨表。",
        "already": "本周已经提醒过这个班，不再重复发送。",
        "nothing": "这个班这周没有待补交的晴雨表了（可能刚刚已提交或已说明原因）。",
        "nobody": "这个班暂时没有能联系上的心理委员，请直接联系班级。"}


def _number(raw: object) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdecimal() and len(raw) < 10 else None


@staff_page(ATTENTION, "checkins")
async def grid_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/checkins[?college=N]: my classes by week; the centre starts from colleges."""
    svc = services(request)
    now = svc.clock.now()
    reach = reach_of(staff.actor)
    weeks = weeks_upto(svc.network, now)
    college_id = _number(request.query.get("college"))
    college = await s.get(College, college_id) if college_id is not None else None
    if college_id is not None and (college is None or not (
            reach.school or (reach.colleges is not None and college_id in reach.colleges))):
        return not_found(request, staff)
    if reach.school and college is None:
        rows = await college_rows(s, svc.network, await colleges_of(s, reach), weeks)
        overview = True
    else:
        rows = await class_rows(s, svc.network, await classes_of(s, reach, college_id), weeks)
        overview = False
    return render(request, "checkins.html", base_context(
        staff, weeks=weeks, rows=rows, overview=overview, college=college,
        missing=missing_now(rows, weeks), labels=LABELS,
        done=DONE.get(request.query.get("done", ""))))


@staff_page(ATTENTION, "checkins")
async def remind(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """POST /console/checkins/remind (klass, week): chase one class's missing check-in."""
    form = await request.post()
    klass_id = _number(form.get("klass"))
    try:
        week = date.fromisoformat(str(form.get("week", "")))
    except ValueError:
        return not_found(request, staff)
    klass = await s.get(Klass, klass_id) if klass_id is not None else None
    now = services(request).clock.now()
    # Whoever sees a class's completion may chase it (the same reach as the grid).
    target = Target(college_id=klass.college_id, klass_id=klass.id) if klass else None
    if not await authorize(s, staff.actor, Kind.attention, Action.read, target, now=now,
                           audit_allowed=False, via="console", asked="checkin.nudge"):
        return not_found(request, staff)
    assert klass is not None and klass.id is not None
    monday = week - timedelta(days=week.isoweekday() - 1)
    done = await nudge(s, services(request).network, klass.id, monday,
                       person_id=staff.person_id, now=now)
    back = _number(form.get("college"))
    where = f"college={back}&" if back is not None else ""
    return see_other(f"/console/checkins?{where}done={done.value}")
