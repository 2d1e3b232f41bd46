"""Attention tiers change only by a recorded decision or rule (design.md §2)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.directory import row_of
from xinqiao.storage.models import Tier
from xinqiao.storage.screening import TierChange
from xinqiao.vocabulary import Rostered

ORDER = {Tier.routine: 0, Tier.key: 1, Tier.crisis: 2}


async def change_tier(
    s: AsyncSession, who: Rostered, new: Tier, *, reason: str, now: datetime,
    decided_by: int | None = None, pending_review: bool = False, lower: bool = False,
) -> bool:
    """Move a person to ``new``; rules only ever raise a tier unless ``lower`` (a decision).

    Reads and writes the stored row (a flow's view of the person may be from the turn's start).
    """
    person = await row_of(s, who)
    assert person.id is not None
    old = Tier(person.tier)
    if new == old or (not lower and ORDER[new] < ORDER[old]):
        return False
    s.add(TierChange(person_id=person.id, old=old.value, new=new.value, reason=reason,
                     decided_by=decided_by, pending_review=pending_review, at=now))
    person.tier = new
    person.updated_at = now
    s.add(person)
    return True
