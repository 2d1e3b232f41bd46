"""Fallback to another channel, recipients marked unreachable, template delivery reports.

Fallback rule: when a push does not reach its recipient, a copy is queued on another bound,
reachable identity of the same person (never the console, never a channel already tried):
- alerts (kind ``alert`` or ``crisis``): on every non-delivery — a permanent refusal, a channel
  refusal (e.g. WeChat's 48 h window), a dead letter, or a failed template delivery report;
- conversation replies (kind ``reply``): never, they make no sense outside their chat;
- everything else (reminders, confirmations...): only when the channel refused this recipient
  for now (status ``fallback``), not on developer errors or dead letters.

An alert also falls back while its channel is down (:mod:`xinqiao.bot.breaker`) for longer than
``outbox_alert_fallback_seconds``. Then the original and its copy both wait; whichever goes out
first supersedes the other, so the person gets the alert once.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy import exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.sending import ALERT_KINDS, NO_FALLBACK_KINDS, SendStatus
from xinqiao.services.outbox import enqueue
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


async def mark_unreachable(session: AsyncSession, channel: str, address: str) -> bool:
    """Note that ``channel`` refused this address: pushes pick another identity from now on.

    The engine marks the identity reachable again on the next message from it.
    Returns whether an identity was changed.
    """
    result = await session.exec(
        update(ChannelIdentity)
        .where(col(ChannelIdentity.channel) == channel, col(ChannelIdentity.address) == address,
               col(ChannelIdentity.reachable).is_(True))
        .values(reachable=False)
    )
    changed = bool(result.rowcount)
    if changed:
        log.warning("%s identity marked unreachable (the platform refused it)", channel)
    return changed


def should_fallback(kind: str, why: str) -> bool:
    """Whether an undelivered push of ``kind`` goes to another channel (module docstring)."""
    if kind in ALERT_KINDS:
        return True
    if kind in NO_FALLBACK_KINDS:
        return False
    return why == SendStatus.fallback


def _fallback_key(key: str, channel: str) -> str:
    wanted = f"{key}:fallback:{channel}"
    if len(wanted) <= 128:  # the column's width
        return wanted
    return f"fb:{hashlib.sha256(key.encode()).hexdigest()[:64]}:{channel}"


async def enqueue_fallback(
    session: AsyncSession, row: OutboxMessage, now: datetime, why: str
) -> OutboxMessage | None:
    """Queue a copy of ``row`` on another channel of the same person, if the rule says so."""
    if not should_fallback(row.kind, why):
        return None
    tried, parent = {row.channel, "console"}, row.fallback_of
    while parent is not None and len(tried) < 10:
        earlier = await session.get(OutboxMessage, parent)
        if earlier is None:
            break
        tried.add(earlier.channel)
        parent = earlier.fallback_of
    person_id = row.person_id
    if person_id is None:
        own = (
            await session.exec(
                select(ChannelIdentity).where(
                    ChannelIdentity.channel == row.channel, ChannelIdentity.address == row.address
                )
            )
        ).first()
        person_id = own.person_id if own else None
    target = None
    if person_id is not None:
        target = (
            await session.exec(
                select(ChannelIdentity)
                .where(
                    col(ChannelIdentity.person_id) == person_id,
                    col(ChannelIdentity.channel).not_in(tried),
                    col(ChannelIdentity.reachable).is_(True),
                )
                .order_by(
                    col(ChannelIdentity.preferred).desc(),
                    col(ChannelIdentity.last_inbound_at).desc().nulls_last(),
                    col(ChannelIdentity.id),
                )
                .limit(1)
            )
        ).first()
    if target is None:
        log.error("outbox %s (%s) for person %s not delivered on %s (%s) and no other "
                  "reachable channel", row.id, row.kind, person_id, row.channel, why)
        return None
    copy = await enqueue(
        session,
        key=_fallback_key(row.idempotency_key, target.channel),
        channel=target.channel,
        address=target.address,
        kind=row.kind,
        payload=row.payload,
        now=now,
        person_id=person_id,
        priority=row.priority,
        fallback_of=row.id,
    )
    log.warning("outbox %s (%s) not delivered on %s (%s); fallback %s queued on %s",
                row.id, row.kind, row.channel, why, copy.id, target.channel)
    return copy


async def reconcile_template_delivery(
    session: AsyncSession, msgid: str, status: str, now: datetime
) -> OutboxMessage | None:
    """Apply a TEMPLATESENDJOBFINISH report; None if no WeChat push has that ``msgid`` (yet)."""
    if not msgid:
        return None
    row = (
        await session.exec(
            select(OutboxMessage)
            .where(OutboxMessage.channel == "wechat", OutboxMessage.provider_msg_id == msgid)
            .order_by(col(OutboxMessage.id).desc())
            .limit(1)
            .with_for_update()
        )
    ).first()
    if row is None:
        return None
    if status == "success":
        if row.status == OutboxStatus.sent:
            row.status = OutboxStatus.delivered
    elif status.startswith("failed"):
        # Accepted is not delivered (protocol.md §6.7): the recipient blocked or WeChat failed.
        if row.status in (OutboxStatus.sent, OutboxStatus.delivered):
            row.status = OutboxStatus.failed
            row.last_error = f"template delivery report: {status}"
            session.add(row)
            await enqueue_fallback(session, row, now, SendStatus.fallback)
    else:
        log.warning("unknown template delivery status %r for outbox %s", status, row.id)
    session.add(row)
    return row


async def fallback_while_down(
    session: AsyncSession, channel: str, now: datetime
) -> list[OutboxMessage]:
    """Copy every alert waiting on ``channel`` (which is down) to another channel, once.

    Only alerts whose person has another reachable channel are looked at: for the others
    there is nothing to do but wait, and nothing to log again on every round.
    """
    copy = aliased(OutboxMessage)
    other = aliased(ChannelIdentity)
    waiting = list(await session.exec(
        select(OutboxMessage).where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.status) == OutboxStatus.pending,
            col(OutboxMessage.kind).in_(ALERT_KINDS),
            ~exists().where(col(copy.fallback_of) == col(OutboxMessage.id)),
            exists().where(col(other.person_id) == col(OutboxMessage.person_id),
                           col(other.channel).not_in([channel, "console"]),
                           col(other.reachable).is_(True)),
        ).order_by(col(OutboxMessage.priority), col(OutboxMessage.id))
    ))
    copies = []
    for row in waiting:
        made = await enqueue_fallback(session, row, now, f"{channel} down")
        if made is not None:
            copies.append(made)
    return copies


async def delivered_elsewhere(session: AsyncSession, row: OutboxMessage) -> int | None:
    """The id of a copy of ``row`` (its original, or a fallback of it) already sent, if any."""
    if row.fallback_of is None and row.kind not in ALERT_KINDS:
        return None
    relatives = [col(OutboxMessage.fallback_of) == row.id]
    if row.fallback_of is not None:
        relatives.append(col(OutboxMessage.id) == row.fallback_of)
    found = (await session.exec(
        select(OutboxMessage.id).where(
            or_(*relatives),
            col(OutboxMessage.status).in_([OutboxStatus.sent, OutboxStatus.delivered]),
        ).limit(1)
    )).first()
    return found


async def supersede_relatives(session: AsyncSession, row: OutboxMessage) -> None:
    """``row`` was sent: its original and its other copies still waiting are not needed."""
    if row.fallback_of is None and row.kind not in ALERT_KINDS:
        return
    relatives = [col(OutboxMessage.fallback_of) == row.id]
    if row.fallback_of is not None:
        relatives.append(col(OutboxMessage.id) == row.fallback_of)
    await session.exec(
        update(OutboxMessage)
        .where(or_(*relatives), col(OutboxMessage.status) == OutboxStatus.pending)
        .values(status=OutboxStatus.superseded,
                last_error=f"delivered on {row.channel} as outbox {row.id}")
    )
