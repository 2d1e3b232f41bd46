"""What a responder may know about an item: the student, each report and its reporter, the
missed appointment, the student's other open items — read under the access matrix.

A student's phone and a reporter's identity come only to a role that may read that person's
roster record, and each look at a reporter is audited like any other read of someone else's
record. ``handlers/item_view.py`` words the result (chat's 待办 DN and the console's item page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.access import Action, Actor, Kind, Target, escalation_target, may
from xinqiao.services.directory import unit_names
from xinqiao.services.item_links import open_items_about, reports_of
from xinqiao.storage.booking import Appointment
from xinqiao.storage.models import Person
from xinqiao.storage.reports import Escalation, Report

OTHERS_SHOWN = 5  # the student's other open items listed under one


@dataclass(frozen=True)
class Who:
    """A person as an item shows them: name, class and dorm, phone where the reader may."""

    name: str
    klass: str | None
    dorm: str | None
    phone: str | None


@dataclass(frozen=True)
class ItemReport:
    """One report of an item, with its reporter as this reader may know them."""

    id: int | None
    kind: str
    created_at: datetime
    factors: tuple[str, ...]
    answers: dict[str, Any]
    subject_name: str | None
    by_reader: bool  # the reader filed it
    reporter: Who | None  # shown only to those who may read the reporter's record


@dataclass(frozen=True)
class MissedVisit:
    """The appointment a no-show item is about (its private note stays out)."""

    start: datetime
    counsellor: str | None


@dataclass(frozen=True)
class ItemDetail:
    """Everything a view of one item shows beyond the item row itself."""

    acker: str | None  # who acknowledged it ("?" when that person is gone)
    student: Who | None
    reports: tuple[ItemReport, ...]
    missed: MissedVisit | None
    others: tuple[tuple[int, str], ...]  # (id, kind) of the student's other open items


async def _who(s: AsyncSession, person: Person, with_phone: bool) -> Who:
    _, klass, dorm = await unit_names(s, person)
    return Who(person.name, klass, dorm, person.phone if with_phone else None)


async def _report(s: AsyncSession, actor: Actor, esc: Escalation, report: Report,
                  now: datetime) -> ItemReport:
    reporter = (await s.get(Person, report.reporter_person_id)
                if report.reporter_person_id else None)
    by_reader, shown = False, None
    if reporter is not None and reporter.id != esc.subject_person_id:
        # Only those who may know who the reporter is (and so contact them) see the name.
        if reporter.id == actor.person_id:
            by_reader = True
        elif may(actor, Kind.roster, Action.read, Target.about(reporter)):
            shown = await _who(s, reporter, with_phone=True)
            await audit.record(s, at=now, action="roster.read", actor_person_id=actor.person_id,
                               subject_person_id=reporter.id, kind=Kind.roster.value,
                               escalation=esc.id, part="reporter")
    return ItemReport(report.id, report.kind, report.created_at, tuple(report.factors),
                      dict(report.answers), report.subject_name, by_reader, shown)


async def _missed(s: AsyncSession, esc: Escalation) -> MissedVisit | None:
    appt = await s.get(Appointment, int(esc.subject.split(":", 1)[1]))
    if appt is None:
        return None
    counsellor = await s.get(Person, appt.counsellor_id)
    return MissedVisit(appt.start_at, counsellor.name if counsellor else None)


async def item_detail(s: AsyncSession, actor: Actor, esc: Escalation,
                      now: datetime) -> ItemDetail:
    """The item's people, reports and links as ``actor`` may see them (reporter reads audited)."""
    acker = None
    if esc.acked_by is not None:
        who = await s.get(Person, esc.acked_by)
        acker = who.name if who else "?"
    reports = await reports_of(s, esc)
    student = (await s.get(Person, esc.subject_person_id)
               if esc.subject_person_id is not None else None)
    shown = None
    if student is not None:
        phone = may(actor, Kind.roster, Action.read, Target.about(student))
        shown = await _who(s, student, with_phone=phone)
    missed = await _missed(s, esc) if esc.kind == "noshow" else None
    items = tuple([await _report(s, actor, esc, r, now) for r in reports])
    others: list[tuple[int, str]] = []
    if student is not None and student.id is not None:
        # Only items this person was sent: a linked crisis item must not tell an advisor the tier.
        others = [(e.id, e.kind) for e in await open_items_about(s, student.id)
                  if e.id is not None and e.id != esc.id
                  and may(actor, Kind.report, Action.read, await escalation_target(s, e))]
    return ItemDetail(acker, shown, items, missed, tuple(others[:OTHERS_SHOWN]))
