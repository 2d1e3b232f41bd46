"""Escalation deadlines fired many at a time: the common climb in a few set-based statements.

The sweeper claims a batch of due deadlines; this takes those whose next step is the usual
one (climb a level, or remind the last level again, with someone reachable there) and does for
all of them at once what ``Escalations.on_deadline`` does for one: the same rows, pushes and
next timers, with a few IN-queries and one multi-row insert per table. Anything unusual (an
acknowledged item, an exhausted chain, a lapse, a level nobody can be reached at, a check-in
committee's form) is left to ``on_deadline`` in the same transaction.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.escalation import checkin_items
from xinqiao.services.escalation.deadline import NextStep, deadline_timer, next_step
from xinqiao.services.escalation.engine import Escalations
from xinqiao.services.escalation.record import log_missed, push_style, titled
from xinqiao.services.escalation.text import escalated_notice, level_alert
from xinqiao.services.outbox import Push, enqueue_many
from xinqiao.services.pushed import Pushed
from xinqiao.services.recipients import (
    LEVEL_ROLES,
    best_identities,
    level_recipients,
    unreachable,
)
from xinqiao.services.timers import schedule_many
from xinqiao.storage.models import Klass
from xinqiao.storage.reports import (
    Escalation,
    EscalationRecipient,
    EscalationStep,
    Timer,
)


@dataclass
class _Climb:
    esc: Escalation
    timer: Timer
    target: int  # the level to notify
    again: bool  # the last level reminded (its repeats), not a new level


@dataclass
class _Tell:
    esc: Escalation
    people: list[int]
    step_key: str
    reply: Pushed
    alert: bool
    at: datetime


async def fire_deadlines(escalations: Escalations, s: AsyncSession,
                         timers: list[Timer]) -> set[int]:
    """Fire the usual deadlines of ``timers`` together; return the ids of the timers done."""
    first: dict[int, Timer] = {}
    for timer in timers:  # a second timer of the same item goes the one-by-one way
        first.setdefault(int(timer.ref), timer)
    rows = (await s.exec(select(Escalation).where(col(Escalation.id).in_(list(first)))
                         .with_for_update())).all()
    found = {e.id: e for e in rows}
    done: set[int] = set()
    climbs: list[_Climb] = []
    for esc_id, timer in first.items():
        esc = found.get(esc_id)
        todo = next_step(esc, timer)
        if esc is None or todo is NextStep.nothing:
            done.add(timer.id or 0)  # on_deadline would do nothing either
        elif todo is NextStep.climb:
            climbs.append(_Climb(esc, timer, esc.level + 1, again=False))
        elif todo is NextStep.repeat:
            climbs.append(_Climb(esc, timer, esc.level, again=True))
    climbs = [c for c in climbs if not (  # a committee's reminder also opens its form
        c.esc.kind == checkin_items.MISSING and c.esc.chain[c.target]["notify"] == ["committee"])]
    climbs = await _without_lapses(s, climbs)
    if not climbs:
        return done
    ids = [c.esc.id for c in climbs]
    known: dict[tuple[int, int], set[int]] = defaultdict(set)
    for esc_id, person_id, level in (await s.exec(
            select(EscalationRecipient.escalation_id, EscalationRecipient.person_id,
                   EscalationRecipient.level)
            .where(col(EscalationRecipient.escalation_id).in_(ids)))).all():
        known[(esc_id, level)].add(person_id)
    people = await _level_people(s, climbs)
    gone = await unreachable(s, {p for c in climbs for p in people[id(c)]})
    climbs = [c for c in climbs if any(p not in gone for p in people[id(c)])]  # else: skip
    titles = await _titles(s, climbs)
    tells: list[_Tell] = []
    new_timers: list[dict[str, Any]] = []
    recipients: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for c in climbs:
        esc, now, who = c.esc, c.timer.due_at, people[id(c)]
        assert esc.id is not None
        previous = sorted(known[(esc.id, esc.level)])
        if c.again:
            esc.repeats -= 1
        esc.level, esc.token = c.target, esc.token + 1
        entry = esc.chain[c.target]
        if not c.again:
            recipients += [{"escalation_id": esc.id, "person_id": p, "level": c.target,
                            "notified_at": now}
                           for p in sorted(set(who) - known[(esc.id, c.target)])]
        esc.due_at = escalations.level_deadline(entry, now)
        s.add(esc)
        steps.append({"escalation_id": esc.id, "at": now, "level": esc.level,
                      "recipients": who, "actor_person_id": None, "note": None,
                      "action": "reminded" if c.again else "notified"})
        tells.append(_Tell(esc, who, f"level:{c.target}:{esc.token}",
                           level_alert(esc, titles[esc.id], c.again, None), True, now))
        new_timers.append(deadline_timer(esc, now))
        if not c.again:
            tells.append(_Tell(esc, previous, f"escalated:{esc.level}",
                               escalated_notice(esc, titles[esc.id]), False, now))
    conn = await s.connection()  # executemany: one statement per table for the whole batch
    if recipients:
        await conn.execute(insert(EscalationRecipient), recipients)
    if steps:
        await conn.execute(insert(EscalationStep), steps)
    await _push(s, tells)
    await schedule_many(s, new_timers)
    return done | {c.timer.id or 0 for c in climbs}


async def _without_lapses(s: AsyncSession, climbs: list[_Climb]) -> list[_Climb]:
    # An item whose latest step is a lapse tells the next level who let it lapse: one by one.
    if not climbs:
        return climbs
    latest = (select(func.max(EscalationStep.id))
              .where(col(EscalationStep.escalation_id).in_([c.esc.id for c in climbs]))
              .group_by(col(EscalationStep.escalation_id)))
    lapsed = set((await s.exec(select(EscalationStep.escalation_id).where(
        col(EscalationStep.id).in_(latest), EscalationStep.action == "lapsed"))).all())
    return [c for c in climbs if c.esc.id not in lapsed]


async def _level_people(s: AsyncSession, climbs: list[_Climb]) -> dict[int, list[int]]:
    # Items of the same unit and level share one query (the duty rota also by the time).
    cache: dict[tuple[Any, ...], list[int]] = {}
    out: dict[int, list[int]] = {}
    for c in climbs:
        levels = tuple(c.esc.chain[c.target]["notify"])
        duty = any(LEVEL_ROLES[n][1] == "duty" for n in levels)
        key = (levels, c.esc.college_id, c.esc.klass_id, c.timer.due_at if duty else None)
        if key not in cache:
            cache[key] = await level_recipients(s, levels, c.esc.college_id, c.esc.klass_id,
                                                at=c.timer.due_at)
        out[id(c)] = cache[key]
    return out


async def _titles(s: AsyncSession, climbs: list[_Climb]) -> dict[int, str]:
    klasses = {c.esc.klass_id for c in climbs if c.esc.klass_id is not None}
    names = dict((await s.exec(select(Klass.id, Klass.name).where(
        col(Klass.id).in_(klasses)))).all()) if klasses else {}
    return {c.esc.id or 0: titled(c.esc, names.get(c.esc.klass_id)) for c in climbs}


async def _push(s: AsyncSession, tells: list[_Tell]) -> None:
    # One query for everyone's chat account, one insert for every push (as push_to_people).
    best = await best_identities(s, {p for t in tells for p in t.people})
    pushes: list[Push] = []
    for t in tells:
        style = push_style(t.esc, t.reply, t.alert)
        payload: dict[str, Any] = {"reply": t.reply.to_json()}
        if style["alert"] is not None:
            payload["alert"] = style["alert"]
        pushes += [Push(key=f"esc:{t.esc.id}:{t.step_key}:{p}", channel=best[p].channel,
                        address=best[p].address, kind=style["kind"], payload=payload,
                        person_id=p, priority=style["priority"], at=t.at)
                   for p in sorted(set(t.people)) if p in best]
    if pushes:
        await enqueue_many(s, pushes, now=tells[0].at)
    for t in tells:
        await log_missed(s, t.esc, sorted(set(t.people) - set(best)))
