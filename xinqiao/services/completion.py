"""Weekly check-in completion: which classes sent their check-ins for the due periods."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import utc
from xinqiao.storage.models import College, Klass
from xinqiao.storage.reports import CheckIn


@dataclass(frozen=True)
class ClassCompletion:
    """One class's check-ins for the due periods."""

    klass_id: int
    klass: str
    college_id: int
    college: str
    due: int
    submitted: int
    nothing_to_report: int
    missing: list[date] = field(default_factory=list)
    late: list[date] = field(default_factory=list)  # sent, but after their due moment

    @property
    def complete(self) -> bool:
        """True when every due period has a check-in."""
        return not self.missing


@dataclass(frozen=True)
class CollegeCompletion:
    """One college's classes and how many sent every due check-in."""

    college_id: int
    college: str
    classes: int
    complete: int
    due: int
    submitted: int

    @property
    def rate(self) -> float:
        """Share of classes with every check-in in (0.0 for a college without classes)."""
        return self.complete / self.classes if self.classes else 0.0


async def class_completion(
    session: AsyncSession,
    college_id: int | None,
    periods: list[date],
    *,
    school_id: int | None = None,
    due_at: Callable[[date], datetime] | None = None,
) -> list[ClassCompletion]:
    """Per class of one college (all colleges if None): due, submitted, missing periods;
    with ``due_at`` (a period's due moment) also the periods sent late."""
    wanted = sorted(set(periods))
    classes = select(Klass.id, Klass.name, College.id, College.name).join(
        College, col(College.id) == col(Klass.college_id)
    )
    if college_id is not None:
        classes = classes.where(col(Klass.college_id) == college_id)
    if school_id is not None:
        classes = classes.where(col(College.school_id) == school_id)
    # Sorted here, not in SQL: collations differ between backends, code points do not.
    rows = sorted((await session.exec(classes)).all(), key=lambda r: (r[3], r[1], r[0]))
    done: dict[int, dict[date, bool]] = defaultdict(dict)
    late: dict[int, list[date]] = defaultdict(list)
    if wanted and rows:
        # One narrow query for every class at once: (class, period, nothing-to-report) rows.
        checkins = (
            select(col(CheckIn.klass_id), col(CheckIn.period), col(CheckIn.nothing_to_report),
                   col(CheckIn.submitted_at))
            .join(Klass, col(Klass.id) == col(CheckIn.klass_id))
            .join(College, col(College.id) == col(Klass.college_id))
            .where(col(CheckIn.period).in_(wanted))
        )
        if college_id is not None:
            checkins = checkins.where(col(Klass.college_id) == college_id)
        if school_id is not None:
            checkins = checkins.where(col(College.school_id) == school_id)
        for kid, period, nothing, sent_at in (await session.exec(checkins)).all():
            done[kid][period] = bool(nothing)
            if due_at is not None and utc(sent_at) > due_at(period):
                late[kid].append(period)
    result: list[ClassCompletion] = []
    for klass_id, klass_name, cid, college_name in rows:
        assert klass_id is not None and cid is not None
        sent = done.get(klass_id, {})
        result.append(
            ClassCompletion(
                klass_id=klass_id,
                klass=klass_name,
                college_id=cid,
                college=college_name,
                due=len(wanted),
                submitted=len(sent),
                nothing_to_report=sum(sent.values()),
                missing=[p for p in wanted if p not in sent],
                late=sorted(late.get(klass_id, [])),
            )
        )
    return result


async def college_completion(
    session: AsyncSession, periods: list[date], *, school_id: int | None = None
) -> list[CollegeCompletion]:
    """Per college (of one school if given): classes, classes with every check-in, rate."""
    query = select(College.id, College.name)
    if school_id is not None:
        query = query.where(col(College.school_id) == school_id)
    colleges = sorted((await session.exec(query)).all(), key=lambda r: (r[1], r[0]))
    per_college: dict[int, list[ClassCompletion]] = defaultdict(list)
    for line in await class_completion(session, None, periods, school_id=school_id):
        per_college[line.college_id].append(line)
    result: list[CollegeCompletion] = []
    for cid, name in colleges:
        assert cid is not None
        lines = per_college.get(cid, [])
        result.append(
            CollegeCompletion(
                college_id=cid,
                college=name,
                classes=len(lines),
                complete=sum(1 for line in lines if line.complete),
                due=sum(line.due for line in lines),
                submitted=sum(line.submitted for line in lines),
            )
        )
    return result
