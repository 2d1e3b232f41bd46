"""测评 pages: screening rounds — the list, a round's completion and band counts in my scope,
and for the centre a new round and 提醒未完成 (through the services chat's rounds use)."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from pathlib import Path

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.gate import (
    Staff,
    base_context,
    not_found,
    render,
    see_other,
    services,
    staff_page,
)
from xinqiao.bot.console_web.reach import ATTENTION, CENTRE, classes_of, colleges_of, reach_of
from xinqiao.bot.console_web.round_data import bands, dates, progress, rounds_for, status_label
from xinqiao.bot.console_web.round_data import visible as round_visible
from xinqiao.clock import local
from xinqiao.services.access import holders
from xinqiao.services.forms.schema import FormSpec
from xinqiao.services.instruments import load_instruments
from xinqiao.services.round_desk import (
    MAX_DAYS,
    RoundProblem,
    RoundRequest,
    create_round,
    last_reminded,
    remind_now,
    unfinished,
)
from xinqiao.storage.campaigns import CampaignStatus, ScreeningCampaign
from xinqiao.storage.models import College

# Why a round cannot be created, in the form's words.
PROBLEMS = {RoundProblem.no_name: "请填写批次名称。",
            RoundProblem.opens_in_the_past: "开始日期不能早于今天。",
            RoundProblem.closes_before_it_opens: "结束日期要晚于开始日期。",
            RoundProblem.too_long: f"一个批次最长开放 {MAX_DAYS} 天。"}


@functools.cache
def _instruments(content_dir: Path | None) -> dict[str, FormSpec]:
    return load_instruments(content_dir)


def _centre(staff: Staff) -> bool:
    return bool(staff.roles & holders(*CENTRE))


def _number(raw: object) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdecimal() and len(raw) < 10 else None


def _day(raw: object) -> date | None:
    try:
        return date.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


async def _page(request: web.Request, s: AsyncSession, staff: Staff, *, problem: str | None = None,
                status: int = 200) -> web.Response:
    reach = reach_of(staff.actor)
    units = await classes_of(s, reach)
    rounds = await rounds_for(s, reach, units)
    colleges = await colleges_of(s, reach) if _centre(staff) else []
    today = local(services(request).clock.now()).date()
    return render(request, "rounds.html", base_context(
        staff, rounds=rounds, status_label=status_label, dates=dates, centre=_centre(staff),
        colleges=colleges, today=today.isoformat(), problem=problem,
        created=request.query.get("created")), status=status)


@staff_page(ATTENTION, "rounds")
async def rounds_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/rounds: the rounds I may follow; for the centre, a form for a new one."""
    return await _page(request, s, staff)


@staff_page(CENTRE, "rounds")
async def create(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """POST /console/rounds: a new round (the centre only; others get 404 at the door)."""
    form = await request.post()
    svc = services(request)
    now = svc.clock.now()
    college_id = _number(form.get("college"))
    if college_id is not None and await s.get(College, college_id) is None:
        return not_found(request, staff)
    year = _number(form.get("year"))
    opens, closes = _day(form.get("opens")), _day(form.get("closes"))
    name = str(form.get("name", "")).strip()
    if opens is None or closes is None:
        return await _page(request, s, staff, problem="请选择开始和结束日期。", status=400)
    wanted = RoundRequest(name, college_id, year, opens, closes)
    if (problem := wanted.problem(local(now).date())) is not None:
        return await _page(request, s, staff, problem=PROBLEMS[problem], status=400)
    campaign = await create_round(s, svc.network.policy, wanted, person_id=staff.person_id,
                                  now=now)
    return see_other(f"/console/rounds/{campaign.id}?done=created")


async def _round(request: web.Request, s: AsyncSession, staff: Staff
                 ) -> ScreeningCampaign | None:
    """The round in the URL if it targets anyone in my reach."""
    number = _number(request.match_info["round_id"])
    campaign = await s.get(ScreeningCampaign, number) if number is not None else None
    if campaign is None:
        return None
    reach = reach_of(staff.actor)
    return campaign if round_visible(campaign, reach, await classes_of(s, reach)) else None


DONE = {"created": "测评批次已创建，到开始时间会自动邀请学生。",
        "reminded": "已开始提醒未完成的同学，几分钟内发完。",
        "too_soon": "刚刚提醒过，{when} 之后才能再次提醒，以免打扰同学。",
        "not_open": "这一批测评不在进行中，不能提醒。"}


@staff_page(ATTENTION, "rounds")
async def round_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/rounds/{id}: completion with progress bars, band counts, 提醒未完成."""
    campaign = await _round(request, s, staff)
    if campaign is None or campaign.id is None:
        return not_found(request, staff)
    svc = services(request)
    now = svc.clock.now()
    reach = reach_of(staff.actor)
    units = await classes_of(s, reach)
    total, rows = await progress(s, campaign.id, reach, units)
    instruments = _instruments(svc.settings.content_dir)
    found = await bands(s, campaign, reach, await colleges_of(s, reach), instruments)
    centre = _centre(staff)
    last = await last_reminded(s, campaign.id, now) if centre else None
    gap = timedelta(hours=svc.network.policy.screening.remind_gap_hours)
    again = f"{local(last + gap):%m-%d %H:%M}" if last is not None else ""
    done = DONE.get(request.query.get("done", ""), "").format(when=again)
    return render(request, "round.html", base_context(
        staff, campaign=campaign, status=status_label(campaign), dates=dates(campaign),
        total=total, rows=rows, per_college=reach.school, bands=found, centre=centre,
        may_remind=centre and campaign.status == CampaignStatus.open,
        unfinished=await unfinished(s, campaign.id) if centre else 0,
        last=local(last) if last is not None else None, done=done))


@staff_page(CENTRE, "rounds")
async def remind(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """POST /console/rounds/{id}/remind: remind the unfinished now, unless reminded lately."""
    campaign = await _round(request, s, staff)
    if campaign is None or campaign.id is None:
        return not_found(request, staff)
    svc = services(request)
    wait = await remind_now(s, svc.network.policy, campaign, person_id=staff.person_id,
                            now=svc.clock.now())
    if wait is None:
        return see_other(f"/console/rounds/{campaign.id}?done=reminded")
    if campaign.status != CampaignStatus.open:
        return see_other(f"/console/rounds/{campaign.id}?done=not_open")
    return see_other(f"/console/rounds/{campaign.id}?done=too_soon")
