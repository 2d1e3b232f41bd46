"""What the 花名册 page reads: people found by name or number, a person's accounts, the units
no alert can reach, and uploaded files waiting for their confirm.

An uploaded file waits on disk (mode 0600, in a directory only the service reads) under a
random token and its uploader's id, so the preview survives a reload and only its uploader
can confirm it; nothing reaches the database before the confirm.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.recipients import unreachable
from xinqiao.storage.models import (
    ChannelIdentity,
    College,
    Dorm,
    Klass,
    Person,
    Role,
    RoleAssignment,
)

UPLOADS = Path(tempfile.gettempdir()) / "xinqiao-roster-uploads"
SUFFIXES = (".xlsx", ".csv")
STALE_SECONDS = 24 * 3600
TOKEN = re.compile(r"[A-Za-z0-9_-]{16,64}")
FOUND_MAX = 50
CHANNELS = {"wechat": "微信公众号", "telegram": "Telegram", "console": "终端"}
ROLE_NAMES = {Role.student: "学生", Role.committee: "心理委员", Role.informant: "宿舍信息员",
              Role.class_advisor: "辅导员", Role.college_lead: "学院负责人",
              Role.college_counsellor: "学院心理辅导员", Role.centre_staff: "心理中心老师",
              Role.centre_lead: "中心主任"}
WHY = {"unbound": "未绑定", "unreachable": "消息送不到"}


# --- uploads waiting for their confirm ---------------------------------------------------


def keep_upload(person_id: int, suffix: str, data: bytes) -> str:
    """Store an uploaded file for its preview; return its token. Old leftovers are removed."""
    UPLOADS.mkdir(mode=0o700, exist_ok=True)
    # A shared temp directory: refuse one someone else made (or linked) to read our files.
    info = os.lstat(UPLOADS)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{UPLOADS} is not a private directory of this service")
    cutoff = time.time() - STALE_SECONDS
    for old in UPLOADS.iterdir():
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    token = secrets.token_urlsafe(18)
    path = UPLOADS / f"{person_id}-{token}{suffix}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return token


def upload_of(person_id: int, token: str) -> Path | None:
    """The file this person uploaded under ``token``, if it is still waiting."""
    if not TOKEN.fullmatch(token):
        return None
    for suffix in SUFFIXES:
        path = UPLOADS / f"{person_id}-{token}{suffix}"
        if path.is_file():
            return path
    return None


# --- people --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """One person in a search result."""

    id: int
    name: str
    number: str
    roles: str
    unit: str
    active: bool


async def search(s: AsyncSession, words: str, colleges: frozenset[int] | None) -> list[Found]:
    """People whose name contains ``words`` or whose 学号/工号 starts with it, in reach."""
    query = select(Person).where(or_(col(Person.name).contains(words, autoescape=True),
                                     col(Person.external_id).startswith(words, autoescape=True)))
    if colleges is not None:
        query = query.where(col(Person.college_id).in_(colleges or {0}))
    return await describe(s, list(await s.exec(
        query.order_by(col(Person.external_id)).limit(FOUND_MAX))))


async def describe(s: AsyncSession, people: list[Person]) -> list[Found]:
    """People as a search lists them: roles and units in words."""
    ids = [p.id for p in people if p.id is not None]
    roles: dict[int, list[str]] = {}
    for pid, role in await s.exec(select(RoleAssignment.person_id, RoleAssignment.role)
                                  .where(col(RoleAssignment.person_id).in_(ids or [0]))
                                  .order_by(col(RoleAssignment.id))):  # the same every time
        label = ROLE_NAMES.get(Role(role), role)
        if label not in roles.setdefault(pid, []):
            roles[pid].append(label)
    names = await unit_names(s, people)
    return [Found(p.id or 0, p.name, p.external_id, "、".join(roles.get(p.id or 0, [])),
                  names.get(p.id or 0, ""), p.active) for p in people]


async def unit_names(s: AsyncSession, people: list[Person]) -> dict[int, str]:
    """``college class`` for each person."""
    colleges = dict((await s.exec(select(College.id, College.name))).all())
    klasses = dict((await s.exec(select(Klass.id, Klass.name).where(
        col(Klass.id).in_({p.klass_id for p in people if p.klass_id} or {0})))).all())
    return {p.id or 0: " ".join(x for x in (colleges.get(p.college_id),
                                            klasses.get(p.klass_id)) if x) for p in people}


@dataclass(frozen=True)
class Account:
    """One chat account of a person: channel, when bound, whether pushes reach it."""

    channel: str
    bound_at: datetime | None
    last_seen: datetime | None
    reachable: bool


async def accounts(s: AsyncSession, person_id: int) -> list[Account]:
    """The person's bound chat accounts, by channel."""
    rows = await s.exec(select(ChannelIdentity).where(ChannelIdentity.person_id == person_id)
                        .order_by(col(ChannelIdentity.channel), col(ChannelIdentity.id)))
    return [Account(CHANNELS.get(i.channel, i.channel), i.bound_at, i.last_inbound_at,
                    i.reachable) for i in rows]


# --- coverage gaps -----------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A unit where nobody of a role that must hear its alerts can be reached."""

    college: str
    unit: str
    role: str
    holders: tuple[str, ...]  # who holds the role there but cannot be reached, and why


# Per unit kind: the roles whose reach matters there (the escalation chain's levels, and the
# dorm's informant who files its reports).
LEVELS = {"klass": (Role.class_advisor,), "college": (Role.college_lead, Role.college_counsellor),
          "dorm": (Role.informant,)}
LEVEL_LABELS = {"klass": "辅导员", "college": "学院负责人或心理辅导员", "dorm": "宿舍信息员"}


async def gaps(s: AsyncSession, colleges: frozenset[int] | None) -> list[Gap]:
    """Classes, colleges and dorms (in reach) with nobody reachable at their alert level."""
    wanted = [r.value for roles in LEVELS.values() for r in roles]
    rows = (await s.exec(select(RoleAssignment, Person)
                         .join(Person, col(Person.id) == RoleAssignment.person_id)
                         .where(col(RoleAssignment.role).in_(wanted),
                                col(Person.active).is_(True))
                         .order_by(col(RoleAssignment.id)))).all()  # names in a fixed order
    gone = await unreachable(s, [p.id for _, p in rows if p.id is not None])
    holders: dict[tuple[str, int], list[tuple[str, str | None]]] = {}
    for ra, person in rows:
        kind = next(k for k, roles in LEVELS.items() if Role(ra.role) in roles)
        unit = {"klass": ra.klass_id or person.klass_id, "dorm": ra.dorm_id or person.dorm_id,
                "college": ra.college_id or person.college_id}[kind]
        if unit is not None:
            holders.setdefault((kind, unit), []).append(
                (person.name, WHY.get(gone.get(person.id or 0, ""))))
    college_names = dict((await s.exec(select(College.id, College.name))).all())
    units: list[tuple[str, int, str, str]] = []
    for cid, name in college_names.items():
        if colleges is None or cid in colleges:
            units.append(("college", cid or 0, name, name))
    for kid, name, cid in await s.exec(select(Klass.id, Klass.name, Klass.college_id)):
        if colleges is None or cid in colleges:
            units.append(("klass", kid or 0, college_names.get(cid, ""), name))
    dorm_query = select(Dorm.id, Dorm.name).where(col(Dorm.id).in_(
        select(Person.dorm_id).where(col(Person.active).is_(True),
                                     col(Person.dorm_id).is_not(None),
                                     *([col(Person.college_id).in_(colleges or {0})]
                                       if colleges is not None else []))))
    for did, name in await s.exec(dorm_query):
        units.append(("dorm", did or 0, "宿舍", name))
    found = []
    for kind, unit_id, college, name in units:
        held = holders.get((kind, unit_id), [])
        if all(why is not None for _, why in held):
            found.append(Gap(college, name, LEVEL_LABELS[kind],
                             tuple(f"{who}（{why}）" for who, why in held)))
    return sorted(found, key=lambda g: (g.college, g.unit))
