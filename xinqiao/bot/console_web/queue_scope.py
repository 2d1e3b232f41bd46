"""待办's scope at scale: every item sent to me as a few narrow columns, not whole rows.

A centre lead can have a thousand items in view. Filtering, counting the cards and sorting
need only a handful of columns, so those come from one query of plain tuples (no ORM objects),
with the levels I was sent each item at from a second; whole rows are loaded only for the one
page shown (see ``queue_data.queue``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import ColumnElement, func
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.storage.reports import Escalation, EscalationRecipient, EscalationStatus

RESOLVED_WINDOW = timedelta(days=30)  # 已处理 lists what was closed in the last month
PAGE_SIZED = 100  # up to this many items, waiting_on names them in its query
_STATUS = {s.value: s for s in EscalationStatus}


class Light(NamedTuple):
    """The columns of one item the list filters, counts and sorts by.

    A tuple, not a frozen dataclass: a thousand of them are built for every look at the list,
    and a frozen dataclass sets each of its eleven fields through ``object.__setattr__``.
    """

    id: int
    status: EscalationStatus
    exhausted_at: datetime | None
    level: int
    chain_len: int
    acked_by: int | None
    kind: str
    severity: str
    opened_at: datetime
    college_id: int | None
    klass_id: int | None


def _window(now: datetime) -> ColumnElement[bool]:
    return ((col(Escalation.status) != EscalationStatus.resolved)
            | (col(Escalation.resolved_at) >= now - RESOLVED_WINDOW))


async def sent_to(s: AsyncSession, person_id: int, now: datetime) -> list[Light]:
    """Items sent to this person (at any level): open ones and those closed in the window.

    Every grant of ``report.read`` reaches an item through its recipients (services/access.py),
    so "sent to me" is my scope; the page still asks the matrix of each row it shows.
    """
    sent = select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == person_id)
    conn = await s.connection()  # eleven columns: beyond sqlmodel's typed select
    rows = (await conn.execute(sa_select(
        col(Escalation.id), col(Escalation.status), col(Escalation.exhausted_at),
        # The chain's length, not the chain: a thousand JSON documents decoded for one number.
        col(Escalation.level), func.json_array_length(col(Escalation.chain)),
        col(Escalation.acked_by),
        col(Escalation.kind), col(Escalation.severity), col(Escalation.opened_at),
        col(Escalation.college_id), col(Escalation.klass_id),
    ).where(col(Escalation.id).in_(sent), _window(now)))).all()
    # The timestamps arrive aware (UTCDateTime) and the status as its value: no conversions.
    return [Light(i, _STATUS[st], ex, lv, int(ch), ab, k, sv, op, c, kl)
            for i, st, ex, lv, ch, ab, k, sv, op, c, kl in rows]


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
        if e.status == EscalationStatus.acked:
            if e.acked_by == person_id:
                mine.add(e.id)
        elif e.status == EscalationStatus.open:
            # Once nobody acknowledged, the 无人确认 list was sent at level len(chain).
            here = e.chain_len if e.exhausted_at is not None else e.level
            if here in levels.get(e.id, set()):
                mine.add(e.id)
    return mine
