"""Who is who on WeCom: roster userids bind staff without a code; students are not served.

WeCom is the staff channel. A person whose roster row names their WeCom userid is bound on
WeCom as soon as the roster is imported (or on their first message to the app), and that
account becomes where their alerts go; the person can still choose another channel later.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services import audit
from xinqiao.services.directory import STUDENT_ROLES, role_set
from xinqiao.storage.models import ChannelIdentity, Person
from xinqiao.vocabulary import Rostered

log = logging.getLogger(__name__)
WECOM = "wecom"


async def is_staff(s: AsyncSession, person_id: int) -> bool:
    """Whether the person holds a staff role (anything beyond student, committee, informant)."""
    return bool(await role_set(s, person_id) - STUDENT_ROLES)


async def prefer(s: AsyncSession, identity: ChannelIdentity) -> None:
    """Make ``identity`` its person's only preferred account (alerts go there)."""
    assert identity.person_id is not None
    await s.exec(update(ChannelIdentity).where(
        col(ChannelIdentity.person_id) == identity.person_id,
        col(ChannelIdentity.id) != identity.id).values(preferred=False))
    identity.preferred = True
    s.add(identity)


async def bind_by_roster(s: AsyncSession, identity: ChannelIdentity, person: Rostered,
                         now: datetime) -> None:
    """Bind a WeCom account to the person whose roster row names it; no code is spent."""
    assert person.id is not None
    identity.person_id, identity.bound_at = person.id, now
    identity.bind_failures, identity.bind_locked_until = 0, None
    identity.reachable = True
    s.add(identity)
    await s.flush()
    await prefer(s, identity)
    await audit.record(s, at=now, action="bind", actor_person_id=None,
                       subject_person_id=person.id, channel=WECOM, via="roster")


async def admit(s: AsyncSession, identity: ChannelIdentity, now: datetime) -> bool:
    """Bind an unbound WeCom sender by the roster; False if the person is not staff."""
    if identity.person_id is None:
        person = (await s.exec(select(Person).where(
            Person.wecom_userid == identity.address, col(Person.active).is_(True))
            .order_by(col(Person.id)))).first()
        if person is not None:
            if person.id is None or not await is_staff(s, person.id):
                return False  # never bound on WeCom, so nothing is ever pushed there
            await bind_by_roster(s, identity, person, now)
    if identity.person_id is None:
        return True  # unknown: may still bind with 绑定 工号 激活码
    return await is_staff(s, identity.person_id)


async def sync_roster(s: AsyncSession, school_id: int, now: datetime) -> int:
    """Bind every roster userid of the school on WeCom, and release accounts whose userid
    the roster no longer gives their person; returns how many accounts were bound."""
    people = {p.wecom_userid: p for p in (await s.exec(
        select(Person).where(Person.school_id == school_id, col(Person.active).is_(True),
                             col(Person.wecom_userid).is_not(None))
        .order_by(col(Person.id).desc()))).all()}  # the oldest row wins a duplicate
    school = set((await s.exec(select(Person.id).where(Person.school_id == school_id))).all())
    bound = 0
    accounts = {i.address: i for i in (await s.exec(
        select(ChannelIdentity).where(ChannelIdentity.channel == WECOM))).all()}
    for address, identity in accounts.items():
        owner = people.get(address)
        if identity.person_id in school and (owner is None or owner.id != identity.person_id):
            identity.person_id, identity.bound_at, identity.preferred = None, None, False
            s.add(identity)
    for userid, person in people.items():
        assert userid is not None and person.id is not None
        found = accounts.get(userid)
        if found is not None and found.person_id == person.id:
            continue
        if not await is_staff(s, person.id):
            continue  # students are not served on WeCom, not even through the roster
        await bind_by_roster(s, found or ChannelIdentity(channel=WECOM, address=userid,
                                                         created_at=now), person, now)
        bound += 1
    return bound


async def staff_by_userid(s: AsyncSession, userid: str) -> Person | None:
    """The active staff member a WeCom userid belongs to (their bound account, else the
    roster's column), or None: unknown, left, or not staff (students get no console)."""
    bound = (await s.exec(select(ChannelIdentity).where(
        ChannelIdentity.channel == WECOM, ChannelIdentity.address == userid))).first()
    person = await s.get(Person, bound.person_id) if bound and bound.person_id else None
    if person is None:
        person = (await s.exec(select(Person).where(Person.wecom_userid == userid)
                               .order_by(col(Person.id)))).first()
    if person is None or person.id is None or not person.active:
        return None
    return person if await is_staff(s, person.id) else None
