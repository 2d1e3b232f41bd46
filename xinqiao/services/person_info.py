"""What a person may read about themselves and look up: chat accounts, scope, a roster entry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.directory import STAFF_ROLES, people_in_scope, roles_of
from xinqiao.storage.models import ChannelIdentity, College, Klass, Person, Role
from xinqiao.vocabulary import Account as ChatAccount


@dataclass(frozen=True)
class Account:
    """One chat account bound to a person."""

    channel: str
    preferred: bool
    reachable: bool


@dataclass(frozen=True)
class ScopeLine:
    """One staff role assignment: the role, its unit ("klass", "college" or "school") and
    that unit's name, and how many people it covers."""

    role: Role
    unit: str
    unit_name: str | None
    people: int


async def accounts(s: AsyncSession, person_id: int) -> list[Account]:
    """The person's chat accounts, in the order they were bound."""
    rows = await s.exec(select(ChannelIdentity).where(ChannelIdentity.person_id == person_id)
                        .order_by(col(ChannelIdentity.id)))
    return [Account(i.channel, i.preferred, i.reachable) for i in rows]


async def prefer(s: AsyncSession, account: ChatAccount, person_id: int) -> None:
    """Make ``account`` the person's only preferred (and reachable) account."""
    here = await s.get(ChannelIdentity, account.id)
    assert here is not None
    await s.exec(
        update(ChannelIdentity)
        .where(col(ChannelIdentity.person_id) == person_id, col(ChannelIdentity.id) != here.id)
        .values(preferred=False)
    )
    here.preferred, here.reachable = True, True
    s.add(here)


async def staff_scope(s: AsyncSession, person_id: int) -> list[ScopeLine]:
    """One line per staff role assignment of the person."""
    lines: list[ScopeLine] = []
    for a in await roles_of(s, person_id):
        if Role(a.role) not in STAFF_ROLES:
            continue
        if a.klass_id is not None:
            klass = await s.get(Klass, a.klass_id)
            unit, name = "klass", klass.name if klass else None
        elif a.college_id is not None:
            college = await s.get(College, a.college_id)
            unit, name = "college", college.name if college else None
        else:
            unit, name = "school", None
        lines.append(ScopeLine(Role(a.role), unit, name, await people_in_scope(s, a)))
    return lines


async def by_id(s: AsyncSession, person_id: int) -> Person | None:
    """The roster entry with this id (active or not), if any."""
    return await s.get(Person, person_id)


async def by_number(s: AsyncSession, number: str) -> Person | None:
    """The roster entry with this 学号/工号 (active or not), if any."""
    return (await s.exec(select(Person).where(Person.external_id == number.strip()))).first()


async def active_by_number(s: AsyncSession, number: str) -> Person | None:
    """The active roster entry with this 学号/工号 (whom an account may bind to), if any."""
    return (await s.exec(select(Person).where(
        Person.external_id == number, col(Person.active).is_(True)))).first()
