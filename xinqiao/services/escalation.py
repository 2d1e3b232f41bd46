"""The escalation engine: open, climb on deadlines, acknowledge, resolve (design.md §3.2).

Like an on-call escalation policy: the chain is snapshotted onto the escalation when it opens;
each deadline is a durable timer carrying the escalation's token, so a stale or duplicate timer
does nothing; acknowledging stops the climb and resolving closes it. Every step is recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.messages import Reply
from xinqiao.services.access import Action, Kind, actor_for, authorize, escalation_target
from xinqiao.services.directory import role_set
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.timers import schedule
from xinqiao.storage.models import Klass, Person
from xinqiao.storage.reports import (
    Escalation,
    EscalationRecipient,
    EscalationStatus,
    EscalationStep,
    Severity,
    Timer,
)

log = logging.getLogger(__name__)
DEADLINE = "escalation.deadline"
LEVEL_LABELS = {"committee": "班级心理委员", "class_advisor": "辅导员", "college": "学院",
                "centre": "心理中心", "centre_lead": "心理中心负责人",
                "college_counsellor": "学院心理辅导员", "counsellor": "咨询老师"}
SEVERITY_LABELS = {Severity.routine: "常规", Severity.soon: "尽快", Severity.urgent: "紧急",
                   Severity.crisis: "危机"}


class Calendar(Protocol):
    """Adds working time (the policy's working hours and the Chinese holiday calendar)."""

    def add_working(self, start: datetime, delta: timedelta) -> datetime:
        """The moment ``delta`` of working time after ``start``."""
        ...


@dataclass(frozen=True)
class Subject:
    """What needs a human, as shown in alerts (never the free text of a report)."""

    key: str  # "report:12" or "checkin:3:2026-09-11": one open escalation per key
    kind: str  # "dorm", "urgent", "checkin", "checkin_missing"
    title: str  # 宿舍情况反映, 紧急情况随时报 ...
    college_id: int | None
    klass_id: int | None
    report_id: int | None = None
    person_id: int | None = None  # the student concerned, if any


class Escalations:
    """Opens and moves escalations; all methods work inside the caller's transaction."""

    def __init__(
        self, chain_for: Callable[[Severity], list[dict[str, Any]]], calendar: Calendar,
        repeat_last: Callable[[Severity], int],
    ) -> None:
        self.chain_for = chain_for
        self.calendar = calendar
        self.repeat_last = repeat_last

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
        await self._step(s, esc, "opened", now)
        await self._enter_level(s, esc, 0, now, title=subject.title)
        return esc

    async def on_deadline(self, s: AsyncSession, timer: Timer) -> None:
        """Timer handler: climb one level, or re-notify the last, if still unacknowledged."""
        esc = await s.get(Escalation, int(timer.ref), with_for_update=True)
        if esc is None or esc.status != EscalationStatus.open or esc.token != timer.token:
            return  # acknowledged, resolved, or a stale timer: nothing to do
        now = timer.due_at
        title = await self._title(s, esc)
        if esc.level + 1 < len(esc.chain):
            previous = await self._recipients_at(s, esc, esc.level)
            await self._enter_level(s, esc, esc.level + 1, now, title=title)
            label = _level_label(esc.chain[esc.level])
            await self._tell(s, esc, previous, now, f"escalated:{esc.level}", Reply(
                f"#{esc.id}（{title}）未在期限内确认，已升级至{label}。"))
            return
        if esc.repeats > 0:
            esc.repeats -= 1
            await self._enter_level(s, esc, esc.level, now, title=title, again=True)
            return
        await self._step(s, esc, "exhausted", now, note="no acknowledgement at the last level")
        log.error("escalation %s exhausted its chain without acknowledgement", esc.id)

    async def acknowledge(
        self, s: AsyncSession, esc_id: int, person: Person, now: datetime
    ) -> tuple[bool, str]:
        """Stop the climb. Returns (done, message for the person)."""
        esc = await self._authorised(s, esc_id, person, now, "escalation.ack")
        if esc is None:
            return False, f"没有找到你可以处理的 #{esc_id}。"
        if esc.status != EscalationStatus.open:
            return False, f"#{esc_id} 已经有人确认过了。"
        esc.status, esc.acked_at, esc.acked_by = EscalationStatus.acked, now, person.id
        esc.token += 1  # any pending deadline is now stale
        s.add(esc)
        await self._step(s, esc, "acked", now, actor=person.id)
        others = [p for p in await self._all_recipients(s, esc) if p != person.id]
        await self._tell(s, esc, others, now, "acked", Reply(
            f"#{esc.id} 已由 {person.name} 确认跟进。"))
        return True, f"已确认 #{esc_id}，升级已停止。处理完后回复“已处理 {esc_id} 处理情况”结案。"

    async def resolve(
        self, s: AsyncSession, esc_id: int, person: Person, note: str, now: datetime
    ) -> tuple[bool, str]:
        """Close with a note (acknowledging it if nobody had)."""
        esc = await self._authorised(s, esc_id, person, now, "escalation.resolve")
        if esc is None:
            return False, f"没有找到你可以处理的 #{esc_id}。"
        if esc.status == EscalationStatus.resolved:
            return False, f"#{esc_id} 已经结案。"
        if esc.status == EscalationStatus.open:
            esc.acked_at, esc.acked_by = now, person.id
        esc.status, esc.resolved_at, esc.resolved_by = EscalationStatus.resolved, now, person.id
        esc.resolution, esc.token = note[:2000] or None, esc.token + 1
        s.add(esc)
        await self._step(s, esc, "resolved", now, actor=person.id, note=note[:2000] or None)
        return True, f"#{esc_id} 已结案，谢谢你的跟进。"

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
        await self._step(s, esc, "resolved", now, actor=actor, note=note)

    async def intensify(
        self, s: AsyncSession, esc: Escalation, severity: Severity, now: datetime, *,
        title: str, note: str,
    ) -> None:
        """Make an item more urgent: the severity's chain follows on from the current level."""
        esc.chain = [*esc.chain[: esc.level + 1], *self.chain_for(severity)]
        esc.severity, esc.status = severity, EscalationStatus.open  # an ack no longer stops it
        esc.repeats = self.repeat_last(severity)
        await self._step(s, esc, "intensified", now, note=note)
        await self._enter_level(s, esc, esc.level + 1, now, title=title)

    # --- internals -----------------------------------------------------------------------

    async def _enter_level(
        self, s: AsyncSession, esc: Escalation, level: int, now: datetime, *, title: str,
        again: bool = False,
    ) -> None:
        assert esc.id is not None
        esc.level, esc.token = level, esc.token + 1
        entry = esc.chain[level]
        people = await level_recipients(s, entry["notify"], esc.college_id, esc.klass_id,
                                        at=now)
        if people:
            esc.due_at = self._deadline(entry, now)
        else:  # nobody holds this level for this unit: do not let it sit, climb at once
            esc.due_at = now
        s.add(esc)
        if not again:
            for pid in people:
                s.add(EscalationRecipient(escalation_id=esc.id, person_id=pid, level=level,
                                          notified_at=now))
        await self._step(s, esc, "reminded" if again else "notified", now, recipients=people,
                         note=None if people else "no recipients at this level")
        await self._tell(s, esc, people, now, f"level:{level}:{esc.token}",
                         self._alert_reply(esc, title, again), alert=True)
        await schedule(s, kind=DEADLINE, ref=str(esc.id), due_at=esc.due_at, now=now,
                       token=esc.token)

    def _deadline(self, entry: dict[str, Any], start: datetime) -> datetime:
        delta = timedelta(seconds=float(entry["ack_within_s"]))
        if entry.get("working_hours"):
            return self.calendar.add_working(start, delta)
        return start + delta

    def _alert_reply(self, esc: Escalation, title: str, again: bool) -> Reply:
        due = local(esc.due_at) if esc.due_at else None
        lines = [f"【心桥{'·再次提醒' if again else ''}】#{esc.id} {title}",
                 f"紧急程度：{SEVERITY_LABELS[Severity(esc.severity)]}"]
        if due is not None:
            lines.append(f"请在 {due:%m-%d %H:%M} 前确认，否则将升级。")
        # A push is not a reply, so numbered choices would not resolve: say what to type.
        lines.append(f"回复“收到 {esc.id}”确认，回复“待办”查看详情。")
        return Reply("\n".join(lines))

    async def _tell(
        self, s: AsyncSession, esc: Escalation, people: Sequence[int], now: datetime,
        step_key: str, reply: Reply, alert: bool = False,
    ) -> None:
        urgent = Severity(esc.severity) in (Severity.urgent, Severity.crisis)
        fields = {"事项": reply.text.splitlines()[0][:20],
                  "紧急程度": SEVERITY_LABELS[Severity(esc.severity)]}
        reached = await push_to_people(
            s, people, key=f"esc:{esc.id}:{step_key}", reply=reply, now=now,
            kind=("crisis" if urgent else "alert") if alert else "reminder",
            priority=(Priority.crisis if urgent else Priority.alert) if alert
            else Priority.reminder,
            alert={"title": f"#{esc.id} 待处理", "fields": fields} if alert else None,
        )
        for pid in set(people) - set(reached):
            log.warning("escalation %s: person %s has no reachable chat account", esc.id, pid)

    async def _step(
        self, s: AsyncSession, esc: Escalation, action: str, now: datetime, *,
        recipients: Sequence[int] = (), actor: int | None = None, note: str | None = None,
    ) -> None:
        assert esc.id is not None
        s.add(EscalationStep(escalation_id=esc.id, at=now, action=action, level=esc.level,
                             recipients=list(recipients), actor_person_id=actor, note=note))

    async def _recipients_at(self, s: AsyncSession, esc: Escalation, level: int) -> list[int]:
        rows = await s.exec(select(EscalationRecipient.person_id).where(
            EscalationRecipient.escalation_id == esc.id, EscalationRecipient.level == level))
        return sorted(set(rows.all()))

    async def _all_recipients(self, s: AsyncSession, esc: Escalation) -> list[int]:
        rows = await s.exec(select(EscalationRecipient.person_id).where(
            EscalationRecipient.escalation_id == esc.id))
        return sorted(set(rows.all()))

    async def _authorised(
        self, s: AsyncSession, esc_id: int, person: Person, now: datetime, action: str
    ) -> Escalation | None:
        esc = await s.get(Escalation, esc_id, with_for_update=True)
        target = await escalation_target(s, esc) if esc is not None else None
        actor = await actor_for(s, person, await role_set(s, person.id or 0))
        allowed = await authorize(s, actor, Kind.report, Action.change, target, now=now,
                                  audit_as=action, escalation=esc_id)
        return esc if allowed else None

    async def _title(self, s: AsyncSession, esc: Escalation) -> str:
        title = TITLES.get(esc.kind, "待处理事项")
        if esc.klass_id is not None:
            klass = await s.get(Klass, esc.klass_id)
            if klass is not None:
                title += f"（{klass.name}）"
        return title


TITLES = {"dorm": "宿舍情况反映", "urgent": "紧急情况随时报", "checkin": "班级心理晴雨表关注",
          "checkin_missing": "班级心理晴雨表未提交", "crisis": "危机预警",
          "screening": "测评提示自伤念头", "noshow": "重点关注学生咨询爽约"}


def _level_label(entry: dict[str, Any]) -> str:
    return "、".join(LEVEL_LABELS.get(n, n) for n in entry["notify"])


async def open_for_person(s: AsyncSession, person_id: int) -> list[Escalation]:
    """Escalations still open or acknowledged where this person is a recipient, oldest first."""
    mine = select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == person_id)
    rows = await s.exec(
        select(Escalation)
        .where(col(Escalation.id).in_(mine), Escalation.status != EscalationStatus.resolved)
        .order_by(col(Escalation.opened_at), col(Escalation.id))
    )
    return list(rows)
