"""Retention: purge or anonymise what has outlived the policy's ``[retention]`` periods.

Runs nightly from a durable timer, in batches of ``BATCH`` rows per kind per transaction (a
batch that fills re-arms the timer at once, so a first run over years of data never holds the
SQLite writer for long). Nothing still in use is touched: pending inbox messages and pushes,
open escalations' reports, open cases, and people still at school are left alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.policy.retention import RetentionPolicy
from xinqiao.services import audit
from xinqiao.services.aftercare import answers as aftercare_answers
from xinqiao.storage.campaigns import ScreeningInvitation
from xinqiao.storage.care import SafetyPlan
from xinqiao.storage.case_records import CASE_RECORDS
from xinqiao.storage.cases import Case, CaseNote, CaseSignoff, CaseStatus
from xinqiao.storage.content import TipSubscription
from xinqiao.storage.models import (
    AuditEntry,
    ConversationState,
    InboxMessage,
    InboxStatus,
    OutboxMessage,
    OutboxStatus,
    Person,
)
from xinqiao.storage.reports import Escalation, EscalationStatus, EscalationStep, Report
from xinqiao.storage.screening import Consent, ScreeningResult, TierChange

log = logging.getLogger(__name__)
BATCH = 1000


async def _ids(s: AsyncSession, query: Any) -> list[int]:
    return [i for i in (await s.exec(query.limit(BATCH))).all() if i is not None]


async def _chat(s: AsyncSession, cutoff: datetime) -> dict[str, int]:
    inbox = await _ids(s, select(InboxMessage.id).where(
        col(InboxMessage.received_at) < cutoff,
        col(InboxMessage.status) != InboxStatus.pending.value))
    if inbox:
        await s.exec(delete(InboxMessage).where(col(InboxMessage.id).in_(inbox)))
    final = [OutboxStatus.sent.value, OutboxStatus.delivered.value, OutboxStatus.failed.value,
             OutboxStatus.dead.value, OutboxStatus.superseded.value]
    outbox = await _ids(s, select(OutboxMessage.id).where(
        col(OutboxMessage.created_at) < cutoff, col(OutboxMessage.status).in_(final)))
    if outbox:  # a fallback copy points at its original: unhook it first
        await s.exec(update(OutboxMessage).where(col(OutboxMessage.fallback_of).in_(outbox))
                     .values(fallback_of=None))
        await s.exec(delete(OutboxMessage).where(col(OutboxMessage.id).in_(outbox)))
    states = await _ids(s, select(ConversationState.identity_id).where(
        col(ConversationState.updated_at) < cutoff))
    if states:
        await s.exec(delete(ConversationState).where(
            col(ConversationState.identity_id).in_(states)))
    return {"inbox": len(inbox), "outbox": len(outbox), "conversations": len(states)}


async def _reports(s: AsyncSession, cutoff: datetime, now: datetime) -> int:
    open_reports = select(Escalation.report_id).where(
        col(Escalation.status) != EscalationStatus.resolved.value,
        col(Escalation.report_id).is_not(None))
    ids = await _ids(s, select(Report.id).where(
        col(Report.created_at) < cutoff, col(Report.redacted_at).is_(None),
        col(Report.id).not_in(open_reports)))
    if not ids:
        return 0
    for report in (await s.exec(select(Report).where(col(Report.id).in_(ids)))).all():
        report.answers, report.subject_name, report.redacted_at = {}, None, now
        s.add(report)
    escalations = select(Escalation.id).where(col(Escalation.report_id).in_(ids))
    # synchronize_session=False: the ORM cannot evaluate encrypted columns in Python
    await s.exec(update(EscalationStep).where(col(EscalationStep.escalation_id).in_(escalations))
                 .values(note=None).execution_options(synchronize_session=False))
    await s.exec(update(Escalation).where(col(Escalation.report_id).in_(ids))
                 .values(resolution=None).execution_options(synchronize_session=False))
    return len(ids)


async def _left(s: AsyncSession, cutoff: datetime) -> int:
    people = await _ids(s, select(Person.id).where(
        col(Person.active).is_(False), col(Person.left_at).is_not(None),
        col(Person.left_at) < cutoff,
        col(Person.id).in_(select(ScreeningResult.person_id).union(
            select(Consent.person_id), select(TierChange.person_id),
            select(ScreeningInvitation.person_id), select(SafetyPlan.person_id)))))
    if not people:
        return 0
    await _delete_for(s, ScreeningInvitation, ScreeningInvitation.person_id, people)
    await _delete_for(s, ScreeningResult, ScreeningResult.person_id, people)
    await _delete_for(s, TierChange, TierChange.person_id, people)
    await _delete_for(s, Consent, Consent.person_id, people)
    await _delete_for(s, SafetyPlan, SafetyPlan.person_id, people)  # every version
    return len(people)


async def _subscriptions(s: AsyncSession) -> int:
    """Weekly-tip subscriptions of people who left: nothing more goes to them, none is kept."""
    ids = await _ids(s, select(TipSubscription.id).where(col(TipSubscription.person_id).in_(
        select(Person.id).where(col(Person.left_at).is_not(None)))))
    if ids:
        await s.exec(delete(TipSubscription).where(col(TipSubscription.id).in_(ids)))
    return len(ids)


async def _delete_for(s: AsyncSession, table: Any, column: Any, people: Sequence[int]) -> None:
    await s.exec(delete(table).where(col(column).in_(people)))


async def _cases(s: AsyncSession, cutoff: datetime) -> int:
    ids = await _ids(s, select(Case.id).where(
        col(Case.status) == CaseStatus.closed.value, col(Case.closed_at) < cutoff,
        (col(Case.plan).is_not(None) | col(Case.decision).is_not(None)
         | col(Case.id).in_(select(CaseNote.case_id)))))
    if not ids:
        return 0
    await s.exec(delete(CaseNote).where(col(CaseNote.case_id).in_(ids)))
    for record in CASE_RECORDS:  # referrals, family contact, return assessments go with them
        await s.exec(delete(record).where(col(record.case_id).in_(ids)))
    await s.exec(update(CaseSignoff).where(col(CaseSignoff.case_id).in_(ids))  # its reasons too
                 .values(decision="").execution_options(synchronize_session=False))
    await s.exec(update(Case).where(col(Case.id).in_(ids)).values(plan=None, decision=None)
                 .execution_options(synchronize_session=False))
    return len(ids)


async def purge(s: AsyncSession, policy: RetentionPolicy, now: datetime) -> dict[str, int]:
    """One batch of every kind; returns how many rows (or people, cases) each touched."""
    days = timedelta(days=1)
    counts = await _chat(s, now - policy.chat_days * days)
    counts["reports"] = await _reports(s, now - policy.report_text_days * days, now)
    counts["people_left"] = await _left(s, now - policy.after_leaving_days * days)
    counts["cases"] = await _cases(s, now - policy.case_days * days)
    counts["subscriptions"] = await _subscriptions(s)
    counts["aftercare"] = await aftercare_answers.purge(  # answers as a report's free text
        s, now - policy.report_text_days * days, now - policy.case_days * days, BATCH)
    old_audit = await _ids(s, select(AuditEntry.id).where(
        col(AuditEntry.at) < now - policy.audit_days * days))
    if old_audit:
        await s.exec(delete(AuditEntry).where(col(AuditEntry.id).in_(old_audit)))
    counts["audit"] = len(old_audit)
    if any(counts.values()):
        await audit.record(s, at=now, action="retention.purge", actor_person_id=None,
                           purged=dict(counts))
        log.info("retention purge: %s", counts)
    return counts


def full(counts: dict[str, int]) -> bool:
    """True when some kind filled its batch: there is probably more to do."""
    return any(n >= BATCH for n in counts.values())
