"""Staff answer the person behind a crisis item through the bot, even if nobody knows who it is.

A crisis message from an unbound account reaches staff with no name and no phone: the chat
account it came from is the only way back. ``回复 N 文字`` sends the text to that account; the
writer's answers for the next day are passed back to the staff member who wrote. Every relay is
an escalation step and an audit line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from sqlalchemy import func
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Kind, actor_for, authorize, escalation_target
from xinqiao.services.directory import role_set
from xinqiao.services.escalation.record import step
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.services.pushed import Pushed
from xinqiao.services.recipients import push_to_people
from xinqiao.storage.models import ChannelIdentity, ConversationState
from xinqiao.storage.reports import Escalation, EscalationStatus, EscalationStep, Report
from xinqiao.vocabulary import Rostered

RELAY_FLOW = "relay_reply"
RELAY_WINDOW = timedelta(hours=24)


class RelayWording(Protocol):
    """The relay's two pushes; ``handlers/relay_texts`` is one, passed in by the relay flows."""

    def to_writer(self, staff: str, text: str) -> Pushed:
        """The staff member's words as the writer reads them."""
        ...

    def to_staff(self, esc_id: int, text: str) -> Pushed:
        """The writer's answer as the staff member reads it."""
        ...


@dataclass(frozen=True)
class Relayed:
    """The outcome of a relay: sent, or why not (refused, not from a chat, closed)."""

    outcome: Literal["sent", "refused", "not_chat", "closed"]


async def relay(s: AsyncSession, words: RelayWording, esc_id: int, staff: Rostered, text: str,
                now: datetime, leave: Callable[[ConversationState], None]) -> Relayed:
    """Send ``text`` from ``staff`` to the chat account that raised crisis item ``esc_id``;
    ``leave`` takes the writer's conversation out of its flow as the engine would."""
    esc = await s.get(Escalation, esc_id)
    target = await escalation_target(s, esc) if esc is not None else None
    actor = await actor_for(s, staff, await role_set(s, staff.id or 0))
    if not await authorize(s, actor, Kind.report, Action.change, target, now=now,
                           audit_as="escalation.relay", escalation=esc_id):
        return Relayed("refused")
    assert esc is not None and esc.id is not None
    report = await s.get(Report, esc.report_id) if esc.report_id else None
    identity_id = report.answers.get("identity_id") if report is not None else None
    identity = await s.get(ChannelIdentity, int(identity_id)) if identity_id else None
    if esc.kind != "crisis" or identity is None:
        return Relayed("not_chat")
    if esc.status == EscalationStatus.resolved:
        return Relayed("closed")
    assert identity.id is not None
    n = await _count(s, esc.id, "relayed")
    await enqueue(
        s, key=f"relay:{esc.id}:{n}", channel=identity.channel, address=identity.address,
        kind="reply", person_id=identity.person_id, priority=Priority.crisis, now=now,
        payload={"reply": words.to_writer(staff.name, text).to_json()})
    await step(s, esc, "relayed", now, actor=staff.id, note=text[:2000])
    # The writer's next messages go back to this staff member for a day (see RelayReplyFlow).
    state = await s.get(ConversationState, identity.id)
    if state is None:
        state = ConversationState(identity_id=identity.id, updated_at=now)
    leave(state)  # half-way through a form: it is kept to resume, as leaving for the menu does
    state.flow, state.step = RELAY_FLOW, "talk"
    state.data = {"escalation": esc.id, "staff": staff.id,
                  "until": (now + RELAY_WINDOW).isoformat()}
    state.choices = []
    s.add(state)
    return Relayed("sent")


async def pass_back(s: AsyncSession, words: RelayWording, esc_id: int, staff_id: int,
                    text: str, now: datetime) -> bool:
    """Forward the writer's answer to the staff member who relayed; False if they cannot get it."""
    esc = await s.get(Escalation, esc_id)
    if esc is None:
        return False
    n = await _count(s, esc_id, "relay_answer")
    reached = await push_to_people(s, [staff_id], key=f"relay-back:{esc_id}:{n}",
                                   reply=words.to_staff(esc_id, text),
                                   now=now, kind="crisis", priority=Priority.crisis)
    await step(s, esc, "relay_answer", now, recipients=reached, note=text[:2000])
    return bool(reached)


async def _count(s: AsyncSession, esc_id: int, action: str) -> int:
    rows = await s.exec(select(func.count()).select_from(EscalationStep).where(
        EscalationStep.escalation_id == esc_id, EscalationStep.action == action))
    return int(rows.one())
