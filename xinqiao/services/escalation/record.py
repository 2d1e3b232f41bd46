"""The escalation's record: its steps, recipients, pushes and queue (used by the engine)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.escalation.text import MISSING, SEVERITY_LABELS, title_of
from xinqiao.services.outbox import Priority
from xinqiao.services.pushed import Pushed
from xinqiao.services.recipients import push_to_people
from xinqiao.services.refs import item_ref
from xinqiao.services.severity import is_urgent
from xinqiao.storage.models import Klass, Person
from xinqiao.storage.reports import (
    Escalation,
    EscalationRecipient,
    EscalationStatus,
    EscalationStep,
    Severity,
)

log = logging.getLogger("xinqiao.services.escalation.engine")


async def lapsed_by(s: AsyncSession, esc: Escalation) -> tuple[int, str] | None:
    """Who let this item lapse, if its latest step is that lapse (to tell the next level)."""
    last = (await s.exec(select(EscalationStep).where(
        EscalationStep.escalation_id == esc.id).order_by(
        col(EscalationStep.id).desc()).limit(1))).first()
    if last is None or last.action != "lapsed" or not last.recipients:
        return None
    person = await s.get(Person, last.recipients[0])
    return (last.recipients[0], person.name) if person is not None else None


async def tell(
    s: AsyncSession, esc: Escalation, people: Sequence[int], now: datetime,
    step_key: str, reply: Pushed, alert: bool = False,
) -> list[int]:
    """Push to people about an escalation; returns who was reached (the rest are logged)."""
    reached = await push_to_people(s, people, key=f"esc:{esc.id}:{step_key}", reply=reply,
                                   now=now, **push_style(esc, reply, alert))
    await log_missed(s, esc, sorted(set(people) - set(reached)))
    return reached


def push_style(esc: Escalation, reply: Pushed, alert: bool) -> dict[str, Any]:
    """The kind, priority and alert card of a push about an escalation."""
    urgent = is_urgent(esc.severity)
    fields = {"事项": item_field(reply.text.splitlines()[0] if reply.text else ""),
              "紧急程度": SEVERITY_LABELS[Severity(esc.severity)]}
    return {"kind": ("crisis" if urgent else "alert") if alert else "reminder",
            "priority": (Priority.crisis if urgent else Priority.alert) if alert
            else Priority.reminder,
            # ``item``: channels that show a link (WeCom's text card) open the console's page.
            "alert": {"title": f"{item_ref(esc.id)} 待处理", "fields": fields, "item": esc.id}
            if alert else None}


async def log_missed(s: AsyncSession, esc: Escalation, missed: Sequence[int]) -> None:
    """Log the people an escalation push could not reach (no reachable chat account)."""
    if missed:
        names = (await s.exec(select(Person.name).where(col(Person.id).in_(missed)))).all()
        log.warning("escalation %s: %s have no reachable chat account (see the daily "
                    "coverage check)", esc.id, "、".join(names))


_TAG = re.compile(r"^【[^】]*】\s*(?:(?:#|D)\d+\s*)?")
_GROUP = re.compile(r"（[^（）]*）")
FIELD_LIMIT = 20  # a WeChat template "thing" value


def item_field(line: str, limit: int = FIELD_LIMIT) -> str:
    """An alert's first line as a template field: without its 【心桥】D7 tag, and shortened by
    whole bracketed parts first, never cut inside a bracket."""
    text = _TAG.sub("", line).strip()
    while len(text) > limit and _GROUP.search(text):
        text = _GROUP.sub("", text, count=1)
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if "（" in cut:
        cut = cut[: cut.rfind("（")]
    return cut + "…"


async def step(
    s: AsyncSession, esc: Escalation, action: str, now: datetime, *,
    recipients: Sequence[int] = (), actor: int | None = None, note: str | None = None,
) -> None:
    """Record one step of the escalation's trail."""
    assert esc.id is not None
    s.add(EscalationStep(escalation_id=esc.id, at=now, action=action, level=esc.level,
                         recipients=list(recipients), actor_person_id=actor, note=note))


async def add_recipients(
    s: AsyncSession, esc: Escalation, people: Sequence[int], level: int,
    now: datetime,
) -> None:
    """Record who an escalation went to at a level (once each): they may now act on it."""
    assert esc.id is not None
    known = set(await recipients_at(s, esc, level))
    for pid in sorted(set(people) - known):
        s.add(EscalationRecipient(escalation_id=esc.id, person_id=pid, level=level,
                                  notified_at=now))
    await s.flush()


async def recipients_at(
    s: AsyncSession, esc: Escalation, level: int) -> list[int]:
    """Everyone the escalation went to at one level."""
    rows = await s.exec(select(EscalationRecipient.person_id).where(
        EscalationRecipient.escalation_id == esc.id, EscalationRecipient.level == level))
    return sorted(set(rows.all()))


async def all_recipients(
    s: AsyncSession, esc: Escalation) -> list[int]:
    """Everyone the escalation went to, at any level."""
    rows = await s.exec(select(EscalationRecipient.person_id).where(
        EscalationRecipient.escalation_id == esc.id))
    return sorted(set(rows.all()))


async def item_title(
    s: AsyncSession, esc: Escalation) -> str:
    """The item as named in pushes: its kind and, for a class, the class."""
    return await klass_title(s, title_of(esc.kind), esc.klass_id)


def titled(esc: Escalation, klass_name: str | None) -> str:
    """``item_title`` with the class name already looked up (None: no class)."""
    return with_klass(title_of(esc.kind), klass_name)


def with_klass(title: str, klass_name: str | None) -> str:
    """``宿舍情况反映（软件2301）``: a title and the class it is about (None: no class)."""
    return title if klass_name is None else f"{title}（{klass_name}）"


async def klass_title(s: AsyncSession, title: str, klass_id: int | None) -> str:
    """A new item's title as its later pushes name it: with its class, for the first level."""
    klass = await s.get(Klass, klass_id) if klass_id is not None else None
    return with_klass(title, klass.name if klass is not None else None)


async def first_title(s: AsyncSession, esc: Escalation, title: str) -> str:
    """What a new item's first alert is headed by: its title with its class, as every later
    level's alert names it (``item_title``). A missing check-in's title names its period
    instead: its first level is the class's own committee member."""
    if esc.kind == MISSING:
        return title
    return await klass_title(s, title, esc.klass_id)


async def open_for_person(s: AsyncSession, person_id: int) -> list[Escalation]:
    """Escalations still open or acknowledged where this person is a recipient: those nobody
    acknowledged (无人确认) first, then oldest first."""
    mine = select(EscalationRecipient.escalation_id).where(
        EscalationRecipient.person_id == person_id)
    unacknowledged = case((and_(col(Escalation.status) == EscalationStatus.open,
                                col(Escalation.exhausted_at).is_not(None)), 0), else_=1)
    rows = await s.exec(
        select(Escalation)
        .where(col(Escalation.id).in_(mine), Escalation.status != EscalationStatus.resolved)
        .order_by(unacknowledged, col(Escalation.opened_at), col(Escalation.id))
    )
    return list(rows)
