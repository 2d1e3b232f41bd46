"""Screening invitations: which instruments a student is asked to do, and what became of them.

Campaign invitations come from ``services/campaigns``; a second-stage invitation comes from a
positive first-stage result whose instrument the policy maps to a second-stage instrument.
Finishing an instrument completes every open invitation to it; declining consent declines the
open ones (participation is voluntary: no more reminders).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.screening import ScreeningPolicy
from xinqiao.services.invitation_wording import words
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import push_to_people
from xinqiao.services.timers import schedule
from xinqiao.storage.campaigns import InvitationReason, InvitationStatus, ScreeningInvitation
from xinqiao.storage.reports import Timer

OPT_OUT_FLOW = "screening_optout"  # handlers/screening_optout: the reply 不参加
SECOND_STAGE_REMIND = "screening.second_stage.remind"
SECOND_STAGE_EXPIRE = "screening.second_stage.expire"


async def open_invitations(s: AsyncSession, person_id: int) -> list[ScreeningInvitation]:
    """The student's open invitations, soonest due first."""
    rows = await s.exec(
        select(ScreeningInvitation)
        .where(ScreeningInvitation.person_id == person_id,
               ScreeningInvitation.status == InvitationStatus.open)
        .order_by(col(ScreeningInvitation.due_at), col(ScreeningInvitation.id))
    )
    return list(rows.all())


async def complete(
    s: AsyncSession, person_id: int, instrument: str, result_id: int, now: datetime
) -> int:
    """Mark the student's open invitations to ``instrument`` done; return how many."""
    result = await s.exec(
        update(ScreeningInvitation)
        .where(col(ScreeningInvitation.person_id) == person_id,
               col(ScreeningInvitation.instrument) == instrument,
               col(ScreeningInvitation.status) == InvitationStatus.open.value)
        .values(status=InvitationStatus.done.value, completed_at=now, result_id=result_id)
    )
    return int(result.rowcount or 0)


async def decline(s: AsyncSession, person_id: int, now: datetime) -> int:
    """The student declined consent: their open invitations stop (no more reminders)."""
    result = await s.exec(
        update(ScreeningInvitation)
        .where(col(ScreeningInvitation.person_id) == person_id,
               col(ScreeningInvitation.status) == InvitationStatus.open.value)
        .values(status=InvitationStatus.declined.value, completed_at=now)
    )
    return int(result.rowcount or 0)


async def invite_second_stage(
    s: AsyncSession, policy: ScreeningPolicy, *, person_id: int, result_id: int,
    first_stage: str, now: datetime,
) -> ScreeningInvitation | None:
    """Schedule the second stage configured for ``first_stage``, if any; None otherwise."""
    instrument = policy.second_stage.get(first_stage)
    if instrument is None:
        return None
    key = f"s{result_id}:{instrument}"
    existing = (await s.exec(
        select(ScreeningInvitation).where(ScreeningInvitation.key == key))).first()
    if existing is not None:
        return existing
    invitation = ScreeningInvitation(
        key=key, person_id=person_id, instrument=instrument,
        reason=InvitationReason.second_stage, source_result_id=result_id,
        invited_at=now, due_at=now + timedelta(days=policy.second_stage_within_days))
    s.add(invitation)
    await s.flush()
    assert invitation.id is not None
    for n, days in enumerate(policy.second_stage_reminder_days):
        at = datetime.combine(local(now).date() + timedelta(days=days), policy.invite_at,
                              SHANGHAI)
        await schedule(s, kind=SECOND_STAGE_REMIND, ref=f"{invitation.id}:{n}", due_at=at,
                       now=now)
    await schedule(s, kind=SECOND_STAGE_EXPIRE, ref=str(invitation.id),
                   due_at=invitation.due_at, now=now)
    return invitation


async def on_second_stage_remind(s: AsyncSession, timer: Timer) -> None:
    """Remind the student of a second-stage invitation still open."""
    invitation_id = int(timer.ref.split(":", 1)[0])
    invitation = await s.get(ScreeningInvitation, invitation_id)
    if invitation is None or invitation.status != InvitationStatus.open:
        return
    wording = words()
    await push_to_people(s, [invitation.person_id], key=f"second_stage:{timer.ref}",
                         reply=wording.second_stage_reminder(invitation.due_at),
                         now=timer.due_at, kind="notice", priority=Priority.reminder,
                         alert=wording.second_stage_card(invitation.due_at))
    invitation.reminders_sent += 1
    s.add(invitation)


async def on_second_stage_expire(s: AsyncSession, timer: Timer) -> None:
    """The second-stage window passed: the invitation expires (the centre sees it open no more)."""
    invitation = await s.get(ScreeningInvitation, int(timer.ref))
    if invitation is None or invitation.status != InvitationStatus.open:
        return
    invitation.status = InvitationStatus.expired
    s.add(invitation)
