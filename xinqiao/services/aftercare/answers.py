"""A roommate's or classmate's aftercare answers: kept encrypted, and a concern item when poor.

"有点难受" or "很难受", or wanting to talk, raises a low-urgency item (report kind
``aftercare``) for the college's psychological counsellor and the centre in working hours; a
good answer raises nothing. The item is about the person who answered, never the case student:
nothing in it points back to who the round was for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.escalation.engine import Escalations, Subject
from xinqiao.services.forms.loader import load_form
from xinqiao.services.forms.schema import FormSpec
from xinqiao.storage.aftercare import (
    AftercareInvitation,
    AftercareRound,
    CaseIncident,
    InviteStatus,
    RoundStatus,
)
from xinqiao.storage.cases import Case, CaseStatus
from xinqiao.storage.reports import Report, Severity
from xinqiao.vocabulary import Rostered

FORM_PATH = Path(__file__).resolve().parents[2] / "data" / "care" / "aftercare.toml"
POOR_MOODS = frozenset({"low", "bad"})
# Reviewed in working hours by whoever counsels the student; it never climbs past the centre.
REVIEW_CHAIN = [{"notify": ["college_counsellor", "centre"], "ack_within_s": 8 * 3600.0,
                 "working_hours": True}]
SHOWN_TO = ["college_counsellor", "centre_staff", "centre_lead"]


@cache
def checkin_form() -> FormSpec:
    """The three questions as a form."""
    return load_form(FORM_PATH)


@dataclass(frozen=True)
class Outcome:
    """What the answers led to: whether they want to talk and the item raised (if any)."""

    wants_talk: bool
    item_id: int | None


def _labels(spec: FormSpec, key: str, value: Any) -> str:
    field = spec.field(key)
    names = {o.value: o.label for o in field.options} if field is not None else {}
    values = value if isinstance(value, list) else [value] if value else []
    return "、".join(names.get(str(v), str(v)) for v in values)


async def record_answers(s: AsyncSession, escalations: Escalations, invite: AftercareInvitation,
                         person: Rostered, answers: dict[str, Any], now: datetime) -> Outcome:
    """Store the answers on the invitation; a poor answer or a wish to talk opens an item."""
    spec = checkin_form()
    wants_talk = answers.get("talk") == "yes"
    invite.status, invite.answered_at = InviteStatus.answered, now
    invite.answers, invite.wants_talk = dict(answers), wants_talk
    s.add(invite)
    if answers.get("mood") not in POOR_MOODS and not wants_talk:
        return Outcome(False, None)
    shown = {k: _labels(spec, k, answers.get(k)) for k in ("mood", "feelings", "talk")}
    report = Report(kind="aftercare", reporter_person_id=person.id,
                    subject_person_id=person.id, college_id=person.college_id,
                    klass_id=person.klass_id, dorm_id=person.dorm_id, severity=Severity.routine,
                    factors=[], answers={"source": "aftercare", "shown_to": SHOWN_TO,
                                         **{k: v for k, v in shown.items() if v}},
                    created_at=now)
    s.add(report)
    await s.flush()
    esc = await escalations.open(
        s, Subject(key=f"aftercare:{invite.id}", kind="aftercare", title="关怀回访跟进",
                   college_id=person.college_id, klass_id=person.klass_id,
                   report_id=report.id, person_id=person.id),
        Severity.routine, now, chain=REVIEW_CHAIN)
    invite.concern, invite.escalation_id = True, esc.id
    s.add(invite)
    return Outcome(wants_talk, esc.id)


async def purge(s: AsyncSession, answers_before: datetime, cases_before: datetime,
                batch: int) -> int:
    """Retention: answers of rounds closed before ``answers_before`` (the counts stay), and
    incident notes of cases closed before ``cases_before`` (with the case's own notes)."""
    old_rounds = select(AftercareRound.id).where(
        col(AftercareRound.status) == RoundStatus.closed.value,
        col(AftercareRound.closed_at) < answers_before)
    ids = [i for i in (await s.exec(select(AftercareInvitation.id).where(
        col(AftercareInvitation.round_id).in_(old_rounds),
        col(AftercareInvitation.answers).is_not(None)).limit(batch))).all() if i is not None]
    if ids:  # synchronize_session=False: the ORM cannot evaluate encrypted columns
        await s.exec(update(AftercareInvitation).where(col(AftercareInvitation.id).in_(ids))
                     .values(answers=None).execution_options(synchronize_session=False))
    old_cases = select(Case.id).where(col(Case.status) == CaseStatus.closed.value,
                                      col(Case.closed_at) < cases_before)
    notes = [i for i in (await s.exec(select(CaseIncident.id).where(
        col(CaseIncident.case_id).in_(old_cases), col(CaseIncident.note).is_not(None))
        .limit(batch))).all() if i is not None]
    if notes:
        await s.exec(update(CaseIncident).where(col(CaseIncident.id).in_(notes))
                     .values(note=None).execution_options(synchronize_session=False))
    return len(ids) + len(notes)
