"""Whom a message about someone else names: the one student picked or named, if exactly one."""

from __future__ import annotations

from collections.abc import Collection

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.directory import peers
from xinqiao.storage.models import Person
from xinqiao.vocabulary import Rostered


async def named_student(s: AsyncSession, writer: Rostered | None, text: str,
                        picked: Collection[int] = ()) -> Person | None:
    """The student a third-party message is about: the one picked in the report being filled
    in, else a roommate or classmate of the writer named in the text, else someone on the
    whole roster named by full name (another class) — only when exactly one matches."""
    if writer is None:
        return None
    if len(picked) == 1:
        return await s.get(Person, next(iter(picked)))
    candidates: dict[int, Person] = {}
    for scope in ("dorm", "class"):
        for person in await peers(s, writer, scope):
            if person.id is not None and len(person.name) >= 2 and person.name in text:
                candidates[person.id] = person
    if len(candidates) == 1:
        return next(iter(candidates.values()))
    if not candidates:
        named = (await s.exec(
            select(Person).where(col(Person.active).is_(True),
                                 col(Person.name).in_(_names_in(text))))).all()
        if len(named) == 1:
            return named[0]
    return None


def _names_in(text: str) -> list[str]:
    """Candidate 2–4 character substrings: a bounded set, not a name recogniser."""
    clean = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
    found = {clean[i:i + n] for n in (2, 3, 4) for i in range(max(len(clean) - n + 1, 0))}
    return sorted(found)[:400]
