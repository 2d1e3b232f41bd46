"""Practice sessions (练习): informants and committee members try the real forms on themselves.

A report or check-in finished in a practice session is never filed: no report, item, timer,
check-in or tier is written, so no statistic, 月报, completion count or 晴雨表 can ever see it.
What is kept is a :class:`PracticeRun` (who practised which kind, when — never the answers),
which the centre reads to see who has been trained. A session ends by 退出练习, by a switch to
a real report, or ``IDLE`` after its last use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.escalation.engine import Escalations
from xinqiao.services.escalation.text import level_alert, level_label
from xinqiao.services.refs import item_ref
from xinqiao.storage.care import PracticeRun, PracticeSession
from xinqiao.storage.models import College, Person, RoleAssignment
from xinqiao.storage.reports import Escalation, Severity

IDLE = timedelta(minutes=60)
SAMPLE_REF = "D练习"  # the item number an alert in practice shows instead of a real one
PRACTISING_ROLES = ("committee", "informant")


def practising(roles: frozenset[str]) -> bool:
    """Whether these roles are trained with practice sessions (informants, committee members)."""
    return any(r in roles for r in PRACTISING_ROLES)


async def active_session(s: AsyncSession, person_id: int | None,
                         now: datetime) -> PracticeSession | None:
    """The person's practice session, if one is running (one that ran out is closed here)."""
    if person_id is None:
        return None
    row = (await s.exec(select(PracticeSession).where(
        PracticeSession.person_id == person_id, col(PracticeSession.ended_at).is_(None))
        .order_by(col(PracticeSession.id).desc()))).first()
    if row is None:
        return None
    if row.expires_at <= now:
        row.ended_at, row.end_reason = row.expires_at, "timeout"
        s.add(row)
        return None
    return row


async def session_of(s: AsyncSession, session_id: int) -> PracticeSession | None:
    """A practice session by its id, running or ended."""
    return await s.get(PracticeSession, session_id)


async def start_session(s: AsyncSession, person_id: int, now: datetime) -> PracticeSession:
    """Start a session (or give the running one another ``IDLE``)."""
    row = await active_session(s, person_id, now)
    if row is None:
        row = PracticeSession(person_id=person_id, started_at=now, expires_at=now + IDLE)
    row.expires_at = now + IDLE
    s.add(row)
    await s.flush()
    return row


async def end_session(s: AsyncSession, person_id: int, now: datetime, reason: str) -> bool:
    """End the person's running session; False when none was running."""
    row = await active_session(s, person_id, now)
    if row is None:
        return False
    row.ended_at, row.end_reason = now, reason
    s.add(row)
    return True


async def record_run(s: AsyncSession, session: PracticeSession, kind: str, now: datetime, *,
                     crisis_word: bool = False) -> None:
    """Keep that this kind was practised (never the answers); the session stays open longer."""
    assert session.id is not None
    s.add(PracticeRun(session_id=session.id, person_id=session.person_id, kind=kind, at=now,
                      crisis_word=crisis_word))
    session.expires_at = now + IDLE
    s.add(session)


def alert_preview(escalations: Escalations, deadline: datetime, title: str,
                  severity: Severity) -> tuple[str, str]:
    """Who the first alert of a real report would reach, and its words (a sample number)."""
    chain = escalations.chain_for(severity)
    sample = Escalation(id=0, subject="practice", kind="practice", severity=severity,
                        chain=chain, repeats=escalations.repeat_last(severity),
                        due_at=deadline, opened_at=deadline)
    text = level_alert(sample, title, again=False, why=None).text
    return level_label(chain[0]), text.replace(item_ref(0), SAMPLE_REF)


@dataclass(frozen=True)
class Practised:
    """One person's practice, for the centre's list."""

    name: str
    external_id: str
    college: str
    runs: int
    last: datetime


async def practised_since(s: AsyncSession, since: datetime,
                          colleges: frozenset[int] | None = None) -> list[Practised]:
    """Everyone who practised since ``since`` (optionally in these colleges), by college."""
    runs = (await s.exec(select(PracticeRun.person_id, PracticeRun.at).where(
        col(PracticeRun.at) >= since))).all()
    counts: dict[int, list[datetime]] = {}
    for person_id, at in runs:
        counts.setdefault(person_id, []).append(at)
    people = (await s.exec(select(Person).where(col(Person.id).in_(counts)))).all()
    names = {c.id: c.name for c in (await s.exec(select(College))).all()}
    found = [Practised(p.name, p.external_id, names.get(p.college_id, "（未分学院）"),
                       len(counts[p.id]), max(counts[p.id]))
             for p in people if p.id is not None
             and (colleges is None or p.college_id in colleges)]
    return sorted(found, key=lambda r: (r.college, r.external_id))


async def trainees(s: AsyncSession, colleges: frozenset[int] | None = None) -> dict[str, int]:
    """Per college (optionally only these), how many informants and committee members there
    are to train."""
    query = (
        select(College.name, func.count(func.distinct(RoleAssignment.person_id)))
        .join(Person, col(Person.id) == RoleAssignment.person_id)
        .join(College, col(College.id) == Person.college_id)
        .where(col(RoleAssignment.role).in_(PRACTISING_ROLES), col(Person.active).is_(True)))
    if colleges is not None:
        query = query.where(col(Person.college_id).in_(colleges))
    rows = await s.exec(query.group_by(col(College.name)))
    return {name: int(n) for name, n in rows}


async def person_of(s: AsyncSession, person_id: int | None) -> Person | None:
    """The roster person a kept practice crisis was about, if any."""
    return await s.get(Person, person_id) if person_id is not None else None
