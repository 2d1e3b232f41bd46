"""One student's timeline for the 关注名单 page: chat's 学生信息 picture, laid out as links.

The rows come from ``services/student_timeline`` (each filtered by the access matrix as its own
page would be) and are worded as chat words them (``handlers/student_picture``); here each
line only gains the page it opens. The page is one read, audited once by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.handlers.student_picture import row_text
from xinqiao.services.access import Actor
from xinqiao.services.student_timeline import Picture, Row, RowKind, picture
from xinqiao.storage.models import Person

_CASES = (RowKind.case_opened, RowKind.case_closed)
_ITEMS = (RowKind.report, RowKind.mention, RowKind.item)


@dataclass(frozen=True)
class Line:
    """One line of the timeline; ``href`` is the page it opens (empty: none yet)."""

    at: datetime
    kind: str  # a CSS class: screening, report, mention, booking, noshow, item, case, tier
    text: str
    href: str = ""


def _line(row: Row) -> Line:
    href = f"/console/items/{row.record_id}" if row.kind in _ITEMS else \
        f"/console/cases/{row.record_id}" if row.kind in _CASES else ""
    kind = "case" if row.kind in _CASES else row.kind.value
    return Line(row.at, kind, row_text(row), href)


async def timeline(s: AsyncSession, actor: Actor, student: Person,
                   content_dir: Path | None) -> tuple[list[Line], Picture]:
    """Newest first, as far as the reader's grants reach; and the picture it came from (for
    whether the student has a safety plan)."""
    found = await picture(s, actor, student, content_dir)
    return [_line(r) for r in found.rows], found
