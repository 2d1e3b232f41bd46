"""The staff console: a web workbench under ``/console/`` (server-rendered, htmx, no build).

It lives in ``bot/`` beside the article pages and the channels because it is another way into
the process over HTTP: it knows requests, cookies and templates, and calls the same services
(access, escalations, audit) the chat handlers call. Pages are added as modules here, each
with its routes in :func:`add_console_routes` and its entry in ``gate.NAV``.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from xinqiao.bot.console_web import account, cases, checkins, items, rounds, watch
from xinqiao.bot.console_web.audit_log import add_routes as add_audit_routes
from xinqiao.bot.console_web.booking import add_routes as add_booking_routes
from xinqiao.bot.console_web.gate import SERVICES_KEY, headers
from xinqiao.bot.console_web.monthly import add_routes as add_monthly_routes
from xinqiao.bot.console_web.roster import add_routes as add_roster_routes
from xinqiao.bot.wiring import Services
from xinqiao.clock import local

HERE = Path(__file__).parent
# The vendored htmx (static/htmx.min.js, 0BSD); its version goes in the script URL so a new
# file is fetched after an upgrade.
HTMX_VERSION = "2.0.11"


def _when(value: object, pattern: str = "%m-%d %H:%M") -> str:
    return local(value).strftime(pattern) if hasattr(value, "tzinfo") else ""  # type: ignore[arg-type]


def _options(choices: list[tuple[int, str]], selected: int | None) -> Markup:
    """``<option>`` elements of a select, built in one go: the centre's class filter has a
    thousand of them, and a template loop spent a quarter of 关注名单's time on it."""
    return Markup("".join(  # noqa: S704 (every name escaped here, ids are numbers)
        f'<option value="{int(i)}"{" selected" if i == selected else ""}>{escape(n)}</option>'
        for i, n in choices))


def console_app(services: Services) -> web.Application:
    """The console as a sub-application (its own middleware, templates and static files)."""
    app = web.Application(middlewares=[headers])
    app[SERVICES_KEY] = services
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                               autoescape=True, trim_blocks=True, lstrip_blocks=True,
                               undefined=jinja2.StrictUndefined)
    env.filters["when"] = _when
    env.filters["options"] = _options
    env.globals["htmx_version"] = HTMX_VERSION
    r = app.router
    r.add_get("/", items.queue_page)
    r.add_post("/items/ack", items.bulk_ack)
    r.add_get(r"/items/{item_id}", items.item_page)
    r.add_post(r"/items/{item_id}/{action}", items.item_action)
    r.add_get("/cases", cases.list_page)
    r.add_get(r"/cases/{case_id}", cases.case_page)
    r.add_post(r"/cases/from-item/{item_id}", cases.open_from_item)
    r.add_post(r"/cases/{case_id}/{action}", cases.case_action)
    r.add_get("/watch", watch.watch_page)
    r.add_get(r"/students/{person_id}", watch.student_page)
    r.add_get("/rounds", rounds.rounds_page)
    r.add_post("/rounds", rounds.create)
    r.add_get(r"/rounds/{round_id}", rounds.round_page)
    r.add_post(r"/rounds/{round_id}/remind", rounds.remind)
    r.add_get("/checkins", checkins.grid_page)
    r.add_post("/checkins/remind", checkins.remind)
    add_booking_routes(r)
    add_roster_routes(r)
    add_monthly_routes(r)
    add_audit_routes(r)
    r.add_get("/login", account.login_page)
    r.add_post("/login", account.login)
    r.add_post("/logout", account.logout)
    r.add_get("/account", account.sessions)
    r.add_post(r"/account/sessions/{session_id}/end", account.end_session)
    r.add_static("/static/", HERE / "static", append_version=False)
    return app


def add_console_routes(app: web.Application, services: Services) -> None:
    """Mount the console under ``/console/`` (``/console`` redirects there)."""
    async def slash(request: web.Request) -> web.StreamResponse:
        return web.Response(status=308, headers={"Location": "/console/"})

    async def favicon(request: web.Request) -> web.StreamResponse:
        # Browsers ask for /favicon.ico whatever the page names; a 404 there is a console error.
        return web.FileResponse(HERE / "static" / "favicon.svg",
                                headers={"Content-Type": "image/svg+xml"})

    app.router.add_get("/console", slash)
    app.router.add_get("/favicon.ico", favicon)
    app.add_subapp("/console/", console_app(services))
