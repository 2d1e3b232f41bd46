"""Binding lockout beyond one chat account: per attempted id, and a ceiling for everyone.

A per-account counter alone lets many accounts guess one student's code; counting the wrong
codes typed for each 学号/工号 (from any account) stops that, and a global ceiling on wrong
codes per minute stops guessing spread over many ids.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import utc
from xinqiao.services import audit
from xinqiao.services.code_hash import ring_of, target_key
from xinqiao.settings import Settings
from xinqiao.storage.binding import BindGuard
from xinqiao.storage.models import AuditEntry, ChannelIdentity
from xinqiao.vocabulary import Account

FAILED = "bind.failed"


async def _guard(s: AsyncSession, external_id: str) -> tuple[str, BindGuard | None]:
    key = target_key(ring_of(s), external_id)
    return key, await s.get(BindGuard, key)


async def locked_until(s: AsyncSession, external_id: str, now: datetime) -> datetime | None:
    """When the lock on this attempted id ends, if it is locked now."""
    _key, guard = await _guard(s, external_id)
    if guard is not None and guard.locked_until is not None and utc(guard.locked_until) > now:
        return guard.locked_until
    return None


async def fail_on_account(s: AsyncSession, settings: Settings, account: Account,
                          now: datetime) -> int:
    """Count a wrong id or code typed on this chat account: the failures so far, this one
    included. At the allowed number the account locks for a while and counting starts over."""
    row = await s.get(ChannelIdentity, account.id)
    assert row is not None
    row.bind_failures += 1
    failures = row.bind_failures
    if failures >= settings.bind_max_failures:
        row.bind_failures = 0
        row.bind_locked_until = now + timedelta(minutes=settings.bind_lock_minutes)
    s.add(row)
    return failures


async def count_failure(
    s: AsyncSession, settings: Settings, external_id: str, *, now: datetime,
    subject_person_id: int | None,
) -> datetime | None:
    """Count a wrong code for this id; return the lock's end when this failure locks it."""
    key, guard = await _guard(s, external_id)
    if guard is None:
        guard = BindGuard(target=key, failures=0, updated_at=now)
    guard.failures += 1
    guard.updated_at = now
    until = None
    if guard.failures >= settings.bind_max_failures:
        guard.failures = 0
        until = guard.locked_until = now + timedelta(minutes=settings.bind_lock_minutes)
        await audit.record(
            s, at=now, action="bind.id_locked", actor_person_id=None,
            subject_person_id=subject_person_id, allowed=False,
            attempted_id=external_id.strip()[:64], minutes=settings.bind_lock_minutes,
        )
    s.add(guard)
    return until


async def clear(s: AsyncSession, external_id: str) -> None:
    """A successful binding forgets the id's earlier wrong codes."""
    _key, guard = await _guard(s, external_id)
    if guard is not None:
        await s.delete(guard)


async def over_ceiling(s: AsyncSession, settings: Settings, now: datetime) -> bool:
    """True when the whole service has seen its ceiling of wrong codes in the last minute."""
    count = (await s.exec(
        select(func.count()).select_from(AuditEntry).where(
            AuditEntry.action == FAILED, col(AuditEntry.at) > now - timedelta(minutes=1))
    )).one()
    return int(count) >= settings.bind_global_failures_per_minute
