"""个案 pages: the crisis cases in my scope, one case, what can be done to it, and opening one
from an item.

Every action goes through the services chat's 个案 and 结案审批 use (``services/cases/``:
``lifecycle.py``, ``signoff.py``), so a close requested here reaches the centre in chat and a
sign-off given in chat shows here. Each read and each change is checked and audited by
``services/access.py`` as chat's are (``case.read``, ``case.plan`` ...), marked ``via`` console.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.case_data import case_view, visible
from xinqiao.bot.console_web.case_outcome import outcome_for
from xinqiao.bot.console_web.gate import (
    Staff,
    base_context,
    not_found,
    render,
    see_other,
    services,
    staff_page,
)
from xinqiao.services.access import (
    Action,
    Kind,
    authorize,
    case_target,
    escalation_target,
    may,
    refuse_flow,
    student_target,
)
from xinqiao.services.cases import lifecycle as cases
from xinqiao.services.cases import signoff as case_signoff
from xinqiao.storage.cases import Case, CaseStatus
from xinqiao.storage.models import Tier
from xinqiao.storage.reports import Escalation

READ = (Kind.case, Action.read)
CHANGE = (Kind.case, Action.change)
TEXT_LIMIT = 2000
TEXTS = frozenset({"plan", "followup", "note"})
DONE = {"lead": "你已成为此个案的负责人。", "plan": "计划已保存。", "followup": "随访已记录。",
        "note": "备注已保存。", "cadence": "随访频率已更新。", "closed": "个案已结案。",
        "requested": "已提交结案申请，等待心理中心老师确认；确认前个案照常跟进。",
        "approved": "已同意，个案已结案。", "declined": "已记录：不同意结案，个案继续跟进。",
        "empty": "请先写下内容再提交。", "opened": "已建立个案，你已加入团队。",
        "nothing": "没有等待确认的结案申请。"}
AUDIT_AS = {"lead": "case.lead", "plan": "case.plan", "followup": "case.followup",
            "note": "case.note", "cadence": "case.cadence", "approve": "case.close.approved",
            "decline": "case.close.declined"}


@dataclass(frozen=True)
class CaseOffer:
    """What the item page offers about cases: the student's open case, or a button to open one."""

    case_id: int | None
    may_open: bool


async def offer_for(s: AsyncSession, staff: Staff, esc: Escalation) -> CaseOffer:
    """For the item page: a link to the student's open case if I may read it, else whether I
    may open one (a college or the centre reaching the student)."""
    if esc.subject_person_id is None:
        return CaseOffer(None, False)
    existing = await cases.open_case_of(s, esc.subject_person_id)
    if existing is not None:
        readable = may(staff.actor, Kind.case, Action.read, await case_target(s, existing))
        return CaseOffer(existing.id if readable else None, False)
    target = await student_target(s, esc.subject_person_id)
    return CaseOffer(None, may(staff.actor, Kind.case, Action.change, target))


async def _case(request: web.Request, s: AsyncSession, staff: Staff, action: Action,
                audit_as: str) -> Case | None:
    """The case in the URL if the person may read (or change) it; else None (audited)."""
    raw = request.match_info["case_id"]
    number = int(raw) if raw.isdecimal() and len(raw) < 10 else 0
    case = await s.get(Case, number) if number else None
    target = await case_target(s, case) if case is not None else None
    allowed = await authorize(s, staff.actor, Kind.case, action, target,
                              now=services(request).clock.now(), audit_as=audit_as,
                              case=number or raw[:16], via="console")
    return case if allowed else None


@staff_page(READ, "cases")
async def list_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/cases: open cases (overdue follow-ups first), then recently closed ones."""
    rows = await visible(s, staff.actor, services(request).clock.now())
    return render(request, "cases.html", base_context(
        staff, rows=rows, open_count=sum(r.open for r in rows),
        overdue_count=sum(r.overdue for r in rows)))


@staff_page(READ, "cases")
async def case_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/cases/{id}: the whole case (audited as ``case.read``), else 404."""
    case = await _case(request, s, staff, Action.read, "case.read")
    if case is None:
        return not_found(request, staff)
    now = services(request).clock.now()
    view = await case_view(s, case, now)
    outcome = await outcome_for(s, staff.actor, case, now)
    is_open = case.status == CaseStatus.open
    may_change = is_open and may(staff.actor, Kind.case, Action.change, await case_target(s, case))
    return render(request, "case.html", base_context(
        staff, view=view, outcome=outcome, done=DONE.get(request.query.get("done", "")),
        may_change=may_change,
        is_open=is_open, needs_signoff=case_signoff.needs_signoff(staff.roles),
        may_decide=view.signoff is not None and not case_signoff.needs_signoff(staff.roles),
        is_lead=case.lead_person_id == staff.person_id, tiers=case_signoff.TIER_LABELS,
        text_limit=TEXT_LIMIT))


def _text(form: MultiDictProxy[str | bytes | bytearray | FileField], name: str) -> str:
    value = form.get(name)
    return value.strip()[:TEXT_LIMIT] if isinstance(value, str) else ""


@staff_page(CHANGE, "cases")
async def case_action(request: web.Request, s: AsyncSession,
                      staff: Staff) -> web.StreamResponse:
    """POST /console/cases/{id}/{action}: lead, plan, followup, note, cadence, close, approve,
    decline — each checked and audited under chat's name for it."""
    action = request.match_info["action"]
    form = await request.post()
    now = services(request).clock.now()
    signoff = case_signoff.needs_signoff(staff.roles)
    if action == "close":
        audit_as = "case.close.request" if signoff else "case.close"
    elif action in AUDIT_AS:
        audit_as = AUDIT_AS[action]
    else:
        return not_found(request, staff)
    text = _text(form, "text")
    tier_raw = _text(form, "tier")
    if (action in TEXTS or action == "close") and not text:
        return see_other(f"/console/cases/{request.match_info['case_id']}?done=empty")
    if action in ("approve", "decline") and signoff:  # only the centre signs off
        await refuse_flow(s, now=now, actor_person_id=staff.person_id,
                          flow=case_signoff.FLOW, identity_id=None, asked=request.path)
        return not_found(request, staff)
    case = await _case(request, s, staff, Action.change, audit_as)
    if case is None or case.id is None or case.status != CaseStatus.open:
        return not_found(request, staff)
    code = action
    if action == "lead":
        await cases.take_lead(s, case, staff.person, now)
    elif action in TEXTS:
        await cases.note(s, case, staff.person, action, text, now)
    elif action == "cadence":
        case.followup_days = 7 if _text(form, "every") == "7" else 1
        await cases.note(s, case, staff.person, "cadence",
                         f"随访频率改为每{'天' if case.followup_days == 1 else '周'}", now)
    elif action == "close":
        tier = Tier(tier_raw) if tier_raw in {t.value for t in Tier} else Tier.key
        if signoff:
            await case_signoff.request_close(s, case, staff.person, text, tier, now)
            code = "requested"
        else:
            await cases.close(s, case, staff.person, text, tier, now)
            code = "closed"
    else:  # approve / decline: the centre's sign-off, as chat's 同意结案 / 不同意结案
        waiting = await case_signoff.pending(s, case.id)
        if not waiting:
            code = "nothing"
        else:
            await case_signoff.decide(s, case.id, staff.person, action == "approve", now)
            code = "approved" if action == "approve" else "declined"
    return see_other(f"/console/cases/{case.id}?done={code}")


@staff_page(CHANGE, "cases")
async def open_from_item(request: web.Request, s: AsyncSession,
                         staff: Staff) -> web.StreamResponse:
    """POST /console/cases/from-item/{item_id}: open a case for the item's student."""
    raw = request.match_info["item_id"]
    number = int(raw) if raw.isdecimal() and len(raw) < 10 else 0
    now = services(request).clock.now()
    esc = await s.get(Escalation, number) if number else None
    # Both doors: the item must be mine to read, and its student mine to open a case for.
    seen = esc is not None and may(staff.actor, Kind.report, Action.read,
                                   await escalation_target(s, esc))
    target = (await student_target(s, esc.subject_person_id)
              if seen and esc is not None and esc.subject_person_id is not None else None)
    if not await authorize(s, staff.actor, Kind.case, Action.change, target, now=now,
                           audit_as="case.open", escalation=number or raw[:16], via="console"):
        return not_found(request, staff)
    assert esc is not None
    case = await cases.open_from_item(s, esc, staff.person, now)
    if case is None:
        return not_found(request, staff)
    return see_other(f"/console/cases/{case.id}?done=opened")
