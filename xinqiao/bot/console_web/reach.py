"""Whose classes a page shows: the units the access matrix gives a person for attention reads.

测评 and 晴雨表 show counts per class, never a student, so they open to whoever sees which
students of a unit need attention (``Kind.attention``): a class advisor their classes, a
college their colleges, the centre every college.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.access import Action, Actor, Kind, classes_in_reach, colleges_in_reach
from xinqiao.storage.models import College, Klass

ATTENTION = (Kind.attention, Action.read)
# Creating and reminding a round reaches students of every college: a door only the centre
# holds (school-wide screening reads), asked of the matrix rather than of role names.
CENTRE = (Kind.screening, Action.read)


@dataclass(frozen=True)
class Reach:
    """Colleges reached whole (None: the whole school) and single classes reached besides."""

    colleges: frozenset[int] | None
    classes: frozenset[int]

    @property
    def school(self) -> bool:
        """Whether the whole school is in reach."""
        return self.colleges is None

    def covers(self, college_id: int | None, klass_id: int | None) -> bool:
        """Whether this class (of this college) is in reach."""
        return (self.colleges is None or college_id in self.colleges
                or klass_id in self.classes)


def reach_of(actor: Actor) -> Reach:
    """The units a person's attention reads reach."""
    return Reach(colleges_in_reach(actor, *ATTENTION), classes_in_reach(actor, *ATTENTION))


@dataclass(frozen=True)
class Unit:
    """A class as these pages list it."""

    klass_id: int
    klass: str
    college_id: int
    college: str


async def classes_of(s: AsyncSession, reach: Reach, college_id: int | None = None) -> list[Unit]:
    """The classes in reach (of one college if given), by college and class name."""
    query = select(Klass.id, Klass.name, College.id, College.name).join(
        College, col(College.id) == col(Klass.college_id))
    if college_id is not None:
        query = query.where(col(Klass.college_id) == college_id)
    if reach.colleges is not None:
        query = query.where(col(Klass.college_id).in_(reach.colleges)
                            | col(Klass.id).in_(reach.classes))
    rows = [Unit(k or 0, kn, c or 0, cn) for k, kn, c, cn in await s.exec(query)]
    # Sorted here, not in SQL: collations differ between backends, code points do not.
    return sorted(rows, key=lambda u: (u.college, u.klass, u.klass_id))


async def colleges_of(s: AsyncSession, reach: Reach) -> list[tuple[int, str]]:
    """The colleges in reach whole, by name."""
    query = select(College.id, College.name)
    if reach.colleges is not None:
        query = query.where(col(College.id).in_(reach.colleges))
    return sorted(((c or 0, n) for c, n in await s.exec(query)), key=lambda r: (r[1], r[0]))
