"""事件结局: a case decision recording that a crisis case's student attempted suicide or died.

Recorded by whoever may change the case (its team, its college, the centre), while it is open
or after it closed; the note is encrypted like case notes. An attempt or a death is what an
aftercare round follows (services/aftercare/rounds.py): the centre is offered one at once.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.aftercare.wording import words
from xinqiao.services.cases.view import CaseLike
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.refs import case_ref
from xinqiao.storage.aftercare import CaseIncident, IncidentKind
from xinqiao.storage.cases import CaseNote
from xinqiao.vocabulary import Rostered

INCIDENT_LABELS = {IncidentKind.attempt.value: "自杀未遂", IncidentKind.death.value: "死亡"}


async def incident_of(s: AsyncSession, case_id: int | None) -> CaseIncident | None:
    """The case's latest recorded incident, if any."""
    return (await s.exec(select(CaseIncident).where(CaseIncident.case_id == case_id)
                         .order_by(col(CaseIncident.id).desc()))).first()


async def record_incident(s: AsyncSession, case: CaseLike, by: Rostered, kind: str, on: date,
                          note: str | None, now: datetime) -> CaseIncident:
    """Record the incident in the case's timeline and offer the centre an aftercare round."""
    assert case.id is not None and by.id is not None
    row = CaseIncident(case_id=case.id, kind=kind, occurred_on=on,
                       note=(note or "")[:2000] or None, recorded_by=by.id, recorded_at=now)
    s.add(row)
    label = INCIDENT_LABELS[kind]
    text = f"事件结局：{label}（{on:%m-%d}）" + (f"：{note}" if note else "")
    s.add(CaseNote(case_id=case.id, at=now, author_person_id=by.id, kind="incident",
                   text=text[:2000]))
    await s.flush()
    centre = await level_recipients(s, ["centre", "centre_lead"], None, None, at=now)
    await push_to_people(s, centre, key=f"incident:{row.id}:offer",
                         reply=words().offer_push(case_ref(case.id), label), now=now,
                         kind="alert", priority=Priority.alert)
    return row
