"""关注名单 as data: students by tier in my scope with their latest signals.

Red is the crisis tier, orange the key tier, yellow a routine student with a signal in the last
30 days. Each signal is counted only where the access matrix lets the reader see its record:
items about the student that were sent to them (reports, check-in mentions, no-show alerts),
screening bands for the centre, appointments for their counsellor and the centre lead. The list
shows no answers and no words, only what happened and how often.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import (
    Action,
    Actor,
    Kind,
    Target,
    classes_in_reach,
    colleges_in_reach,
    may,
)
from xinqiao.services.instruments import load_instruments
from xinqiao.storage.booking import Appointment, AppointmentStatus
from xinqiao.storage.cases import Case, CaseMember, CaseStatus
from xinqiao.storage.models import Klass, Person, Tier
from xinqiao.storage.reports import Escalation, EscalationRecipient
from xinqiao.storage.screening import ScreeningResult, TierChange

WINDOW = timedelta(days=30)
PAGE = 50  # students a page: the colour cards count them all
COLOURS = (("crisis", "红色 · 危机关注"), ("key", "橙色 · 重点关注"),
           ("yellow", "黄色 · 近期信号"))
CHECKIN = "checkin"
# A band's columns only: whole results would decrypt every answer sheet for nothing.
BAND_COLUMNS = (ScreeningResult.person_id, ScreeningResult.instrument, ScreeningResult.band,
                ScreeningResult.positive)


@lru_cache(maxsize=4)
def _instruments(content_dir: Path | None) -> dict[str, tuple[str, dict[str, str]]]:
    """Instrument id → (short title, band id → label), loaded once per content directory."""
    return {k: (f.title.split("（")[0], {b.id: b.label for b in f.bands})
            for k, f in load_instruments(content_dir).items()}


def band_text(r: ScreeningResult, content_dir: Path | None) -> str:
    """``PHQ-9：中度（阳性）``: the band, never the answers."""
    return band_label(r.instrument, r.band, r.positive, content_dir)


def band_label(instrument: str, band: str, positive: bool, content_dir: Path | None) -> str:
    """A band's text from its three columns (see :func:`band_text`)."""
    title, bands = _instruments(content_dir).get(instrument, (instrument.upper(), {}))
    return f"{title}：{bands.get(band, band)}{'（阳性）' if positive else ''}"


@dataclass(frozen=True)
class WatchFilters:
    """The colour and class asked for (both optional)."""

    colour: str = ""
    klass: int | None = None
    page: int = 1

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> WatchFilters:
        """From the query string; unknown values are ignored."""
        colour = query.get("colour", "")
        raw, page = query.get("klass", ""), query.get("page", "")
        return cls(colour if colour in dict(COLOURS) else "",
                   int(raw) if raw.isdecimal() and len(raw) < 10 else None,
                   max(1, int(page)) if page.isdecimal() and len(page) < 6 else 1)

    def query(self, page: int) -> str:
        """The query string of another page of this list."""
        parts = [f"colour={self.colour}" if self.colour else "",
                 f"klass={self.klass}" if self.klass else "", f"page={page}"]
        return "?" + "&".join(p for p in parts if p)


@dataclass
class Signals:
    """What the reader may see about one student in the window."""

    reports: int = 0
    mentions: int = 0
    noshows: int = 0
    band: str = ""

    def any(self) -> bool:
        """Whether there is anything to show."""
        return bool(self.reports or self.mentions or self.noshows or self.band)


@dataclass(frozen=True)
class WatchRow:
    """One student as the list shows them."""

    id: int
    name: str
    number: str
    klass: str
    klass_id: int | None
    colour: str
    since: datetime | None
    review: bool
    signals: Signals
    case_id: int | None


def scoped(actor: Actor, query: object) -> object:
    """Narrow a Person query to the reader's attention scope (chat's 关注名单 asks the same)."""
    reach = colleges_in_reach(actor, Kind.attention, Action.read)
    if reach is None:
        return query
    classes = classes_in_reach(actor, Kind.attention, Action.read)
    return query.where(col(Person.college_id).in_(reach)  # type: ignore[attr-defined]
                       | col(Person.klass_id).in_(classes))


def _sent_since(actor: Actor, since: datetime) -> tuple[ColumnElement[bool], ...]:
    """Items about a student, sent to the reader, opened in the window."""
    sent = select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == actor.person_id)
    return (col(Escalation.subject_person_id).is_not(None), col(Escalation.id).in_(sent),
            col(Escalation.opened_at) >= since)


async def _signals(s: AsyncSession, actor: Actor, since: datetime,
                   content_dir: Path | None) -> dict[int, Signals]:
    """Per student: the window's signals the reader may see (bounded by the window)."""
    found: dict[int, Signals] = {}
    # Counted in SQL: one row per student and kind, not one per item.
    for subject, kind, n in (await (await s.connection()).execute(
            sa_select(col(Escalation.subject_person_id), col(Escalation.kind), func.count())
            .where(*_sent_since(actor, since))
            .group_by(col(Escalation.subject_person_id), col(Escalation.kind)))).all():
        sig = found.setdefault(subject or 0, Signals())
        if kind == CHECKIN:
            sig.mentions += n
        else:
            sig.reports += n
    # Two columns: whole appointments would decrypt every no-show's note for nothing.
    for student, counsellor in await s.exec(select(
            Appointment.student_id, Appointment.counsellor_id).where(
            Appointment.status == AppointmentStatus.no_show, col(Appointment.start_at) >= since)):
        if may(actor, Kind.appointment_note, Action.read,
               Target(person_id=student, counsellor_id=counsellor)):
            found.setdefault(student, Signals()).noshows += 1
    if may(actor, Kind.screening, Action.read, Target()):  # a school-wide grant (the centre)
        # Positives only: a screening round writes thousands of results a month; the latest
        # band of everyone listed is looked up afterwards.
        for r in await s.exec(select(*BAND_COLUMNS).where(
                col(ScreeningResult.created_at) >= since, col(ScreeningResult.positive).is_(True))
                .order_by(col(ScreeningResult.id))):
            pid, instrument, band, positive = r
            found.setdefault(pid, Signals()).band = band_label(instrument, band, positive,
                                                               content_dir)
    return found


@dataclass(frozen=True)
class WatchPage:
    """The colour counts, one page of rows, the classes to filter by, and where we are."""

    counts: dict[str, int]
    rows: list[WatchRow]
    klasses: list[tuple[int, str]]
    page: int
    pages: int
    total: int  # students listed under the filters, on every page


async def watch_list(s: AsyncSession, actor: Actor, filters: WatchFilters, now: datetime,
                     content_dir: Path | None) -> WatchPage:
    """Counts per colour, the page of rows asked for, and the classes to filter by.

    Everyone listed is counted from a few columns; tier changes, cases and screening bands
    are looked up only for the page shown.
    """
    signals = await _signals(s, actor, now - WINDOW, content_dir)
    columns = sa_select(col(Person.id), col(Person.tier), col(Person.klass_id),
                        col(Person.external_id), col(Klass.name)).outerjoin(
        Klass, col(Klass.id) == col(Person.klass_id))
    # Narrow queries rather than one with an OR: the tiered students (by the tier index),
    # then those with a signal by primary key: an item's subjects through a subquery (a
    # thousand bound ids cost PostgreSQL more than the lookups), the few others by id. An OR
    # of these made both backends scan every student.
    active = col(Person.active).is_(True)
    subjects = sa_select(col(Escalation.subject_person_id)).where(
        *_sent_since(actor, now - WINDOW))
    others = [p for p, x in signals.items() if x.any() and not (x.reports or x.mentions)]
    queries = [columns.where(active, col(Person.tier).in_([Tier.key.value, Tier.crisis.value])),
               columns.where(active, col(Person.id).in_(subjects))]
    if others:
        queries.append(columns.where(active, col(Person.id).in_(others)))
    conn = await s.connection()  # five columns: beyond sqlmodel's typed select
    found = {row[0]: tuple(row) for query in queries
             for row in (await conn.execute(scoped(actor, query))).all()}  # type: ignore[call-overload]
    people = [(pid, Tier(tier).value if tier != Tier.routine else "yellow", kid, number or "")
              for pid, tier, kid, number, _ in found.values() if pid is not None]
    klasses = {kid: name for _, _, kid, _, name in found.values() if kid is not None}
    counts = {key: sum(colour == key for _, colour, _, _ in people) for key, _ in COLOURS}
    order = {key: n for n, (key, _) in enumerate(COLOURS)}
    shown = sorted((p for p in people if (not filters.colour or p[1] == filters.colour)
                    and (filters.klass is None or p[2] == filters.klass)),
                   key=lambda p: (order[p[1]], klasses.get(p[2] or 0, ""), p[3], p[0]))
    pages = max(1, -(-len(shown) // PAGE))
    page = min(filters.page, pages)
    ids = [p[0] for p in shown[(page - 1) * PAGE:page * PAGE]]
    # The columns the row and the access checks use: whole rows would decrypt phones.
    loaded = {r[0]: Student(*r) for r in (await conn.execute(sa_select(
        col(Person.id), col(Person.name), col(Person.external_id), col(Person.tier),
        col(Person.college_id), col(Person.klass_id), col(Person.dorm_id)).where(
        col(Person.id).in_(ids)))).all()} if ids else {}
    rows = await _rows(s, actor, [loaded[i] for i in ids if i in loaded], klasses, signals,
                       content_dir)
    options = sorted(((k, n) for k, n in klasses.items()), key=lambda kv: (kv[1], kv[0]))
    return WatchPage(counts, rows, options, page, pages, len(shown))


class Student(NamedTuple):
    """The columns of a listed student the page shows and the matrix asks about."""

    id: int | None
    name: str
    external_id: str | None
    tier: str
    college_id: int | None
    klass_id: int | None
    dorm_id: int | None

    def target(self, **more: Any) -> Target:
        """A record about this student (as ``Target.about`` of the whole row)."""
        return Target(person_id=self.id, college_id=self.college_id, klass_id=self.klass_id,
                      dorm_id=self.dorm_id, **more)


async def _rows(s: AsyncSession, actor: Actor, people: list[Student], klasses: dict[int, str],
                signals: dict[int, Signals], content_dir: Path | None) -> list[WatchRow]:
    """The page's rows: each student's colour, since when, review mark, signals and case."""
    ids = [p.id for p in people]
    since: dict[int, tuple[datetime, bool]] = {}  # the latest change: when, whether to review
    if ids:
        # Not whole tier changes: their reasons are encrypted and not shown here.
        for pid, at, review in await s.exec(select(
                TierChange.person_id, TierChange.at, TierChange.pending_review).where(
                col(TierChange.person_id).in_(ids)).order_by(col(TierChange.id))):
            since[pid] = (at, review)
    cases = await _open_cases(s, actor, people)
    if ids and may(actor, Kind.screening, Action.read, Target()):  # the latest band, any date
        for r in await s.exec(select(*BAND_COLUMNS).where(
                col(ScreeningResult.person_id).in_(ids)).order_by(col(ScreeningResult.id))):
            pid, instrument, band, positive = r
            signals.setdefault(pid, Signals()).band = band_label(instrument, band, positive,
                                                                 content_dir)
    rows = []
    for p in people:
        colour = Tier(p.tier).value if p.tier != Tier.routine else "yellow"
        change = since.get(p.id or 0)
        rows.append(WatchRow(p.id or 0, p.name, p.external_id or "",
                             klasses.get(p.klass_id or 0, ""), p.klass_id, colour,
                             change[0] if change and colour != "yellow" else None,
                             bool(change and change[1] and colour != "yellow"),
                             signals.get(p.id or 0, Signals()), cases.get(p.id or 0)))
    return rows


async def _open_cases(s: AsyncSession, actor: Actor, people: list[Student]) -> dict[int, int]:
    """Student id → their open case, where the reader may read it."""
    by_id = {p.id: p for p in people}
    if not by_id:
        return {}
    # Each open case with its team, in one statement and without the encrypted plan and
    # decision a whole case row would decrypt.
    cases: dict[int, int] = {}
    team: dict[int, set[int]] = {}
    for case_id, student, member in await s.exec(
            select(Case.id, Case.person_id, CaseMember.person_id)
            .outerjoin(CaseMember, col(CaseMember.case_id) == col(Case.id))
            .where(Case.status == CaseStatus.open, col(Case.person_id).in_(by_id))):
        assert case_id is not None
        cases[case_id] = student
        if member is not None:
            team.setdefault(case_id, set()).add(member)
    return {student: case_id for case_id, student in cases.items()
            if may(actor, Kind.case, Action.read, by_id[student].target(
                team=frozenset(team.get(case_id, ()))))}
