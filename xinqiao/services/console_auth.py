"""Console sign-in without passwords: one-time links asked for in chat, and browser sessions.

A staff member sends 登录 in chat and gets a link that works once, for five minutes, for them
only. Opening it starts a session: 30 minutes idle, 8 hours at most, ended by logout, by
revocation from another session, and by unbind or leaving the school. Tokens and cookies are
random (256 bits) and stored only as SHA-256 hashes.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.directory import STAFF_ROLES, role_set, roles_in, roles_of
from xinqiao.storage.console import ConsoleLoginToken, ConsoleSession
from xinqiao.storage.models import Person, Role, RoleAssignment
from xinqiao.vocabulary import Rostered

LINK_TTL = timedelta(minutes=5)
IDLE = timedelta(minutes=30)
ABSOLUTE = timedelta(hours=8)
TOUCH_EVERY = timedelta(minutes=1)  # the idle clock's grain: 30 minutes idle is 29 to 30
LOGIN_PATH = "/console/login"


def digest(token: str) -> str:
    """The stored form of a token or cookie."""
    return hashlib.sha256(token.encode()).hexdigest()


def may_use_console(roles: frozenset[Role]) -> bool:
    """Staff (advisors, colleges, the centre) may; students and the network's students not."""
    return bool(roles & STAFF_ROLES)


async def issue_link(s: AsyncSession, person: Rostered, channel: str, base_url: str,
                     now: datetime) -> str:
    """A fresh one-time login link for ``person`` (audited; its token is never stored)."""
    assert person.id is not None
    token = secrets.token_urlsafe(32)
    s.add(ConsoleLoginToken(token_hash=digest(token), person_id=person.id, channel=channel,
                            created_at=now, expires_at=now + LINK_TTL))
    await audit.record(s, at=now, action="console.link", actor_person_id=person.id,
                       channel=channel)
    return f"{base_url.rstrip('/')}{LOGIN_PATH}?token={token}"


async def usable_link(s: AsyncSession, token: str, now: datetime) -> ConsoleLoginToken | None:
    """The link's row while it may still be used (unused, unexpired), without using it."""
    if not token or len(token) > 128:
        return None
    row = (await s.exec(select(ConsoleLoginToken).where(
        ConsoleLoginToken.token_hash == digest(token)))).first()
    if row is None or row.used_at is not None or now >= row.expires_at:
        return None
    return row


@dataclass(frozen=True)
class Opened:
    """A session just started: the cookie value to set (shown once) and the session row."""

    cookie: str
    session: ConsoleSession


async def redeem(s: AsyncSession, token: str, now: datetime, user_agent: str) -> Opened | None:
    """Use a link: mark it used (exactly once, even against a concurrent use) and open a
    session, if its person may still use the console."""
    row = await usable_link(s, token, now)
    if row is None:
        return None
    taken = await s.exec(update(ConsoleLoginToken)
                         .where(col(ConsoleLoginToken.id) == row.id,
                                col(ConsoleLoginToken.used_at).is_(None))
                         .values(used_at=now))
    if taken.rowcount != 1:  # another request used it first
        return None
    person = await s.get(Person, row.person_id)
    if person is None or not person.active or not may_use_console(
            await role_set(s, row.person_id)):
        return None
    cookie = secrets.token_urlsafe(32)
    session = ConsoleSession(token_hash=digest(cookie), csrf=secrets.token_urlsafe(32),
                             person_id=row.person_id, created_at=now, last_seen_at=now,
                             user_agent=user_agent[:200])
    s.add(session)
    await s.flush()
    await audit.record(s, at=now, action="console.login", actor_person_id=row.person_id,
                       console_session=session.id)
    return Opened(cookie, session)


@dataclass(frozen=True)
class SignedIn:
    """A live session with its person and their role assignments, read once per request."""

    session: ConsoleSession
    person: Person
    assignments: list[RoleAssignment]

    @property
    def roles(self) -> frozenset[Role]:
        """The person's distinct roles."""
        return roles_in(self.assignments)


async def signed_in(s: AsyncSession, cookie: str | None, now: datetime,
                    touch: bool = True) -> SignedIn | None:
    """The live session of this cookie, its idle clock restarted (unless ``touch`` is False:
    a page refreshing itself is no sign of a person); an expired one is ended.

    Two statements on the way in (session with person, then roles): every console page pays
    them. The idle clock is written at most once a minute, so that a page that writes
    nothing else stays a read-only transaction.
    """
    if not cookie or len(cookie) > 128:
        return None
    found = (await s.exec(select(ConsoleSession, Person).outerjoin(
        Person, col(Person.id) == col(ConsoleSession.person_id)).where(
        ConsoleSession.token_hash == digest(cookie)))).first()
    if found is None or found[0].ended_at is not None:
        return None
    session, person = found
    reason = ("expired" if now >= session.created_at + ABSOLUTE
              else "idle" if now >= session.last_seen_at + IDLE else None)
    assignments = await roles_of(s, session.person_id) if reason is None else []
    if reason is None and (person is None or not person.active
                           or not may_use_console(roles_in(assignments))):
        reason = "no_longer_staff"  # left, or the roster took the staff role away
    if reason is not None or person is None:
        await end(s, session, now, reason or "no_longer_staff")
        return None
    if touch and now >= session.last_seen_at + TOUCH_EVERY:
        session.last_seen_at = now
        s.add(session)
    return SignedIn(session, person, assignments)


async def current(s: AsyncSession, cookie: str | None, now: datetime,
                  touch: bool = True) -> ConsoleSession | None:
    """The live session of this cookie (see :func:`signed_in`)."""
    found = await signed_in(s, cookie, now, touch)
    return found.session if found is not None else None


async def end(s: AsyncSession, session: ConsoleSession, now: datetime, reason: str) -> None:
    """End one session (logout, revoke, idle, expired ...)."""
    if session.ended_at is None:
        session.ended_at, session.end_reason = now, reason
        s.add(session)


async def end_all(s: AsyncSession, person_id: int, now: datetime, reason: str) -> int:
    """End every live session of a person (unbind, leaving); returns how many."""
    rows = list(await s.exec(select(ConsoleSession).where(
        ConsoleSession.person_id == person_id, col(ConsoleSession.ended_at).is_(None))))
    for session in rows:
        await end(s, session, now, reason)
    return len(rows)


async def live_sessions(s: AsyncSession, person_id: int, now: datetime) -> list[ConsoleSession]:
    """A person's sessions that have not ended or timed out, newest first."""
    rows = await s.exec(select(ConsoleSession).where(
        ConsoleSession.person_id == person_id, col(ConsoleSession.ended_at).is_(None))
        .order_by(col(ConsoleSession.id).desc()))
    return [r for r in rows
            if now < r.created_at + ABSOLUTE and now < r.last_seen_at + IDLE]
