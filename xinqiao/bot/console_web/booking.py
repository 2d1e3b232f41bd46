"""预约 pages: a counsellor's week and today's list, the centre's utilisation and waitlist, and
one appointment with 已到访 / 爽约 / 备注.

The door is chat's 今日预约 door (who may read appointment notes: centre staff and the centre
lead). Marking goes through ``services/booking/counsellor_actions.mark``, the very call chat's
desk makes, so a no-show marked here frees the slot, tells the student and counts in chat. A
note is the appointment's encrypted note; reading it is ``read_note``, audited like chat's
查看备注. A centre staff member acts on their own appointments only; the centre lead on all.
"""

from __future__ import annotations

from datetime import date, timedelta

from aiohttp import web
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.booking_data import (
    STATES,
    acts_for,
    counsellors,
    utilisation,
    waitlist,
    week_calendar,
    week_start,
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
from xinqiao.clock import local
from xinqiao.handlers.booking.texts import REASONS, STATUS_LABELS, mark_note
from xinqiao.services import audit
from xinqiao.services.access import Action, Kind
from xinqiao.services.booking import desk
from xinqiao.services.booking.counsellor_actions import Marked, mark, noshows, read_note
from xinqiao.services.booking.stats import week_of
from xinqiao.storage.booking import AppointmentStatus

DOOR = (Kind.appointment_note, Action.read)
S = AppointmentStatus
MARKS = {"attended": S.attended, "no_show": S.no_show}
NOTE_SAVED = "备注已保存（加密保存，仅中心可见）。"


def add_routes(r: web.UrlDispatcher) -> None:
    """The 预约 routes."""
    r.add_get("/booking", booking_page)
    r.add_get(r"/booking/{appt_id}", appointment_page)
    r.add_post(r"/booking/{appt_id}/{action}", appointment_action)


def _number(raw: object) -> int | None:
    return int(raw) if isinstance(raw, str) and raw.isdecimal() and len(raw) < 10 else None


def _monday(raw: str | None, today: date) -> date:
    try:
        return week_of(date.fromisoformat(raw)) if raw else week_of(today)
    except ValueError:
        return week_of(today)


@staff_page(DOOR, "booking_staff")
async def booking_page(request: web.Request, s: AsyncSession, staff: Staff
                       ) -> web.StreamResponse:
    """GET /console/booking[?c=ID&week=DATE]: the picked counsellor's week and today's list,
    every counsellor's utilisation and the waitlist."""
    svc = services(request)
    now = svc.clock.now()
    policy = svc.network.policy
    people = await counsellors(s)
    ids = [pid for pid, _ in people]
    picked = _number(request.query.get("c"))
    if picked is None or picked not in ids:
        picked = staff.person_id if staff.person_id in ids else (ids[0] if ids else None)
    monday = _monday(request.query.get("week"), local(now).date())
    days = await week_calendar(s, policy, staff.actor, picked, monday, now) if picked else []
    today = None
    if picked is not None and acts_for(staff.actor, picked):
        today = await desk.desk_day(s, policy, picked, week_start(local(now).date()), 1, now)
    return render(request, "booking.html", base_context(
        staff, people=people, picked=picked, monday=monday, days=days, today=today,
        states=STATES, labels=STATUS_LABELS, now=now, threshold=policy.booking.noshow_threshold,
        prev=(monday - timedelta(days=7)).isoformat(),
        next=(monday + timedelta(days=7)).isoformat(),
        usage=await utilisation(s, policy, monday), waiting=await waitlist(s, now)))


@staff_page(DOOR, "booking_staff")
async def appointment_page(request: web.Request, s: AsyncSession, staff: Staff
                           ) -> web.StreamResponse:
    """GET /console/booking/{id}: one appointment, its note (an audited read) and actions."""
    svc = services(request)
    now = svc.clock.now()
    appt = await desk.appointment_to_handle(s, staff.actor,
                                            _number(request.match_info["appt_id"]), now)
    if appt is None:
        return not_found(request, staff)
    # The page shows who the student is and their no-shows: a read of their record.
    await audit.record(s, at=now, action="booking.view", actor_person_id=staff.person_id,
                       subject_person_id=appt.student_id, appointment=appt.id, via="console")
    student = await desk.student_card(s, appt)
    note = await read_note(s, appt, staff.actor, now) if appt.note else None
    done = request.query.get("done", "")
    flash = NOTE_SAVED if done == "note" else (
        mark_note(Marked(done)) if done in ("attended", "no_show", "already", "not_started")
        else None)
    live = appt.status in (S.booked, S.started)
    return render(request, "appointment.html", base_context(
        staff, appt=appt, student=student, note=note, flash=flash,
        status=STATUS_LABELS[S(appt.status)], reason=REASONS.get(appt.reason or "", "未填写"),
        noshows=await noshows(s, svc.network.policy, appt.student_id, now),
        window=svc.network.policy.booking.noshow_window_days,
        markable=live and appt.start_at <= now, upcoming=live and appt.start_at > now))


@staff_page(DOOR, "booking_staff")
async def appointment_action(request: web.Request, s: AsyncSession, staff: Staff
                             ) -> web.StreamResponse:
    """POST /console/booking/{id}/{mark|note}: 已到访 / 爽约 (with an optional note) or a note."""
    svc = services(request)
    now = svc.clock.now()
    appt = await desk.appointment_to_handle(s, staff.actor,
                                            _number(request.match_info["appt_id"]), now)
    action = request.match_info["action"]
    form = await request.post()
    text = str(form.get("note", "")).strip()[:2000]
    if appt is None or appt.id is None or action not in ("mark", "note"):
        return not_found(request, staff)
    back = f"/console/booking/{appt.id}"
    if action == "note":
        if text:
            appt.note = text  # an encrypted column: ciphertext at rest, as chat's notes
            s.add(appt)
            await audit.record(s, at=now, action="booking.note.write",
                               actor_person_id=staff.person_id,
                               subject_person_id=appt.student_id, appointment=appt.id)
        return see_other(f"{back}?done=note" if text else back)
    outcome = MARKS.get(str(form.get("outcome", "")))
    if outcome is None:
        return not_found(request, staff)
    marked = await mark(s, svc.network.policy, appt, outcome, staff.person, now,
                        note=text or None)
    return see_other(f"{back}?done={marked.code}")

