"""花名册 pages: search people, a person's accounts, coverage gaps; for the centre also upload
(preview, then confirm), a new activation code, unbind and leave.

The page opens to roles whose roster reads reach a whole college or the school (a college
sees its own people read-only); each person is one audited roster read through the access
matrix, a 404 outside it. Changing the roster has no grant in chat (it is the server's
``xinqiao roster`` commands), so here it is left to whoever reads the whole school's roster —
the centre — and goes through the same services those commands use, each change audited.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web import roster_data as data
from xinqiao.bot.console_web.gate import (
    Staff,
    base_context,
    not_found,
    render,
    see_other,
    services,
    staff_page,
)
from xinqiao.bot.console_web.roster_errors import reason_zh
from xinqiao.services import audit
from xinqiao.services.access import (
    Action,
    Kind,
    Target,
    authorize,
    colleges_in_reach,
    refuse_flow,
    wide_holders,
)
from xinqiao.services.binding import leave_person, new_code, unbind_person
from xinqiao.services.roster import RosterFileError, import_parsed, preview_parsed
from xinqiao.services.roster_file import read_roster
from xinqiao.storage.models import Person

DOOR = (Kind.roster, Action.read)
FLOW = "student_lookup"
UPLOAD_MAX = 20 * 1024 * 1024  # a whole school's .xlsx (30,000 rows) is a few megabytes
DONE = {"left": "已标记离校：账号已解绑，工作台登录已结束。"}


def add_routes(r: web.UrlDispatcher) -> None:
    """The 花名册 routes."""
    r.add_get("/roster", roster_page)
    r.add_get("/roster/gaps", gaps_page)
    r.add_post("/roster/upload", _roomy)
    r.add_get(r"/roster/upload/{token}", preview_page)
    r.add_post(r"/roster/upload/{token}/confirm", confirm)
    r.add_get(r"/roster/people/{person_id}", person_page)
    r.add_post(r"/roster/people/{person_id}/{action}", person_action)


async def _roomy(request: web.Request) -> web.StreamResponse:
    # The service caps bodies at a webhook's size; a school's roster is far larger.
    return await upload(request.clone(client_max_size=UPLOAD_MAX))  # type: ignore[no-any-return]


def _colleges(staff: Staff) -> frozenset[int] | None:
    return colleges_in_reach(staff.actor, *DOOR)


def _manages(staff: Staff) -> bool:
    """The centre: roster reads over the whole school."""
    return _colleges(staff) is None


async def _refused(request: web.Request, s: AsyncSession, staff: Staff) -> web.Response:
    await refuse_flow(s, now=services(request).clock.now(), actor_person_id=staff.person_id,
                      flow=FLOW, identity_id=None, asked=request.path)
    return not_found(request, staff)


def _context(staff: Staff, **more: object) -> dict[str, object]:
    return base_context(staff, manages=_manages(staff), **more)


def _wide(staff: Staff) -> bool:
    return bool(staff.roles & wide_holders(*DOOR))


@staff_page(DOOR, FLOW)
async def roster_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/roster[?q=]: search by name / 学号 / 工号; the upload form for the centre."""
    if not _wide(staff):
        return await _refused(request, s, staff)
    words = request.query.get("q", "").strip()[:64]
    found = await data.search(s, words, _colleges(staff)) if words else []
    if words:
        await audit.record(s, at=services(request).clock.now(), action="roster.search",
                           actor_person_id=staff.person_id, count=len(found), via="console")
    return render(request, "roster.html", _context(staff, words=words, found=found,
                                                   limit=data.FOUND_MAX, error=None))


@staff_page(DOOR, FLOW)
async def gaps_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/roster/gaps: units where nobody who must hear alerts can be reached."""
    if not _wide(staff):
        return await _refused(request, s, staff)
    return render(request, "roster_gaps.html",
                  _context(staff, gaps=await data.gaps(s, _colleges(staff))))


@staff_page(DOOR, FLOW)
async def upload(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """POST /console/roster/upload (multipart ``file``): keep the file, show its preview."""
    if not _manages(staff):
        return await _refused(request, s, staff)
    form = await request.post()
    field = form.get("file")
    suffix = Path(getattr(field, "filename", "") or "").suffix.lower()
    if not isinstance(field, web.FileField) or suffix not in data.SUFFIXES:
        return render(request, "roster.html", _context(
            staff, words="", found=[], limit=data.FOUND_MAX,
            error="请选择 .xlsx 或 .csv 格式的花名册文件。"), status=400)
    token = data.keep_upload(staff.person_id, suffix, field.file.read())
    await audit.record(s, at=services(request).clock.now(), action="roster.upload",
                       actor_person_id=staff.person_id, upload=token[:6], via="console")
    return see_other(f"/console/roster/upload/{token}")


@staff_page(DOOR, FLOW)
async def preview_page(request: web.Request, s: AsyncSession,
                       staff: Staff) -> web.StreamResponse:
    """GET /console/roster/upload/{token}: what the import would do; nothing written yet."""
    path = data.upload_of(staff.person_id, request.match_info["token"])
    if not _manages(staff) or path is None:
        return await _refused(request, s, staff)
    try:
        parsed = await asyncio.to_thread(read_roster, path)
    except RosterFileError as exc:
        return render(request, "roster_preview.html", _context(
            staff, token=None, preview=None, fatal=reason_zh(str(exc))))
    preview = await preview_parsed(s, parsed)
    errors = [(row, reason_zh(why)) for row, why in preview.errors]
    return render(request, "roster_preview.html", _context(
        staff, token=request.match_info["token"], preview=preview, errors=errors, fatal=None))


@staff_page(DOOR, FLOW)
async def confirm(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """POST /console/roster/upload/{token}/confirm: import the good rows, as the CLI does."""
    path = data.upload_of(staff.person_id, request.match_info["token"])
    if not _manages(staff) or path is None:
        return await _refused(request, s, staff)
    try:
        parsed = await asyncio.to_thread(read_roster, path)
    except RosterFileError as exc:
        return render(request, "roster_preview.html", _context(
            staff, token=None, preview=None, fatal=reason_zh(str(exc))))
    report = await import_parsed(s, parsed, now=services(request).clock.now(),
                                 file_name="工作台上传", actor_person_id=staff.person_id,
                                 wecom=services(request).settings.wecom_enabled)
    path.unlink(missing_ok=True)
    return render(request, "roster_done.html", _context(staff, report=report))


async def _person(request: web.Request, s: AsyncSession, staff: Staff) -> Person | None:
    """The person in the URL, if this reader's roster reads reach them (an audited read)."""
    raw = request.match_info["person_id"]
    number = int(raw) if raw.isdecimal() and len(raw) < 10 else 0
    person = await s.get(Person, number) if number else None
    target = Target.about(person) if person is not None else None
    allowed = await authorize(s, staff.actor, Kind.roster, Action.read, target,
                              now=services(request).clock.now(), audit_as="roster.read",
                              person=number or raw[:16], via="console")
    return person if allowed else None


@staff_page(DOOR, FLOW)
async def person_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/roster/people/{id}: who they are, their accounts and (centre) actions."""
    if not _wide(staff):
        return await _refused(request, s, staff)
    person = await _person(request, s, staff)
    if person is None or person.id is None:
        return not_found(request, staff)
    [me] = await data.describe(s, [person])
    return render(request, "roster_person.html", _context(
        staff, person=person, me=me, accounts=await data.accounts(s, person.id), code=None,
        done=DONE.get(request.query.get("done", ""))))


@staff_page(DOOR, FLOW)
async def person_action(request: web.Request, s: AsyncSession,
                        staff: Staff) -> web.StreamResponse:
    """POST /console/roster/people/{id}/{code|unbind|leave}: the centre's changes, audited."""
    action = request.match_info["action"]
    if not _manages(staff) or action not in ("code", "unbind", "leave"):
        return await _refused(request, s, staff)
    person = await _person(request, s, staff)
    if person is None or person.id is None:
        return not_found(request, staff)
    now = services(request).clock.now()
    if action == "leave":
        await leave_person(s, person, now=now, actor_person_id=staff.person_id)
        return see_other(f"/console/roster/people/{person.id}?done=left")
    if action == "unbind":
        code = (await unbind_person(s, person, now=now,
                                    actor_person_id=staff.person_id)).new_code
        said = "已解除绑定，旧激活码作废。新的激活码只显示这一次，请转交本人："
    else:
        code = await new_code(s, person, now=now, actor_person_id=staff.person_id)
        said = "新的激活码只显示这一次，旧码已作废。请转交本人："
    [me] = await data.describe(s, [person])
    return render(request, "roster_person.html", _context(
        staff, person=person, me=me,
        accounts=await data.accounts(s, person.id), code=code, said=said, done=None))
