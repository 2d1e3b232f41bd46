"""个案 page: the incident outcome (事件结局) and, for the centre, its aftercare round's counts.

The outcome — 自杀未遂 or 死亡 and its date — is part of the case, shown to whoever reads it;
its note is encrypted like the case's notes and shown only to those who may read them (the
case's own read grant, as chat's 个案 shows it in the timeline). The aftercare round is the
matrix's ``aftercare`` kind, the centre's alone: counts per dorm and class, never who, each
look audited as ``aftercare.read`` (``via`` console) as chat's 关怀回访 look is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.handlers.aftercare_texts import UNIT_LABELS
from xinqiao.services.access import Action, Actor, Kind, authorize, may, student_target
from xinqiao.services.aftercare import rounds as aftercare
from xinqiao.services.aftercare.incidents import INCIDENT_LABELS, incident_of
from xinqiao.services.aftercare.rounds import RoundView, Tally, summed
from xinqiao.storage.cases import Case


@dataclass(frozen=True)
class RoundCounts:
    """An aftercare round as the centre reads it on the case page: counts only."""

    open: bool
    started_at: datetime
    closes_at: datetime
    rows: list[tuple[str, Tally]]  # 同宿舍, 同班, 合计


@dataclass(frozen=True)
class CaseOutcome:
    """The case's recorded incident and, for the centre, whether and how its round went."""

    label: str
    occurred_on: date
    note: str | None  # None: no note, or not for this reader
    centre: bool  # the reader may follow aftercare rounds (the counts section is shown)
    round: RoundCounts | None


def _counts(found: RoundView) -> RoundCounts:
    rows = [(UNIT_LABELS[u], t) for u, t in found.counts.items()]
    total = summed(found.counts.values())
    return RoundCounts(found.open, found.started_at, found.closes_at, [*rows, ("合计", total)])


async def outcome_for(s: AsyncSession, actor: Actor, case: Case,
                      now: datetime) -> CaseOutcome | None:
    """The page's outcome section (the case read is already authorised), or None."""
    incident = await incident_of(s, case.id)
    if incident is None:
        return None
    target = await student_target(s, case.person_id)
    notes = target is not None and may(actor, Kind.case, Action.read, target)
    # Only a reader the matrix lets follow rounds is asked (and audited); the college is not
    # refused on every page view, it simply never sees the section.
    centre = target is not None and may(actor, Kind.aftercare, Action.read, target)
    found = None
    if centre and await authorize(s, actor, Kind.aftercare, Action.read, target, now=now,
                                  audit_as="aftercare.read", case=case.id, via="console"):
        found = await aftercare.round_view(s, case.id)
    return CaseOutcome(INCIDENT_LABELS.get(incident.kind, incident.kind), incident.occurred_on,
                       incident.note if notes else None, centre,
                       _counts(found) if found is not None else None)
