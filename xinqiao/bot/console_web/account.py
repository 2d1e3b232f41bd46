"""Signing in with a chat link, signing out, and a person's own sessions.

The link's GET only shows a button: link previews and scanners that fetch URLs do not use it
up, and the POST that does is a same-site navigation, so the SameSite=Strict cookie it sets is
sent on the very next page (a cookie set by a redirect from a cross-site tap would not be).
"""

from __future__ import annotations

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.gate import (
    COOKIE,
    Staff,
    base_context,
    forbidden,
    not_found,
    render,
    same_origin,
    secure,
    see_other,
    services,
    staff_page,
)
from xinqiao.services import audit, console_auth
from xinqiao.storage.console import ConsoleSession

MAX_AGE = int(console_auth.ABSOLUTE.total_seconds())


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /console/login?token=…: a button to enter, or why the link no longer works."""
    svc = services(request)
    token = request.query.get("token", "")
    async with svc.db.session() as s:
        usable = await console_auth.usable_link(s, token, svc.clock.now())
    if usable is None:
        return render(request, "link_refused.html", {}, status=401)
    return render(request, "login.html", {"token": token})


async def login(request: web.Request) -> web.StreamResponse:
    """POST /console/login: use the link once, start a session, go to 待办."""
    if not same_origin(request):
        return forbidden(request, "origin")
    svc = services(request)
    form = await request.post()
    token = form.get("token")
    async with svc.db.session() as s:
        opened = await console_auth.redeem(
            s, token if isinstance(token, str) else "", svc.clock.now(),
            request.headers.get("User-Agent", ""))
    if opened is None:
        return render(request, "link_refused.html", {}, status=401)
    response = see_other("/console/")
    response.set_cookie(COOKIE, opened.cookie, path="/console/", httponly=True,
                        samesite="Strict", secure=secure(request), max_age=MAX_AGE)
    return response


@staff_page(None, "console")
async def logout(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """POST /console/logout: end this session and forget the cookie."""
    now = services(request).clock.now()
    await console_auth.end(s, staff.session, now, "logout")
    await audit.record(s, at=now, action="console.logout", actor_person_id=staff.person_id,
                       console_session=staff.session.id)
    response = render(request, "logged_out.html", {})
    response.del_cookie(COOKIE, path="/console/")
    return response


@staff_page(None, "console")
async def sessions(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/account: my live sessions, each revocable."""
    live = await console_auth.live_sessions(s, staff.person_id, services(request).clock.now())
    return render(request, "account.html", base_context(staff, sessions=live,
                                                        ended=request.query.get("ended")))


@staff_page(None, "console")
async def end_session(request: web.Request, s: AsyncSession,
                      staff: Staff) -> web.StreamResponse:
    """POST /console/account/sessions/{id}/end: revoke one of my sessions (another's is 404)."""
    raw = request.match_info["session_id"]
    target = await s.get(ConsoleSession, int(raw)) if raw.isdecimal() else None
    if target is None or target.person_id != staff.person_id:
        return not_found(request, staff)
    now = services(request).clock.now()
    await console_auth.end(s, target, now, "revoked")
    await audit.record(s, at=now, action="console.revoke", actor_person_id=staff.person_id,
                       console_session=target.id)
    if target.id == staff.session.id:
        response = render(request, "logged_out.html", {})
        response.del_cookie(COOKIE, path="/console/")
        return response
    return see_other("/console/account?ended=1")
