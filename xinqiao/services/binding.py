"""Staff-side binding management: release a person's chat accounts and issue a new code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from xinqiao.services import audit
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
    the person through their advisor, so whoever held the old code cannot bind again.
    Raises LookupError when no such person exists.
    """
    async with db.session() as s:
        person = (await s.exec(select(Person).where(Person.external_id == external_id))).first()
        if person is None or person.id is None:
            raise LookupError(external_id)
        query = select(ChannelIdentity).where(ChannelIdentity.person_id == person.id)
        if channel is not None:
            query = query.where(ChannelIdentity.channel == channel)
        identities = list(await s.exec(query))
        for identity in identities:
            identity.person_id, identity.bound_at = None, None
            state = await s.get(ConversationState, identity.id)
            if state is not None:  # whatever they were filling in belonged to the person
                await s.delete(state)
            s.add(identity)
        taken = set(
            (await s.exec(
                select(Person.activation_code).where(
                    Person.school_id == person.school_id, col(Person.id) != person.id
                )
            )).all()
        )
        person.activation_code = new_activation_code(taken)
        person.updated_at = now
        s.add(person)
        await audit.record(
            s, at=now, action="bind.release", actor_person_id=actor_person_id,
            subject_person_id=person.id, channel=channel or "all", released=len(identities),
        )
        return Unbound(person.name, len(identities), person.activation_code)
