"""Fallback to another channel, recipients marked unreachable, template delivery reports.

Fallback rule: when a push does not reach its recipient, a copy is queued on another bound,
reachable identity of the same person (never the console, never a channel already tried):
- alerts (kind ``alert`` or ``crisis``): on every non-delivery — a permanent refusal, a channel
  refusal (e.g. WeChat's 48 h window), a dead letter, or a failed template delivery report;
- conversation replies (kind ``reply``): never, they make no sense outside their chat;
- everything else (reminders, confirmations...): only when the channel refused this recipient
  for now (status ``fallback``), not on developer errors or dead letters.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime

from sqlalchemy import update
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
