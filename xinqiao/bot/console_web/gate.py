"""The console's request plumbing: who is signed in, the door of each page, CSRF, headers.

Every console page is wrapped by :func:`staff_page`: it opens one database transaction, finds
the live session behind the cookie (or answers 401 with how to get a link), checks the CSRF
token and the Origin of every state change, asks ``services/access.py`` whether the person's
roles open the page at all (a refusal is audited and answered 404), and hands the handler the
person as the access matrix sees them. Handlers return responses instead of raising, so what
they audited is committed with the rest of the transaction.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.wiring import Services
from xinqiao.services import console_auth
from xinqiao.services.access import (
    Action,
    Actor,
    Kind,
    actor_of,
    holders,
    refuse_flow,
    wide_holders,
)
from xinqiao.storage.console import ConsoleSession
from xinqiao.storage.models import Person, Role

SERVICES_KEY: web.AppKey[Services] = web.AppKey("console_services", Services)
COOKIE = "xq_console"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
POLL_IDS = frozenset({"queue"})  # ids of elements that refresh themselves (see templates)
# Scripts and styles only from our own files (htmx is vendored), nothing from elsewhere.
# Referrer "same-origin", not "no-referrer": under no-referrer browsers send `Origin: null`
# on our own form posts, and the Origin check below needs the real one.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "Referrer-Policy": "same-origin", "Cache-Control": "no-store",
           "X-Frame-Options": "DENY"}


@dataclass(frozen=True)
class Staff:
    """The signed-in person for one request: their session, roles and access-matrix actor."""

    session: ConsoleSession
    person: Person
    roles: frozenset[Role]
    actor: Actor

    @property
    def person_id(self) -> int:
        """The person's id."""
        assert self.person.id is not None
        return self.person.id


Handler = Callable[[web.Request, AsyncSession, Staff], Awaitable[web.StreamResponse]]


def services(request: web.Request) -> Services:
    """The process's services (database, clock, settings, escalations)."""
    return request.config_dict[SERVICES_KEY]


def render(request: web.Request, template: str, context: dict[str, Any],
           status: int = 200) -> web.Response:
    """A template rendered under the console's headers."""
    return aiohttp_jinja2.render_template(template, request, {"request": request, **context},
                                          status=status)


def unauthorised(request: web.Request, expired: bool = False) -> web.Response:
    """401: how to get a login link (htmx reloads the whole page to show it)."""
    response = render(request, "unauthorised.html", {"expired": expired}, status=401)
    if request.headers.get("HX-Request"):
        response.headers["HX-Refresh"] = "true"
    return response


def not_found(request: web.Request, staff: Staff | None) -> web.Response:
    """404: the same answer whether the record is missing or out of scope."""
    context = base_context(staff) if staff is not None else {"staff": None}
    return render(request, "not_found.html", context, status=404)


def forbidden(request: web.Request, why: str) -> web.Response:
    """403 for a refused state change (no CSRF token, foreign origin)."""
    return render(request, "forbidden.html", {"why": why}, status=403)


def polled(request: web.Request) -> bool:
    """A page refreshing itself (htmx's ``every 60s`` on an element in ``POLL_IDS``)."""
    return request.headers.get("HX-Trigger") in POLL_IDS


def secure(request: web.Request) -> bool:
    """Whether the console is reached over https (directly or behind the proxy)."""
    return request.secure or services(request).settings.public_base_url.startswith("https://")


def same_origin(request: web.Request) -> bool:
    """A state change must come from our own pages: an Origin header (browsers send it on
    POST), when present, names this host or the public address."""
    origin = request.headers.get("Origin")
    if origin is None:
        return request.headers.get("Sec-Fetch-Site") in (None, "same-origin")
    public = urlsplit(services(request).settings.public_base_url)
    return origin in (f"{request.scheme}://{request.host}", f"{public.scheme}://{public.netloc}")


async def _csrf_ok(request: web.Request, session: ConsoleSession) -> bool:
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.post()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    return sent is not None and hmac.compare_digest(sent.encode(), session.csrf.encode())


@dataclass(frozen=True)
class NavItem:
    """One entry of the console's navigation, shown to holders of its door."""

    label: str
    path: str
    door: tuple[Kind, Action]
    wide: bool = False  # only for grants reaching a whole college or the school

    def visible_to(self, roles: frozenset[Role]) -> bool:
        """Whether these roles open the page."""
        return bool(roles & (wide_holders(*self.door) if self.wide else holders(*self.door)))


# Later pages (个案, 关注名单, 测评 ...) add their entry here and their routes in routes.py.
NAV: list[NavItem] = [NavItem("待办", "/console/", (Kind.report, Action.read))]
NAV += [NavItem("个案", "/console/cases", (Kind.case, Action.read)),
        NavItem("关注名单", "/console/watch", (Kind.attention, Action.read))]
NAV += [NavItem("测评", "/console/rounds", (Kind.attention, Action.read)),
        NavItem("晴雨表", "/console/checkins", (Kind.attention, Action.read))]
NAV += [NavItem("预约", "/console/booking", (Kind.appointment_note, Action.read))]
NAV += [NavItem("花名册", "/console/roster", (Kind.roster, Action.read), wide=True)]
NAV += [NavItem("报表", "/console/monthly", (Kind.case, Action.read)),
        NavItem("审计", "/console/audit", (Kind.audit_log, Action.read))]


def nav_for(staff: Staff | None) -> list[NavItem]:
    """The entries this person sees."""
    return [n for n in NAV if staff is not None and n.visible_to(staff.roles)]


def staff_page(door: tuple[Kind, Action] | None, flow: str) -> Callable[[Handler], Any]:
    """Wrap a handler: session, CSRF on state changes, the page's door, one transaction.

    ``door`` is the (kind, action) a role must hold to open the page at all (None: any staff
    member, e.g. their own sessions); ``flow`` names the page in audit entries.
    """
    def wrap(handler: Handler) -> Any:
        async def page(request: web.Request) -> web.StreamResponse:
            svc = services(request)
            now = svc.clock.now()
            async with svc.db.session() as s:
                signed = await console_auth.signed_in(s, request.cookies.get(COOKIE), now,
                                                      touch=not polled(request))
                if signed is None:
                    return unauthorised(request, expired=COOKIE in request.cookies)
                session = signed.session
                if request.method not in ("GET", "HEAD"):
                    if not same_origin(request):
                        return forbidden(request, "origin")
                    if not await _csrf_ok(request, session):
                        return forbidden(request, "csrf")
                roles = signed.roles
                staff = Staff(session, signed.person, roles,
                              actor_of(signed.person, roles, signed.assignments))
                if door is not None and not roles & holders(*door):
                    await refuse_flow(s, now=now, actor_person_id=staff.person_id,
                                      flow=flow, identity_id=None, asked=request.path)
                    return not_found(request, staff)
                return await handler(request, s, staff)
        return page
    return wrap


@web.middleware
async def headers(request: web.Request, handler: Any) -> web.StreamResponse:
    """The console's security headers on every answer, errors included."""
    try:
        response: web.StreamResponse = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(HEADERS)
        raise
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def base_context(staff: Staff, **more: Any) -> dict[str, Any]:
    """What every signed-in page's layout needs: who, the nav, the CSRF token."""
    return {"staff": staff, "nav": nav_for(staff), "csrf": staff.session.csrf, **more}


def see_other(location: str) -> web.Response:
    """303 to a page of ours (after a POST: a reload does not repeat it)."""
    assert location.startswith("/console/")
    return web.Response(status=303, headers={"Location": location})
