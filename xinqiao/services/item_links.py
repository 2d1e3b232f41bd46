"""Items about the same student: a new report joins the student's open item, views link them.

One student, one open item: a second report about someone whose item is still open is added
to that item (its recipients hear "又收到一份关于该生的反映") instead of opening a second,
unlinked escalation that would reach the same people without what they already know.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Actor, Kind, authorize, escalation_target
from xinqiao.services.escalation.engine import Escalations, Subject
from xinqiao.services.escalation.text import UNACKNOWLEDGED, status_label, title_of
from xinqiao.services.escalation.wording import words
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import push_to_people
from xinqiao.services.refs import item_ref
from xinqiao.services.severity import RANK, is_urgent
from xinqiao.storage.reports import (
    Escalation,
    EscalationRecipient,
    EscalationReport,
    EscalationStatus,
    EscalationStep,
    Report,
    Severity,
)


async def open_items_about(s: AsyncSession, person_id: int) -> list[Escalation]:
    """The student's items still open or being followed, oldest first."""
    rows = await s.exec(select(Escalation).where(
        Escalation.subject_person_id == person_id,
        Escalation.status != EscalationStatus.resolved,
    ).order_by(col(Escalation.opened_at), col(Escalation.id)))
    return list(rows)


def awaiting_ack(esc: Escalation) -> bool:
    """Whether nobody has acknowledged the item yet (收到 still applies)."""
    return esc.status == EscalationStatus.open


async def readable_item(s: AsyncSession, actor: Actor, mine: list[Escalation], number: int,
                        now: datetime) -> Escalation | None:
    """Item ``number`` if the actor may read it (audited, refusals too), else None; one not in
    ``mine`` (the actor's queue) is still checked against the item asked for."""
    esc = next((e for e in mine if e.id == number), None) or await s.get(Escalation, number)
    live = esc is not None and esc.status != EscalationStatus.resolved
    target = await escalation_target(s, esc) if esc is not None and live else None
    if not await authorize(s, actor, Kind.report, Action.read, target, now=now,
                           escalation=number):
        return None
    return esc


async def open_or_join(
    escalations: Escalations, s: AsyncSession, subject: Subject, severity: Severity,
    now: datetime, *, source: str | None = None, quiet: timedelta | None = None,
) -> Escalation:
    """Join the student's open item when it is at least as urgent, else open a new one.

    A more urgent report does not join a calmer item: it needs its own, faster chain (the two
    are still shown linked to each other). ``source`` names the report in the push to the
    item's holders (default: the subject's title); never the report's words. ``quiet``: no
    push when the item was opened or last told of news that recently (a student repeating
    herself in chat); the signal still joins.
    """
    if subject.person_id is None or subject.report_id is None:
        return await escalations.open(s, subject, severity, now)
    host = next((e for e in await open_items_about(s, subject.person_id)
                 if e.kind != "checkin_missing"
                 and RANK[Severity(e.severity)] >= RANK[severity]), None)
    if host is None:
        return await escalations.open(s, subject, severity, now)
    await join(s, host, subject.report_id, source or subject.title, now, quiet=quiet)
    return host


async def holding(s: AsyncSession, esc: Escalation) -> list[int]:
    """Who holds the item now: its acknowledger, else everyone it reached at its current level
    or beyond (无人确认 reaches the centre lead and duty staff past the last level)."""
    if esc.status == EscalationStatus.acked and esc.acked_by is not None:
        return [esc.acked_by]
    rows = await s.exec(select(EscalationRecipient.person_id).where(
        EscalationRecipient.escalation_id == esc.id,
        col(EscalationRecipient.level) >= esc.level))
    return sorted(set(rows.all()))


async def join(s: AsyncSession, host: Escalation, report_id: int, source: str,
               now: datetime, *, quiet: timedelta | None = None) -> None:
    """Link a new report to the open item and tell its holders that there is news."""
    assert host.id is not None
    recent = quiet is not None and (await s.exec(select(EscalationStep.id).where(
        EscalationStep.escalation_id == host.id,
        col(EscalationStep.action).in_(("opened", "joined")),
        col(EscalationStep.at) >= now - quiet))).first() is not None
    s.add(EscalationReport(escalation_id=host.id, report_id=report_id, joined_at=now))
    s.add(EscalationStep(escalation_id=host.id, at=now, action="joined", level=host.level,
                         note=f"report:{report_id}"))
    if recent:
        return
    urgent = is_urgent(host.severity)
    ref = item_ref(host.id)
    # Only the kind of report and when: every role that holds the item may read that much.
    told = words().joined(ref, title_of(host.kind), source, now)
    await push_to_people(s, await holding(s, host), key=f"esc:{host.id}:joined:{report_id}",
                         reply=told, now=now, kind="crisis" if urgent else "alert",
                         priority=Priority.crisis if urgent else Priority.alert)


async def reports_of(s: AsyncSession, esc: Escalation) -> list[Report]:
    """The item's own report first, then the reports that joined it, oldest first."""
    found: list[Report] = []
    if esc.report_id is not None and (own := await s.get(Report, esc.report_id)) is not None:
        found.append(own)
    joined = await s.exec(select(Report).join(
        EscalationReport, col(EscalationReport.report_id) == col(Report.id)).where(
        EscalationReport.escalation_id == esc.id).order_by(col(EscalationReport.id)))
    return found + [r for r in joined if r.id != esc.report_id]


def queue_order(items: list[Escalation]) -> list[Escalation]:
    """无人确认 first, then crisis, then urgent, then the rest; oldest first within each, so the
    newest crisis is never below a page of routine items."""
    def key(esc: Escalation) -> tuple[int, int, datetime, int]:
        grave = {Severity.crisis: 0, Severity.urgent: 1}.get(Severity(esc.severity), 2)
        return (0 if status_label(esc) == UNACKNOWLEDGED else 1, grave, esc.opened_at,
                esc.id or 0)
    return sorted(items, key=key)
