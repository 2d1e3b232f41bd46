"""待办 as data: the items in my scope, their status cards, filters and countdowns.

My scope is what chat's 待办 shows: items I was sent (at any level), each checked against the
access matrix. "Sent to me" narrows it to items that wait on me now: at the level where they
stand (or the 无人确认 list I was given), or acknowledged by me.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.services.access import Action, Actor, Kind, Target, may
from xinqiao.services.escalation_text import SEVERITY_LABELS, level_label
from xinqiao.services.refs import item_ref
from xinqiao.services.report_types import report_types
from xinqiao.storage.models import Klass, Person
from xinqiao.storage.reports import Escalation, EscalationRecipient, EscalationStatus, Severity

CARDS = (("unacked", "未确认"), ("acked", "已确认"), ("nobody", "无人确认"),
         ("resolved", "已处理"))
RESOLVED_WINDOW = timedelta(days=30)  # 已处理 lists what was closed in the last month
SEVERITY_ORDER = {Severity.crisis: 0, Severity.urgent: 1, Severity.soon: 2, Severity.routine: 3}


@dataclass(frozen=True)
class Filters:
    """What the page was asked to show (every field optional)."""

    status: str = ""
    kind: str = ""
    severity: str = ""
    since: date | None = None
    mine: bool = False

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> Filters:
        """From the query string; unknown values are ignored rather than refused."""
        status = query.get("status", "")
        kind = query.get("kind", "")
        severity = query.get("severity", "")
        try:
            since = date.fromisoformat(query.get("since", "")) if query.get("since") else None
        except ValueError:
            since = None
        known = kind in report_types().titles()
        return cls(status if status in dict(CARDS) else "", kind if known else "",
                   severity if severity in SEVERITY_LABELS else "", since,
                   query.get("mine") == "1")

    def query(self, **change: object) -> str:
        """This filter set (with changes) as a query string."""
        f = replace(self, **change)  # type: ignore[arg-type]
        parts = [f"status={f.status}" if f.status else "", f"kind={f.kind}" if f.kind else "",
                 f"severity={f.severity}" if f.severity else "",
                 f"since={f.since.isoformat()}" if f.since else "", "mine=1" if f.mine else ""]
        joined = "&".join(p for p in parts if p)
        return f"?{joined}" if joined else "?"


@dataclass(frozen=True)
class Card:
    """A status card: its filter key, label, count and whether it is the one selected."""

    key: str
    label: str
    count: int
    selected: bool


@dataclass(frozen=True)
class Row:
    """One item as the list shows it."""

    id: int
    ref: str
    title: str
    severity: str
    severity_label: str
    status: str
    status_label: str
    opened: datetime
    klass: str
    where: str
    countdown: str
    overdue: bool
    mine: bool
    ackable: bool


def status_key(esc: Escalation) -> str:
    """The card an item belongs to."""
    if esc.status == EscalationStatus.resolved:
        return "resolved"
    if esc.status == EscalationStatus.acked:
        return "acked"
    return "nobody" if esc.exhausted_at is not None else "unacked"


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    return f"{hours}小时{mins}分" if hours else f"{mins}分钟"


def countdown(esc: Escalation, now: datetime) -> tuple[str, bool]:
    """What happens next and when: the next climb, reminder or resolve deadline."""
    if esc.status == EscalationStatus.resolved or esc.due_at is None:
        return "", False
    left = esc.due_at - now
    if left <= timedelta(0):
        return "已到期，即将处理", True
    if esc.status == EscalationStatus.acked:
        return f"{_span(left)}内须结案", False
    if esc.exhausted_at is None and esc.level + 1 < len(esc.chain):
        return f"{_span(left)}后升级至{level_label(esc.chain[esc.level + 1])}", False
    return f"{_span(left)}后再次提醒", False


def _where(esc: Escalation) -> str:
    if esc.exhausted_at is not None and esc.status == EscalationStatus.open:
        return "心理中心负责人和值班老师"
    return level_label(esc.chain[min(esc.level, len(esc.chain) - 1)])


async def in_scope(s: AsyncSession, actor: Actor, now: datetime) -> list[Escalation]:
    """Every item the actor may read: open ones, and those resolved in the last month."""
    sent = select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == actor.person_id)
    rows = list(await s.exec(select(Escalation).where(
        col(Escalation.id).in_(sent),
        (col(Escalation.status) != EscalationStatus.resolved)
        | (col(Escalation.resolved_at) >= now - RESOLVED_WINDOW))))
    if not rows:
        return []
    ids = [e.id for e in rows]
    recipients: dict[int, set[int]] = {}
    for esc_id, pid in await s.exec(select(EscalationRecipient.escalation_id,
                                           EscalationRecipient.person_id)
                                    .where(col(EscalationRecipient.escalation_id).in_(ids))):
        recipients.setdefault(esc_id, set()).add(pid)
    subject_ids = {e.subject_person_id for e in rows if e.subject_person_id is not None}
    students = {p.id: p for p in await s.exec(select(Person).where(
        col(Person.id).in_(subject_ids)))} if subject_ids else {}
    # The same question chat asks of every item, answered from rows already loaded.
    return [e for e in rows if may(actor, Kind.report, Action.read, Target.about(
        students.get(e.subject_person_id), recipients=frozenset(recipients.get(e.id or 0, ()))))]


async def waiting_on(s: AsyncSession, person_id: int, items: list[Escalation]) -> set[int]:
    """The items that wait on this person now (their level's recipient, or their ack)."""
    if not items:
        return set()
    rows = await s.exec(select(EscalationRecipient.escalation_id, EscalationRecipient.level)
                        .where(EscalationRecipient.person_id == person_id,
                               col(EscalationRecipient.escalation_id).in_([e.id for e in items])))
    levels: dict[int, set[int]] = {}
    for esc_id, level in rows:
        levels.setdefault(esc_id, set()).add(level)
    mine = set()
    for e in items:
        assert e.id is not None
        if e.status == EscalationStatus.acked:
            if e.acked_by == person_id:
                mine.add(e.id)
        elif e.status == EscalationStatus.open:
            here = len(e.chain) if e.exhausted_at is not None else e.level
            if here in levels.get(e.id, set()):
                mine.add(e.id)
    return mine


async def queue(s: AsyncSession, actor: Actor, filters: Filters,
                now: datetime) -> tuple[list[Card], list[Row]]:
    """The cards (counted under the other filters) and the rows of the selected card."""
    items = await in_scope(s, actor, now)
    mine = await waiting_on(s, actor.person_id, items)
    since = (datetime.combine(filters.since, datetime.min.time(), SHANGHAI)
             if filters.since else None)
    items = [e for e in items
             if (not filters.kind or e.kind == filters.kind)
             and (not filters.severity or e.severity == filters.severity)
             and (since is None or e.opened_at >= since)
             and (not filters.mine or e.id in mine)]
    counts = {key: 0 for key, _ in CARDS}
    for e in items:
        counts[status_key(e)] += 1
    cards = [Card(k, label, counts[k], filters.status == k) for k, label in CARDS]
    shown = [e for e in items if status_key(e) == filters.status] if filters.status else \
        [e for e in items if e.status != EscalationStatus.resolved]
    shown.sort(key=lambda e: (status_key(e) != "nobody", SEVERITY_ORDER[Severity(e.severity)],
                              e.opened_at, e.id))
    klass_ids = {e.klass_id for e in shown if e.klass_id is not None}
    names = {k.id: k.name for k in await s.exec(select(Klass).where(
        col(Klass.id).in_(klass_ids)))} if klass_ids else {}
    rows = []
    for e in shown:
        assert e.id is not None
        text, overdue = countdown(e, now)
        key = status_key(e)
        rows.append(Row(e.id, item_ref(e.id), report_types().title(e.kind, "事项"), e.severity,
                        SEVERITY_LABELS[Severity(e.severity)], key, dict(CARDS)[key],
                        local(e.opened_at), names.get(e.klass_id or 0, ""), _where(e), text,
                        overdue, e.id in mine, e.status == EscalationStatus.open))
    return cards, rows
