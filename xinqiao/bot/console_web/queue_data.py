"""待办 as data: the items in my scope, their status cards, filters and countdowns.

My scope is what chat's 待办 shows: items I was sent (at any level), each checked against the
access matrix. "Sent to me" narrows it to items that wait on me now: at the level where they
stand (or the 无人确认 list I was given), or acknowledged by me.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.queue_scope import sent_to, waiting_on
from xinqiao.clock import SHANGHAI, local
from xinqiao.services.access import Action, Actor, Kind, Target, may
from xinqiao.services.escalation.text import SEVERITY_LABELS, level_label
from xinqiao.services.refs import item_ref
from xinqiao.services.report_types import report_types
from xinqiao.storage.models import College, Klass, Person
from xinqiao.storage.reports import Escalation, EscalationRecipient, EscalationStatus, Severity

CARDS = (("unacked", "未确认"), ("acked", "已确认"), ("nobody", "无人确认"),
         ("resolved", "已处理"))
PAGE = 50  # rows a page: the cards count them all
SEVERITY_ORDER: dict[str, int] = {Severity.crisis: 0, Severity.urgent: 1, Severity.soon: 2,
                                  Severity.routine: 3}


def _number(raw: str) -> int | None:
    return int(raw) if raw.isdecimal() and len(raw) < 10 else None


@dataclass(frozen=True)
class Filters:
    """What the page was asked to show (every field optional) and which page of it."""

    status: str = ""
    kind: str = ""
    severity: str = ""
    since: date | None = None
    mine: bool = False
    college: int | None = None
    klass: int | None = None
    page: int = 1

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
                   query.get("mine") == "1", _number(query.get("college", "")),
                   _number(query.get("klass", "")), max(1, _number(query.get("page", "")) or 1))

    def query(self, **change: object) -> str:
        """This filter set (with changes) as a query string; back to page 1 unless given."""
        f = replace(self, **({"page": 1} | change))  # type: ignore[arg-type]
        parts = [f"status={f.status}" if f.status else "", f"kind={f.kind}" if f.kind else "",
                 f"severity={f.severity}" if f.severity else "",
                 f"since={f.since.isoformat()}" if f.since else "", "mine=1" if f.mine else "",
                 f"college={f.college}" if f.college else "",
                 f"klass={f.klass}" if f.klass else "", f"page={f.page}" if f.page > 1 else ""]
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


class _Stated(Protocol):
    @property
    def status(self) -> EscalationStatus: ...
    @property
    def exhausted_at(self) -> datetime | None: ...


def status_key(esc: _Stated) -> str:
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


@dataclass(frozen=True)
class Queue:
    """One page of the list, the cards, and the colleges and classes to filter by."""

    cards: list[Card]
    rows: list[Row]
    page: int
    pages: int
    total: int
    colleges: list[tuple[int, str]]
    klasses: list[tuple[int, str]]


async def _names(s: AsyncSession, table: type[College] | type[Klass],
                 ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {i or 0: n for i, n in await s.exec(
        select(table.id, table.name).where(col(table.id).in_(ids)))}


def _sorted(names: dict[int, str]) -> list[tuple[int, str]]:
    # Sorted here, not in SQL: collations differ between backends, code points do not.
    return sorted(names.items(), key=lambda kv: (kv[1], kv[0]))


async def _readable(s: AsyncSession, actor: Actor, items: list[Escalation]) -> list[Escalation]:
    """The same question chat asks of every item, for the rows of one page."""
    ids = [e.id for e in items]
    recipients: dict[int, set[int]] = {}
    for esc_id, pid in await s.exec(select(EscalationRecipient.escalation_id,
                                           EscalationRecipient.person_id)
                                    .where(col(EscalationRecipient.escalation_id).in_(ids))):
        recipients.setdefault(esc_id, set()).add(pid)
    subject_ids = {e.subject_person_id for e in items if e.subject_person_id is not None}
    # The four columns the matrix asks about, not whole rows (whose phone would be decrypted).
    students = {pid: Target(person_id=pid, college_id=c, klass_id=k, dorm_id=d)
                for pid, c, k, d in await s.exec(select(
                    Person.id, Person.college_id, Person.klass_id, Person.dorm_id).where(
                    col(Person.id).in_(subject_ids)))} if subject_ids else {}
    nobody = Target()
    return [e for e in items if may(actor, Kind.report, Action.read, replace(
        students.get(e.subject_person_id or 0, nobody),
        recipients=frozenset(recipients.get(e.id or 0, ()))))]


async def queue(s: AsyncSession, actor: Actor, filters: Filters, now: datetime) -> Queue:
    """The cards (counted under the other filters) and one page of the selected card."""
    since = (datetime.combine(filters.since, datetime.min.time(), SHANGHAI)
             if filters.since else None)
    items = await sent_to(s, actor.person_id, now, since)  # oldest first
    colleges = await _names(s, College, {e.college_id for e in items if e.college_id})
    in_college = [e for e in items if not filters.college or e.college_id == filters.college]
    # Classes to pick from once the list is one college's: the centre's thousand would make
    # a select nobody can use (and a page that takes long to render).
    one = filters.college is not None or len(colleges) <= 1
    klasses = await _names(s, Klass, {e.klass_id for e in in_college if e.klass_id}) if one else {}
    mine = await waiting_on(s, actor.person_id, items) if filters.mine else set()
    items = [e for e in in_college
             if (not filters.klass or e.klass_id == filters.klass)
             and (not filters.kind or e.kind == filters.kind)
             and (not filters.severity or e.severity == filters.severity)
             and e.recent
             and (not filters.mine or e.id in mine)]
    counts = {key: 0 for key, _ in CARDS}
    for e in items:
        counts[e.card] += 1
    cards = [Card(k, label, counts[k], filters.status == k) for k, label in CARDS]
    shown = [e for e in items
             if (e.card == filters.status if filters.status else e.card != "resolved")]
    # A stable sort of the oldest-first list: 无人确认 first, then by severity, then as opened.
    shown.sort(key=lambda e: (e.card != "nobody", SEVERITY_ORDER[e.severity]))
    pages = max(1, -(-len(shown) // PAGE))
    page = min(filters.page, pages)
    on_page = shown[(page - 1) * PAGE:page * PAGE]
    ids = [e.id for e in on_page]
    if filters.mine:
        waiting = mine
    else:
        waiting = await waiting_on(s, actor.person_id, on_page)
    # Not the resolution note: encrypted, and the list does not show it.
    loaded = {e.id: e for e in await s.exec(select(Escalation).options(
        defer(col(Escalation.resolution))  # type: ignore[arg-type]  # sqlmodel types it Mapped
    ).where(col(Escalation.id).in_(ids)))} if ids else {}
    page_items = await _readable(s, actor, [loaded[i] for i in ids if i in loaded])
    names = {**klasses, **await _names(s, Klass, {e.klass_id for e in page_items
                                                  if e.klass_id and e.klass_id not in klasses})}
    rows = []
    for esc in page_items:
        assert esc.id is not None
        text, overdue = countdown(esc, now)
        key = status_key(esc)
        rows.append(Row(esc.id, item_ref(esc.id), report_types().title(esc.kind, "事项"),
                        esc.severity, SEVERITY_LABELS[Severity(esc.severity)], key,
                        dict(CARDS)[key], local(esc.opened_at), names.get(esc.klass_id or 0, ""),
                        _where(esc), text, overdue, esc.id in waiting,
                        esc.status == EscalationStatus.open))
    return Queue(cards, rows, page, pages, len(shown), _sorted(colleges), _sorted(klasses))
