"""One student's timeline for the 关注名单: everything the reader may see about them, in order.

The page is one read, audited once by the caller (``attention.student``); each line here is
filtered by the access matrix as its own page would be (items sent to the reader, cases in
their scope, screening bands for the centre, appointments for their counsellor and the centre
lead), so the timeline never shows what the reader could not open on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.case_data import tier_text
from xinqiao.bot.console_web.watch_data import CHECKIN, band_text
from xinqiao.handlers.booking.texts import STATUS_LABELS
from xinqiao.services.access import Action, Actor, Kind, Target, may
from xinqiao.services.refs import case_ref, item_ref
from xinqiao.services.report_types import report_types
from xinqiao.storage.booking import Appointment, AppointmentStatus
from xinqiao.storage.cases import Case, CaseMember
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Escalation, EscalationRecipient, EscalationStatus
from xinqiao.storage.screening import ScreeningResult, TierChange

ITEM_STATUS = {EscalationStatus.open: "未确认", EscalationStatus.acked: "已确认",
               EscalationStatus.resolved: "已处理"}


@dataclass(frozen=True)
class Line:
    """One line of the timeline; ``href`` is the page it opens (empty: none yet)."""

    at: datetime
    kind: str  # a CSS class: screening, report, mention, booking, noshow, item, case, tier
    text: str
    href: str = ""


async def _names(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {p.id or 0: p.name for p in await s.exec(select(Person).where(col(Person.id).in_(ids)))}


async def _items(s: AsyncSession, actor: Actor, student: Person) -> list[Line]:
    escs = list(await s.exec(select(Escalation).where(
        Escalation.subject_person_id == student.id).order_by(col(Escalation.id))))
    sent = set((await s.exec(select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == actor.person_id,
        col(EscalationRecipient.escalation_id).in_([e.id for e in escs])))).all())
    lines = []
    for e in escs:
        mine = frozenset({actor.person_id}) if e.id in sent else frozenset()
        if not may(actor, Kind.report, Action.read, Target.about(student, recipients=mine)):
            continue
        title = "晴雨表中提到该生" if e.kind == CHECKIN else report_types().title(e.kind, "事项")
        lines.append(Line(e.opened_at, "mention" if e.kind == CHECKIN else "item",
                          f"{item_ref(e.id)} {title} · {ITEM_STATUS[EscalationStatus(e.status)]}",
                          f"/console/items/{e.id}"))
    return lines


async def _cases(s: AsyncSession, actor: Actor, student: Person) -> list[Line]:
    lines = []
    for c in await s.exec(select(Case).where(Case.person_id == student.id)
                          .order_by(col(Case.id))):
        team = frozenset((await s.exec(select(CaseMember.person_id).where(
            CaseMember.case_id == c.id))).all())
        if not may(actor, Kind.case, Action.read, Target.about(student, team=team)):
            continue
        href = f"/console/cases/{c.id}"
        lines.append(Line(c.opened_at, "case", f"建立个案 {case_ref(c.id)}", href))
        if c.closed_at is not None:
            lines.append(Line(c.closed_at, "case", f"个案 {case_ref(c.id)} 结案", href))
    return lines


async def _bookings(s: AsyncSession, actor: Actor, student: Person) -> list[Line]:
    rows = [a for a in await s.exec(select(Appointment).where(
        Appointment.student_id == student.id).order_by(col(Appointment.start_at)))
        if may(actor, Kind.appointment_note, Action.read,
               Target.about(student, counsellor_id=a.counsellor_id))]
    names = await _names(s, {a.counsellor_id for a in rows})
    return [Line(a.start_at, "noshow" if a.status == AppointmentStatus.no_show else "booking",
                 f"咨询预约 · {names.get(a.counsellor_id, '?')} · "
                 f"{STATUS_LABELS[AppointmentStatus(a.status)]}") for a in rows]


async def timeline(s: AsyncSession, actor: Actor, student: Person,
                   content_dir: Path | None) -> list[Line]:
    """Newest first: screenings, items (reports, check-in mentions, alerts), bookings and
    no-shows, cases and tier changes — each as far as the reader's grants reach."""
    lines = await _items(s, actor, student) + await _cases(s, actor, student)
    lines += await _bookings(s, actor, student)
    if may(actor, Kind.screening, Action.read, Target.about(student)):
        lines += [Line(r.created_at, "screening", f"测评 · {band_text(r, content_dir)}")
                  for r in await s.exec(select(ScreeningResult).where(
                      ScreeningResult.person_id == student.id).order_by(col(ScreeningResult.id)))]
    changes = list(await s.exec(select(TierChange).where(TierChange.person_id == student.id)
                                .order_by(col(TierChange.id))))
    names = await _names(s, {t.decided_by for t in changes if t.decided_by})
    lines += [Line(t.at, "tier", tier_text(t, names)) for t in changes]
    return sorted(lines, key=lambda line: line.at, reverse=True)
