"""待办 pages: the list with its cards and filters, bulk 收到, and one item with its actions.

Acknowledging and resolving call the escalation engine's own ``acknowledge`` and ``resolve``
(what chat's 收到 and 已处理 call), so an ack here stops the climb and tells the item's other
recipients in chat, and an ack in chat shows here.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_request import FileField
from multidict import MultiDictProxy
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.cases import offer_for
from xinqiao.bot.console_web.gate import (
    Staff,
    base_context,
    not_found,
    render,
    see_other,
    services,
    staff_page,
)
from xinqiao.bot.console_web.item_data import item_view
from xinqiao.bot.console_web.queue_data import CARDS, Filters, countdown, queue
from xinqiao.services.access import Action, Kind, authorize, escalation_target, may
from xinqiao.services.escalation.checkin_items import MISSING
from xinqiao.services.escalation.outcome import Handled
from xinqiao.services.escalation.text import SEVERITY_LABELS
from xinqiao.services.item_notes import NOTE_LIMIT, add_note
from xinqiao.services.report_types import report_types
from xinqiao.storage.reports import Escalation, EscalationStatus

READ = (Kind.report, Action.read)
CHANGE = (Kind.report, Action.change)
BULK_LIMIT = 100
# What became of 收到 / 结案 on the item page, in the console's words (chat has its own).
HANDLED: dict[str, str] = {
    Handled.acked: "已确认收到，升级已停止。",
    Handled.resolved: "已结案，谢谢你的跟进。",
    Handled.not_found: "没有完成：你现在不能处理这项事项。",
    Handled.already_acked: "没有完成：这项事项已经有人确认过了，请看下面的记录。",
    Handled.already_resolved: "没有完成：这项事项已经结案，请看下面的记录。",
    Handled.checkin_closes_itself: (
        "没有完成：这是晴雨表未提交的提醒，班级提交晴雨表后会自动结案，不需要确认或结案。"
        "本周无异常的话，在聊天中回复“晴雨表”，一键提交“本周无异常”即可。"),
    Handled.reason_required: "请写明未提交晴雨表的原因再结案，例如：本周班会取消，下周补交。",
}
DONE = {**HANDLED, "noted": "备注已保存。", "empty": "请写下处理情况再提交。"}
# Why some ticked items were not acknowledged, one short phrase each for the queue's notice.
NOT_ACKED: dict[str, str] = {
    Handled.not_found: "你不能处理",
    Handled.already_acked: "已有人确认",
    Handled.already_resolved: "已经结案",
    Handled.checkin_closes_itself: "晴雨表未提交的提醒在班级提交晴雨表后自动结案",
}


@staff_page(READ, "queue")
async def queue_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/: the cards and the list (only the list for htmx's partial updates)."""
    filters = Filters.parse(request.query)
    found = await queue(s, staff.actor, filters, services(request).clock.now())
    kinds = report_types().titles()
    context = base_context(staff, cards=found.cards, rows=found.rows, queue=found,
                           filters=filters, kinds=kinds,
                           severities=SEVERITY_LABELS, card_labels=dict(CARDS),
                           acked=request.query.get("acked"), refused=request.query.get("refused"),
                           not_acked=[NOT_ACKED[w] for w in request.query.getall("why", [])
                                      if w in NOT_ACKED])
    # Only the list when htmx swaps the list (filters, cards, the minute's refresh); the whole
    # page when it swaps more (a new college brings its classes into the filters).
    partial = (request.headers.get("HX-Request") == "true"
               and request.headers.get("HX-Target") == "queue"
               and not request.headers.get("HX-History-Restore-Request"))
    return render(request, "queue_list.html" if partial else "queue.html", context)


@staff_page(CHANGE, "ack")
async def bulk_ack(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """POST /console/items/ack: 收到 for every ticked item (each checked like chat's 收到)."""
    form = await request.post()
    ids = sorted({int(v) for v in form.getall("id", []) if isinstance(v, str) and v.isdecimal()})
    now = services(request).clock.now()
    escalations = services(request).network.escalations
    done, why = 0, set()
    for esc_id in ids[:BULK_LIMIT]:
        outcome = await escalations.acknowledge(s, esc_id, staff.person, now)
        done += outcome.done
        if not outcome.done:
            why.add(outcome.kind.value)
    reasons = "".join(f"&why={w}" for w in sorted(why))
    return see_other(f"/console/?acked={done}&refused={len(ids) - done}{reasons}")


async def _readable(request: web.Request, s: AsyncSession, staff: Staff,
                    action: Action) -> Escalation | None:
    """The item in the URL if the person may read it (audited as chat's 待办 DN is)."""
    raw = request.match_info["item_id"]
    number = int(raw) if raw.isdecimal() and len(raw) < 10 else 0
    esc = await s.get(Escalation, number) if number else None
    target = await escalation_target(s, esc) if esc is not None else None
    allowed = await authorize(s, staff.actor, Kind.report, action, target,
                              now=services(request).clock.now(), escalation=number or raw[:16],
                              audit_allowed=action is Action.read, via="console")
    return esc if allowed else None


@staff_page(READ, "queue")
async def item_page(request: web.Request, s: AsyncSession, staff: Staff) -> web.StreamResponse:
    """GET /console/items/{id}: details, timeline, actions and linked items; else 404."""
    esc = await _readable(request, s, staff, Action.read)
    if esc is None:
        return not_found(request, staff)
    now = services(request).clock.now()
    view = await item_view(s, staff.actor, esc, now)
    may_change = may(staff.actor, Kind.report, Action.change, await escalation_target(s, esc))
    return render(request, "item.html", base_context(
        staff, view=view, done=DONE.get(request.query.get("done", "")),
        countdown=countdown(esc, now),
        may_ack=may_change and esc.status == EscalationStatus.open,
        may_resolve=may_change and esc.status != EscalationStatus.resolved,
        note_limit=NOTE_LIMIT, case_offer=await offer_for(s, staff, esc)))


def _note(form: MultiDictProxy[str | bytes | bytearray | FileField]) -> str:
    value = form.get("note")
    return value.strip()[:NOTE_LIMIT] if isinstance(value, str) else ""


@staff_page(CHANGE, "ack")
async def item_action(request: web.Request, s: AsyncSession,
                      staff: Staff) -> web.StreamResponse:
    """POST /console/items/{id}/{ack|resolve|note}: through the services chat uses."""
    esc = await _readable(request, s, staff, Action.change)
    if esc is None or esc.id is None:
        return not_found(request, staff)
    action = request.match_info["action"]
    note = _note(await request.post())
    now = services(request).clock.now()
    escalations = services(request).network.escalations
    if action == "ack":
        outcome = await escalations.acknowledge(s, esc.id, staff.person, now)
        if outcome.done and note:
            await add_note(s, esc.id, staff.person, note, now)
        code = outcome.kind.value
    elif action == "resolve":
        # A missing check-in goes to the engine even without a note, so the person hears why
        # it cannot close that way (a reason is required, or only a check-in closes it).
        if not note and esc.kind != MISSING:
            code = "empty"
        else:
            code = (await escalations.resolve(s, esc.id, staff.person, note, now)).kind.value
    elif action == "note":
        code = (await add_note(s, esc.id, staff.person, note, now)).value
    else:
        return not_found(request, staff)
    return see_other(f"/console/items/{esc.id}?done={code}")
