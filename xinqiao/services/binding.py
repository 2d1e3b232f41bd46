"""Staff-side binding management: release a person's chat accounts and issue a new code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit, console_auth
from xinqiao.services.code_hash import hash_code, ring_of
from xinqiao.services.codes import new_activation_code
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, ConversationState, Person


@dataclass(frozen=True)
class Unbound:
    """What an unbind did."""

    name: str
    released: int
    new_code: str


async def unbind(
    db: Database,
    external_id: str,
    *,
    now: datetime,
    channel: str | None = None,
    actor_person_id: int | None = None,
) -> Unbound:
    """Release the person's bound chat accounts (one channel or all) and rotate their code.

    A lost phone or a binding made by someone else is fixed this way; the new code goes to
    the person through their advisor, so whoever held the old code cannot bind again. Only
    its keyed hash is stored: the returned code is the one chance to hand it out.
    Raises LookupError when no such person exists.
    """
    async with db.session() as s:
        person = (await s.exec(select(Person).where(Person.external_id == external_id))).first()
        if person is None or person.id is None:
            raise LookupError(external_id)
        return await unbind_person(s, person, now=now, channel=channel,
                                   actor_person_id=actor_person_id)


async def unbind_person(s: AsyncSession, person: Person, *, now: datetime,
                        channel: str | None = None, actor_person_id: int | None = None
                        ) -> Unbound:
    """:func:`unbind` in the caller's transaction (the console's 解除绑定)."""
    assert person.id is not None
    released = await _release(s, person.id, channel)
    await console_auth.end_all(s, person.id, now, "unbind")  # a lost phone: its browser too
    code = new_activation_code(set())
    person.activation_code = hash_code(ring_of(s), code)
    person.updated_at = now
    s.add(person)
    await audit.record(
        s, at=now, action="bind.release", actor_person_id=actor_person_id,
        subject_person_id=person.id, channel=channel or "all", released=released,
    )
    return Unbound(person.name, released, code)


async def new_code(s: AsyncSession, person: Person, *, now: datetime,
                   actor_person_id: int | None) -> str:
    """A fresh activation code for the person (the old one stops working); bindings stay.

    Only its keyed hash is stored: the returned code is the one chance to hand it out.
    """
    code = new_activation_code(set())
    person.activation_code = hash_code(ring_of(s), code)
    person.updated_at = now
    s.add(person)
    await audit.record(s, at=now, action="roster.code", actor_person_id=actor_person_id,
                       subject_person_id=person.id)
    return code


async def _release(s: AsyncSession, person_id: int, channel: str | None = None) -> int:
    """Unbind the person's chat accounts (one channel or all); return how many."""
    query = select(ChannelIdentity).where(ChannelIdentity.person_id == person_id)
    if channel is not None:
        query = query.where(ChannelIdentity.channel == channel)
    identities = list(await s.exec(query))
    for identity in identities:
        identity.person_id, identity.bound_at = None, None
        state = await s.get(ConversationState, identity.id)
        if state is not None:  # whatever they were filling in belonged to the person
            await s.delete(state)
        s.add(identity)
    return len(identities)


async def mark_left(
    db: Database, external_ids: list[str], *, now: datetime, actor_person_id: int | None = None
) -> tuple[int, list[str]]:
    """People who left the school (graduated, withdrew): inactive, unbound, retention clock on.

    Returns how many were marked and the ids not found on the roster. Their records stay until
    the retention policy's ``after_leaving_days`` have passed.
    """
    marked, unknown = 0, []
    async with db.session() as s:
        for external_id in external_ids:
            person = (await s.exec(
                select(Person).where(Person.external_id == external_id))).first()
            if person is None or person.id is None:
                unknown.append(external_id)
                continue
            if await leave_person(s, person, now=now, actor_person_id=actor_person_id):
                marked += 1
    return marked, unknown


async def leave_person(s: AsyncSession, person: Person, *, now: datetime,
                       actor_person_id: int | None = None) -> bool:
    """:func:`mark_left` for one person in the caller's transaction; False if already left."""
    if person.left_at is not None or person.id is None:
        return False
    person.active, person.left_at, person.updated_at = False, now, now
    s.add(person)
    released = await _release(s, person.id)
    await console_auth.end_all(s, person.id, now, "left")
    await audit.record(s, at=now, action="roster.leave", actor_person_id=actor_person_id,
                       subject_person_id=person.id, released=released)
    return True
