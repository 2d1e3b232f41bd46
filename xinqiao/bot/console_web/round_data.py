"""测评 as data: the rounds a person may follow, their completion in scope and band counts.

Completion comes from ``services/campaign_report`` (what chat's 测评完成情况 shows): per class
for a college or an advisor, per college for the centre. Band distributions are counts per
college (never per class, never names), for the colleges and the centre only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.bot.console_web.reach import Reach, Unit
from xinqiao.clock import local
from xinqiao.services.forms.schema import FormSpec
from xinqiao.services.round_desk import band_counts
from xinqiao.services.screening_round_report import ClassCompletion, completion
from xinqiao.storage.campaigns import CampaignStatus, ScreeningCampaign

STATUS = {CampaignStatus.planned: "未开始", CampaignStatus.open: "进行中",
          CampaignStatus.closed: "已结束"}
LIST_LIMIT = 20


@dataclass(frozen=True)
class Progress:
    """Invited, completed and declined students of one unit (or the whole scope)."""

    name: str
    invited: int
    completed: int
    declined: int

    @property
    def percent(self) -> int:
        """Completed share of the invited, 0..100."""
        return round(100 * self.completed / self.invited) if self.invited else 0


@dataclass(frozen=True)
class Bands:
    """One college's results on one instrument: (band label, students) in band order."""

    college: str
    instrument: str
    counts: list[tuple[str, int]]

    @property
    def total(self) -> int:
        """Students with a result."""
        return sum(n for _, n in self.counts)


def status_label(campaign: ScreeningCampaign) -> str:
    """进行中 / 已结束 / 未开始."""
    return STATUS[CampaignStatus(campaign.status)]


def dates(campaign: ScreeningCampaign) -> str:
    """``09-07 10:00 — 09-21 10:00``."""
    return f"{local(campaign.opens_at):%m-%d %H:%M} — {local(campaign.closes_at):%m-%d %H:%M}"


def visible(campaign: ScreeningCampaign, reach: Reach, units: list[Unit]) -> bool:
    """Whether the round targets anyone in reach (a round for every college targets all)."""
    if reach.school or not campaign.college_ids:
        return True
    return bool(set(campaign.college_ids) & {u.college_id for u in units})


async def rounds_for(s: AsyncSession, reach: Reach, units: list[Unit]) -> list[ScreeningCampaign]:
    """The latest rounds this person may follow, newest first."""
    rows = await s.exec(select(ScreeningCampaign).order_by(
        col(ScreeningCampaign.opens_at).desc(), col(ScreeningCampaign.id).desc())
        .limit(LIST_LIMIT * 3))
    return [c for c in rows if visible(c, reach, units)][:LIST_LIMIT]


def _sum(name: str, rows: list[ClassCompletion]) -> Progress:
    return Progress(name, sum(r.invited for r in rows), sum(r.completed for r in rows),
                    sum(r.declined for r in rows))


async def progress(s: AsyncSession, campaign_id: int, reach: Reach,
                   units: list[Unit]) -> tuple[Progress, list[Progress]]:
    """The scope's total and its rows: colleges for the centre, else classes (lowest first)."""
    if reach.school:
        lines = await completion(s, campaign_id)
        per: dict[str, list[ClassCompletion]] = defaultdict(list)
        for line in lines:
            per[line.college].append(line)
        return _sum("全校", lines), [_sum(name, part) for name, part in sorted(per.items())]
    wanted = {(u.college, u.klass) for u in units}
    lines = []
    for college_id in sorted({u.college_id for u in units}):
        lines += [r for r in await completion(s, campaign_id, college_id)
                  if (r.college, r.klass) in wanted]
    rows = sorted((_sum(r.klass, [r]) for r in lines), key=lambda p: (p.percent, p.name))
    return _sum("合计", lines), rows


async def bands(s: AsyncSession, campaign: ScreeningCampaign, reach: Reach,
                colleges: list[tuple[int, str]], instruments: dict[str, FormSpec]) -> list[Bands]:
    """Band counts per college and instrument, for the colleges reached whole."""
    assert campaign.id is not None
    if not reach.school and not reach.colleges:
        return []  # an advisor: completion only, a class is too small to count bands in
    found = await band_counts(s, campaign.id, reach.colleges)
    result = []
    for college_id, name in colleges:
        for instrument_id in campaign.instruments:
            counts = found.get(college_id, {}).get(instrument_id, {})
            spec = instruments.get(instrument_id)
            order = [(b.id, b.label) for b in spec.bands] if spec is not None else \
                [(b, b) for b in sorted(counts)]
            title = spec.title if spec is not None else instrument_id
            result.append(Bands(name, title, [(label, counts.get(b, 0)) for b, label in order]))
    return result
