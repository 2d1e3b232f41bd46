"""One student, one picture: everything a reader may see about a student, newest first.

The caller authorises the whole read once (``Kind.picture``) and audits it once; each row here
is then filtered by the access matrix as its own record would be (items sent to the reader,
cases in their scope, screening bands for the centre, appointments for their counsellor and the
centre lead, tier changes for whoever sees the tier, the safety plan's presence for whoever may
read it), so the picture never shows what the reader could not open on its own. Rows are facts,
never words: chat and the console word them. Practice (练习) writes no item, report, tier or
appointment, so it can never appear here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Actor, Kind, Target, may
from xinqiao.services.instruments import load_instruments
from xinqiao.services.refs import case_ref, item_ref
from xinqiao.services.report_types import report_types
from xinqiao.services.safety_plan import plan_target
from xinqiao.storage.booking import Appointment, AppointmentStatus
from xinqiao.storage.care import SafetyPlan
from xinqiao.storage.cases import Case, CaseMember
from xinqiao.storage.models import Person, Tier
from xinqiao.storage.reports import Escalation, EscalationRecipient, EscalationStatus, Report
from xinqiao.storage.screening import ScreeningResult, TierChange
from xinqiao.vocabulary import Rostered

CHECKIN = "checkin"


class RowKind(StrEnum):
    """What a timeline row records."""

    screening = "screening"  # a screening result: its band, never the answers
    report = "report"  # an item opened by someone else's report about the student
    mention = "mention"  # an item opened by a check-in (晴雨表) mentioning the student
    item = "item"  # any other item about them (crisis words, concern, no-show alert, ...)
    booking = "booking"  # a counselling appointment
    noshow = "noshow"  # an appointment the student did not come to
    case_opened = "case_opened"
    case_closed = "case_closed"
    tier = "tier"  # a move between attention tiers


@dataclass(frozen=True)
class Row:
    """One dated fact about the student; ``ref`` is how it is opened (D7, G3), if at all."""

    at: datetime
    kind: RowKind
    ref: str = ""
    record_id: int | None = None  # the item's, case's or appointment's id
    title: str = ""  # item: its type's title; screening: the instrument; booking: counsellor
    band: str = ""  # screening: the band's label
    positive: bool = False  # screening: a positive result
    item_status: EscalationStatus | None = None
    booking_status: AppointmentStatus | None = None
    tier_from: Tier | None = None
    tier_to: Tier | None = None
    decided_by: str = ""  # tier: who decided (empty: a rule)
    pending_review: bool = False


@dataclass(frozen=True)
class Picture:
    """The student's rows (newest first) and whether they have a safety plan (None: the
    reader may not know)."""

    student_id: int
    rows: tuple[Row, ...]
    safety_plan: bool | None

    def page(self, number: int, size: int) -> tuple[Row, ...]:
        """Rows of page ``number`` (from 0)."""
        return self.rows[number * size:(number + 1) * size]

    def has_page(self, number: int, size: int) -> bool:
        """Whether page ``number`` (from 0) holds any row."""
        return 0 <= number * size < len(self.rows)


@lru_cache(maxsize=4)
def _instruments(content_dir: Path | None) -> dict[str, tuple[str, dict[str, str]]]:
    """Instrument id → (short title, band id → label), loaded once per content directory."""
    return {k: (f.title.split("（")[0], {b.id: b.label for b in f.bands})
            for k, f in load_instruments(content_dir).items()}


async def _names(s: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {p.id or 0: p.name for p in await s.exec(select(Person).where(col(Person.id).in_(ids)))}


def _item_kind(esc: Escalation, reporters: dict[int, int | None], student_id: int) -> RowKind:
    """A check-in mention; a report someone else filed about the student; else another item
    (their own crisis words, a concern, a no-show alert)."""
    if esc.kind == CHECKIN:
        return RowKind.mention
    reporter = reporters.get(esc.report_id or 0)
    return RowKind.report if reporter is not None and reporter != student_id else RowKind.item


async def _items(s: AsyncSession, actor: Actor, student: Rostered) -> list[Row]:
    escs = list(await s.exec(select(Escalation).where(
        Escalation.subject_person_id == student.id).order_by(col(Escalation.id))))
    sent = set((await s.exec(select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == actor.person_id,
        col(EscalationRecipient.escalation_id).in_([e.id for e in escs])))).all())
    shown = [e for e in escs if may(actor, Kind.report, Action.read, Target.about(
        student, recipients=frozenset({actor.person_id}) if e.id in sent else frozenset()))]
    reporters = {rid or 0: who for rid, who in await s.exec(select(
        Report.id, Report.reporter_person_id).where(
        col(Report.id).in_([e.report_id for e in shown if e.report_id])))}
    return [Row(e.opened_at, _item_kind(e, reporters, student.id or 0), item_ref(e.id), e.id,
                report_types().title(e.kind, "事项"), item_status=EscalationStatus(e.status))
            for e in shown]


async def _cases(s: AsyncSession, actor: Actor, student: Rostered) -> list[Row]:
    rows = []
    for c in await s.exec(select(Case).where(Case.person_id == student.id)
                          .order_by(col(Case.id))):
        team = frozenset((await s.exec(select(CaseMember.person_id).where(
            CaseMember.case_id == c.id))).all())
        if not may(actor, Kind.case, Action.read, Target.about(student, team=team)):
            continue
        rows.append(Row(c.opened_at, RowKind.case_opened, case_ref(c.id), c.id))
        if c.closed_at is not None:
            rows.append(Row(c.closed_at, RowKind.case_closed, case_ref(c.id), c.id))
    return rows


async def _bookings(s: AsyncSession, actor: Actor, student: Rostered) -> list[Row]:
    found = [a for a in await s.exec(select(Appointment).where(
        Appointment.student_id == student.id).order_by(col(Appointment.start_at)))
        if may(actor, Kind.appointment_note, Action.read,
               Target.about(student, counsellor_id=a.counsellor_id))]
    names = await _names(s, {a.counsellor_id for a in found})
    return [Row(a.start_at, RowKind.noshow if a.status == AppointmentStatus.no_show
                else RowKind.booking, record_id=a.id, title=names.get(a.counsellor_id, "?"),
                booking_status=AppointmentStatus(a.status)) for a in found]


async def _screenings(s: AsyncSession, student: Rostered, content_dir: Path | None) -> list[Row]:
    rows = []
    for r in await s.exec(select(ScreeningResult).where(
            ScreeningResult.person_id == student.id).order_by(col(ScreeningResult.id))):
        title, bands = _instruments(content_dir).get(r.instrument, (r.instrument.upper(), {}))
        rows.append(Row(r.created_at, RowKind.screening, record_id=r.id, title=title,
                        band=bands.get(r.band, r.band), positive=r.positive))
    return rows


async def _tiers(s: AsyncSession, student: Rostered) -> list[Row]:
    changes = list(await s.exec(select(TierChange).where(TierChange.person_id == student.id)
                                .order_by(col(TierChange.id))))
    names = await _names(s, {t.decided_by for t in changes if t.decided_by})
    return [Row(t.at, RowKind.tier, tier_from=Tier(t.old), tier_to=Tier(t.new),
                decided_by=names.get(t.decided_by, "?") if t.decided_by else "",
                pending_review=t.pending_review) for t in changes]


async def picture(s: AsyncSession, actor: Actor, student: Rostered,
                  content_dir: Path | None) -> Picture:
    """The student's timeline as far as each of the reader's grants reaches, newest first."""
    assert student.id is not None
    target = await plan_target(s, student.id)
    rows = await _items(s, actor, student) + await _cases(s, actor, student)
    rows += await _bookings(s, actor, student)
    if may(actor, Kind.screening, Action.read, target):
        rows += await _screenings(s, student, content_dir)
    if may(actor, Kind.attention, Action.read, target):
        rows += await _tiers(s, student)
    plan: bool | None = None
    if may(actor, Kind.safety_plan, Action.read, target):
        plan = bool((await s.exec(select(func.count()).select_from(SafetyPlan).where(
            SafetyPlan.person_id == student.id))).one())
    # Stable order for equal times: newest first, then the later-made record first.
    ordered = sorted(rows, key=lambda r: (r.at, r.record_id or 0), reverse=True)
    return Picture(student.id, tuple(ordered), plan)

