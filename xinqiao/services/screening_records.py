"""Screening results kept and read, and the attention list, as frozen rows (design.md §4).

Who may read what is the access matrix's to say (services/access.py): a staff read of one
student's results goes through ``authorize`` and the attention list is audited, refusals too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.access import (
    Action,
    Actor,
    Kind,
    Target,
    authorize,
    classes_in_reach,
    colleges_in_reach,
)
from xinqiao.services.directory import unit_names
from xinqiao.services.forms.schema import FormSpec
from xinqiao.services.instruments import Result
from xinqiao.storage.models import Person, Tier
from xinqiao.storage.screening import ScreeningResult, TierChange

ATTENTION_SHOWN = 30  # the chat list names this many; the count covers all


@dataclass(frozen=True)
class ResultRow:
    """One completed instrument as stored: when, which, score, band, flags and the answers."""

    created_at: datetime
    instrument: str
    total: int
    band: str
    positive: bool
    acute: bool
    answers: dict[str, Any]


@dataclass(frozen=True)
class StudentResults:
    """A student's latest results, for centre staff."""

    name: str
    external_id: str
    tier: Tier
    results: tuple[ResultRow, ...]


@dataclass(frozen=True)
class AttentionRow:
    """A student above routine: class, tier and the latest tier change."""

    name: str
    klass: str | None
    tier: Tier
    since: datetime | None
    pending_review: bool


async def store_result(s: AsyncSession, person_id: int, inst: FormSpec, result: Result,
                       answers: dict[str, Any], now: datetime) -> ScreeningResult:
    """Keep a completed questionnaire: its answers, score, band, tier and flags."""
    row = ScreeningResult(
        person_id=person_id, instrument=inst.id, instrument_version=inst.version,
        answers=answers, total=result.total, band=result.band, tier=result.tier,
        positive=result.positive, acute=result.acute, created_at=now)
    s.add(row)
    await s.flush()
    return row


async def _results(s: AsyncSession, person_id: int | None, limit: int) -> tuple[ResultRow, ...]:
    rows = (await s.exec(
        select(ScreeningResult).where(ScreeningResult.person_id == person_id)
        .order_by(col(ScreeningResult.id).desc()).limit(limit))).all()
    return tuple(ResultRow(r.created_at, r.instrument, r.total, r.band, r.positive, r.acute,
                           dict(r.answers)) for r in rows)


async def own_results(s: AsyncSession, person_id: int | None) -> tuple[ResultRow, ...]:
    """A student's own five latest results, newest first."""
    return await _results(s, person_id, 5)


async def student_results(
    s: AsyncSession, actor: Actor, external_id: str, now: datetime,
) -> StudentResults | None:
    """A student's ten latest results if the actor may read them (audited), else None."""
    student = (await s.exec(select(Person).where(Person.external_id == external_id))).first()
    target = Target.about(student) if student is not None else None
    allowed = await authorize(s, actor, Kind.screening, Action.read, target, now=now)
    if not allowed or student is None:
        return None
    return StudentResults(student.name, student.external_id, Tier(student.tier),
                          await _results(s, student.id, 10))


async def attention_list(
    s: AsyncSession, actor: Actor, person_id: int | None, now: datetime,
) -> tuple[int, tuple[AttentionRow, ...]]:
    """How many students in the actor's reach are above routine, and the first of them
    (graver tier first) with their latest tier change; the read is audited."""
    query = select(Person).where(col(Person.tier).in_([Tier.key.value, Tier.crisis.value]),
                                 col(Person.active).is_(True))
    reach = colleges_in_reach(actor, Kind.attention, Action.read)
    if reach is not None:
        classes = classes_in_reach(actor, Kind.attention, Action.read)
        query = query.where(col(Person.college_id).in_(reach)
                            | col(Person.klass_id).in_(classes))
    people = (await s.exec(query.order_by(col(Person.tier).desc(),
                                          col(Person.external_id)))).all()
    await audit.record(s, at=now, action="attention.read", actor_person_id=person_id,
                       count=len(people))
    rows: list[AttentionRow] = []
    for p in people[:ATTENTION_SHOWN]:
        _, klass, _ = await unit_names(s, p)
        change = (await s.exec(
            select(TierChange).where(TierChange.person_id == p.id)
            .order_by(col(TierChange.id).desc()))).first()
        rows.append(AttentionRow(p.name, klass, Tier(p.tier), change.at if change else None,
                                 bool(change and change.pending_review)))
    return len(people), tuple(rows)
