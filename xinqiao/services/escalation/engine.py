"""The escalation engine: open, climb on deadlines, acknowledge, resolve (design.md §3.2).

Like an on-call escalation policy: the chain is snapshotted onto the escalation when it opens;
each deadline is a durable timer carrying the escalation's token, so a stale or duplicate timer
does nothing; acknowledging stops the climb and resolving closes it. Every step is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Kind, actor_for, authorize, escalation_target
from xinqiao.services.directory import role_set
from xinqiao.services.escalation import checkin_items
from xinqiao.services.escalation.chain import Calendar, ChainWalker
from xinqiao.services.escalation.closing import tell_acknowledger
from xinqiao.services.escalation.deadline import (
    DEADLINE,
    NextStep,
    deadline_timer,
    next_step,
)
from xinqiao.services.escalation.outcome import Handled, ItemOutcome
from xinqiao.services.escalation.record import (
    all_recipients,
    first_title,
    item_title,
    lapsed_by,
    open_for_person,
    recipients_at,
    step,
    tell,
)
from xinqiao.services.escalation.text import LEVEL_LABELS, SEVERITY_LABELS, escalated_notice
from xinqiao.services.escalation.wording import words
from xinqiao.services.refs import item_ref
from xinqiao.services.timers import schedule_many
from xinqiao.storage.reports import Escalation, EscalationStatus, Severity, Timer
from xinqiao.vocabulary import Rostered


@dataclass(frozen=True)
class Subject:
    """What needs a human, as shown in alerts (never the free text of a report)."""

    key: str  # "report:12" or "checkin:3:2026-09-11": one open escalation per key
    kind: str  # "dorm", "urgent", "checkin", "checkin_missing"
    title: str  # 宿舍情况反映, 紧急情况随时报 ... (the first alert adds the class: first_title)
    college_id: int | None
    klass_id: int | None
    report_id: int | None = None
    person_id: int | None = None  # the student concerned, if any


class Escalations(ChainWalker):
    """Opens and moves escalations; all methods work inside the caller's transaction."""

    async def open(
        self, s: AsyncSession, subject: Subject, severity: Severity, now: datetime,
        chain: list[dict[str, Any]] | None = None,
    ) -> Escalation:
        """Open (or return the open one for this subject) and notify its first level."""
        existing = (
            await s.exec(
                select(Escalation).where(
                    Escalation.subject == subject.key,
                    Escalation.status != EscalationStatus.resolved,
                )
            )
        ).first()
        if existing is not None:
            return existing
        esc = Escalation(
            report_id=subject.report_id, subject=subject.key, kind=subject.kind,
            subject_person_id=subject.person_id, college_id=subject.college_id,
            klass_id=subject.klass_id, severity=severity,
            chain=chain if chain is not None else self.chain_for(severity),
            repeats=self.repeat_last(severity) if chain is None else 0, opened_at=now,
        )
        s.add(esc)
        await s.flush()
        await step(s, esc, "opened", now)
        # Named with its class as its later levels will name it (one rule for every kind).
        await self._enter_level(s, esc, 0, now, title=await first_title(s, esc, subject.title))
        return esc

    async def on_deadline(self, s: AsyncSession, timer: Timer) -> None:
        """Timer handler: the next step of an item nobody has acted on in time."""
        esc = await s.get(Escalation, int(timer.ref), with_for_update=True)
        todo = next_step(esc, timer)
        if esc is None or todo is NextStep.nothing:
            return
        now = timer.due_at
        title = await item_title(s, esc)
        if todo is NextStep.lapse:
            await self._lapse(s, esc, now, title)
            return
        if todo is NextStep.remind_exhausted:
            await self._exhausted(s, esc, now, title, again=True)
            return
        lapsed = await lapsed_by(s, esc)
        why = f"{lapsed[1]}确认后未在期限内结案" if lapsed else None
        if todo is NextStep.climb:
            previous = await recipients_at(s, esc, esc.level)
            if lapsed:
                previous = sorted({*previous, lapsed[0]})
            await self._enter_level(s, esc, esc.level + 1, now, title=title, why=why)
            await tell(s, esc, previous, now, f"escalated:{esc.level}",
                       escalated_notice(esc, title))
            return
        if todo is NextStep.repeat:
            esc.repeats -= 1
            await self._enter_level(s, esc, esc.level, now, title=title, again=True)
            return
        await self._exhausted(s, esc, now, title, why=why)

    async def acknowledge(
        self, s: AsyncSession, esc_id: int, person: Rostered, now: datetime
    ) -> ItemOutcome:
        """Stop the climb until the level's resolve deadline."""
        ref = item_ref(esc_id)
        esc = await self._authorised(s, esc_id, person, now, "escalation.ack")
        if esc is None:
            return ItemOutcome(Handled.not_found, ref)
        if refused := await checkin_items.refuse(s, esc, person, None, now, "escalation.ack"):
            return refused
        if esc.status != EscalationStatus.open:
            return ItemOutcome(Handled.already_acked, ref)
        esc.status, esc.acked_at, esc.acked_by = EscalationStatus.acked, now, person.id
        esc.exhausted_at = None
        esc.token += 1  # any pending deadline is now stale
        esc.due_at = self._add(now, self._resolve_window(esc))
        s.add(esc)
        await step(s, esc, "acked", now, actor=person.id)
        await schedule_many(s, [deadline_timer(esc, now)])
        others = [p for p in await all_recipients(s, esc) if p != person.id]
        await tell(s, esc, others, now, f"acked:{esc.token}",
                   words().acked(item_ref(esc.id), person.name))
        return ItemOutcome(Handled.acked, ref, esc.due_at)

    async def resolve(
        self, s: AsyncSession, esc_id: int, person: Rostered, note: str, now: datetime
    ) -> ItemOutcome:
        """Close with a note (acknowledging it if nobody had)."""
        ref = item_ref(esc_id)
        esc = await self._authorised(s, esc_id, person, now, "escalation.resolve")
        if esc is None:
            return ItemOutcome(Handled.not_found, ref)
        if esc.status == EscalationStatus.resolved:
            return ItemOutcome(Handled.already_resolved, ref)
        if refused := await checkin_items.refuse(s, esc, person, note, now,
                                                 "escalation.resolve"):
            return refused
        acker = esc.acked_by if esc.status == EscalationStatus.acked else None
        if esc.status == EscalationStatus.open:
            esc.acked_at, esc.acked_by = now, person.id
        esc.status, esc.resolved_at, esc.resolved_by = EscalationStatus.resolved, now, person.id
        esc.resolution, esc.token = note[:2000] or None, esc.token + 1
        s.add(esc)
        await step(s, esc, "resolved", now, actor=person.id, note=note[:2000] or None)
        if esc.kind == checkin_items.MISSING:  # closed without a check-in: all told, audited
            await checkin_items.announce_closed(s, esc, now, person.id, note)
        elif acker is not None and acker != person.id:  # else they would go on following it up
            await tell_acknowledger(s, esc, acker, person.name, esc.resolution, now)
        return ItemOutcome(Handled.resolved, ref)

    async def close_subject(
        self, s: AsyncSession, key: str, now: datetime, actor: int | None, note: str
    ) -> None:
        """Resolve the open escalation of a subject (e.g. a late check-in finally arrived)."""
        esc = (await s.exec(select(Escalation).where(
            Escalation.subject == key, Escalation.status != EscalationStatus.resolved))).first()
        if esc is None:
            return
        esc.status, esc.resolved_at, esc.resolved_by = EscalationStatus.resolved, now, actor
        esc.resolution, esc.token = note, esc.token + 1
        s.add(esc)
        await step(s, esc, "resolved", now, actor=actor, note=note)
        if esc.kind == checkin_items.MISSING:  # everyone alerted hears it arrived
            await checkin_items.announce_closed(s, esc, now, actor, None)

    async def intensify(
        self, s: AsyncSession, esc: Escalation, severity: Severity, now: datetime, *,
        title: str, note: str,
    ) -> None:
        """Make an item more urgent: the severity's chain follows on from the current level."""
        esc.chain = [*esc.chain[: esc.level + 1], *self.chain_for(severity)]
        esc.severity, esc.status = severity, EscalationStatus.open  # an ack no longer stops it
        esc.repeats = self.repeat_last(severity)
        await step(s, esc, "intensified", now, note=note)
        await self._enter_level(s, esc, esc.level + 1, now, title=title)

    async def _authorised(
        self, s: AsyncSession, esc_id: int, person: Rostered, now: datetime, action: str
    ) -> Escalation | None:
        esc = await s.get(Escalation, esc_id, with_for_update=True)
        target = await escalation_target(s, esc) if esc is not None else None
        actor = await actor_for(s, person, await role_set(s, person.id or 0))
        allowed = await authorize(s, actor, Kind.report, Action.change, target, now=now,
                                  audit_as=action, escalation=esc_id)
        return esc if allowed else None


__all__ = ["DEADLINE", "LEVEL_LABELS", "SEVERITY_LABELS", "Calendar", "Escalations",
           "Subject", "open_for_person"]
