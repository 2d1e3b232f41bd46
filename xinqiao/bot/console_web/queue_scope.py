"""待办's scope at scale: every item sent to me as a few narrow columns, not whole rows.

A centre lead can have a thousand items in view. Filtering, counting the cards and sorting
need only a handful of columns, so those come from one query of plain tuples (no ORM objects),
with the levels I was sent each item at from a second; whole rows are loaded only for the one
page shown (see ``queue_data.queue``). No timestamp is read for the thousand: SQLite keeps them
as text that Python would parse one by one, so the database works out each item's card and
whether it is recent enough, and returns them oldest first.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, case, func, literal
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.reports import Escalation, EscalationRecipient, EscalationStatus

RESOLVED_WINDOW = timedelta(days=30)  # 已处理 lists what was closed in the last month
PAGE_SIZED = 100  # up to this many items, waiting_on names them in its query


class Light(NamedTuple):
    """The columns of one item the list filters, counts and sorts by.

    A tuple, not a frozen dataclass: a thousand of them are built for every look at the list,
    and a frozen dataclass sets each of its eleven fields through ``object.__setattr__``.
    """

    id: int
    card: str  # unacked, acked, nobody (无人确认) or resolved: queue_data.status_key in SQL
    level: int
    chain_len: int
    acked_by: int | None
    kind: str
    severity: str
    college_id: int | None
    klass_id: int | None
    recent: bool  # opened on or after the date asked for (always, when none was)


def _window(now: datetime) -> ColumnElement[bool]:
    return ((col(Escalation.status) != EscalationStatus.resolved)
            | (col(Escalation.resolved_at) >= now - RESOLVED_WINDOW))


def _card() -> ColumnElement[str]:
    return case((col(Escalation.status) == EscalationStatus.resolved, "resolved"),
                (col(Escalation.status) == EscalationStatus.acked, "acked"),
                (col(Escalation.exhausted_at).is_not(None), "nobody"), else_="unacked")


async def sent_to(s: AsyncSession, person_id: int, now: datetime,
                  since: datetime | None = None) -> list[Light]:
    """Items sent to this person (at any level): open ones and those closed in the window,
    oldest first (by when they opened, then by number).

    Every grant of ``report.read`` reaches an item through its recipients (services/access.py),
    so "sent to me" is my scope; the page still asks the matrix of each row it shows.
    """
    sent = select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == person_id)
    conn = await s.connection()  # eleven columns: beyond sqlmodel's typed select
    recent = col(Escalation.opened_at) >= since if since is not None else literal(True)
    rows = (await conn.execute(sa_select(
        col(Escalation.id), _card(), col(Escalation.level),
        # The chain's length, not the chain: a thousand JSON documents decoded for one number.
        func.json_array_length(col(Escalation.chain)), col(Escalation.acked_by),
        col(Escalation.kind), col(Escalation.severity), col(Escalation.college_id),
        col(Escalation.klass_id), recent,
    ).where(col(Escalation.id).in_(sent), _window(now))
        .order_by(col(Escalation.opened_at), col(Escalation.id)))).all()
    return [Light(i, card, lv, int(ch), ab, k, sv, c, kl, bool(r))
            for i, card, lv, ch, ab, k, sv, c, kl, r in rows]


async def waiting_on(s: AsyncSession, person_id: int, items: list[Light]) -> set[int]:
    """The items that wait on this person now (their level's recipient, or their ack)."""
    if not items:
        return set()
    query = (select(EscalationRecipient.escalation_id, EscalationRecipient.level)
             .join(Escalation, col(Escalation.id) == col(EscalationRecipient.escalation_id))
             .where(EscalationRecipient.person_id == person_id,
                    col(Escalation.status) != EscalationStatus.resolved))
    if len(items) <= PAGE_SIZED:  # one page's worth: ask about those only
        query = query.where(col(EscalationRecipient.escalation_id).in_([e.id for e in items]))
    rows = await s.exec(query)
    levels: dict[int, set[int]] = {}
    for esc_id, level in rows:
        levels.setdefault(esc_id, set()).add(level)
    mine = set()
    for e in items:
        if e.card == "acked":
            if e.acked_by == person_id:
                mine.add(e.id)
        elif e.card != "resolved":
            # Once nobody acknowledged, the 无人确认 list was sent at level len(chain).
            here = e.chain_len if e.card == "nobody" else e.level
            if here in levels.get(e.id, set()):
                mine.add(e.id)
    return mine
