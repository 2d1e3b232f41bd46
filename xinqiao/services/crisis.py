"""The crisis path: college + centre alerted at once, and the hotlines every crisis reply shows.

The reply itself is worded in ``handlers/crisis_texts.py``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.cases.lifecycle import open_case
from xinqiao.services.escalation.engine import Subject
from xinqiao.services.item_links import open_or_join
from xinqiao.services.report_types import report_types
from xinqiao.services.tiers import change_tier
from xinqiao.settings import Settings
from xinqiao.storage.models import Tier
from xinqiao.storage.reports import Escalation, Report, ReportKind, Severity
from xinqiao.vocabulary import Rostered

if TYPE_CHECKING:  # services/network registers the concern timers, which raise crises
    from xinqiao.services.network import Network


HOTLINES = ("· 全国心理援助热线 12356", "· 希望24热线（24小时）400-161-9995",
            "· 北京心理危机干预热线（24小时）010-82951332", "· 有生命危险请拨打 110 或 120")


def help_lines(settings: Settings) -> list[str]:
    """Where to get help right now: the hotlines, then the centre's duty phone if set."""
    lines = list(HOTLINES)
    if settings.centre_duty_phone:
        lines.append(f"· {settings.centre_name}值班电话 {settings.centre_duty_phone}")
    return lines


# Crisis words repeated within this time of the item's last push join it without a new push:
# a student writing several messages in a row must not flood the people holding her item.
REPEAT_QUIET = timedelta(minutes=10)


def _source_label(source: str, detail: dict[str, Any]) -> str:
    """Where a crisis signal came from, as staff read it (never its words)."""
    if source.startswith("screening:"):
        return f"危机预警（测评 {source.split(':', 1)[1].upper()}）"
    form = detail.get("form")
    if form:
        rtype = report_types().for_form(str(form))
        return f"危机预警（《{rtype.form_title if rtype else form}》中的文字）"
    return {"message": "危机预警（聊天消息）", "concern": "危机预警（关切追问后）"}.get(
        source, "危机预警")


async def raise_crisis(
    s: AsyncSession,
    network: Network,
    *,
    about: Rostered | None,
    reporter: Rostered | None,
    source: str,
    detail: dict[str, Any],
    now: datetime,
) -> Escalation:
    """Record the crisis, raise the student's tier pending review, alert college and centre.

    ``about`` is the student in danger if known (the reporter themselves, or a named roommate);
    with nobody known the centre alone is alerted. One open crisis escalation per student.
    """
    unit = about or reporter
    report = Report(
        kind=ReportKind.crisis, reporter_person_id=reporter.id if reporter else None,
        subject_person_id=about.id if about else None,
        college_id=unit.college_id if unit else None, klass_id=unit.klass_id if unit else None,
        severity=Severity.crisis, factors=["self_harm"], answers={"source": source, **detail},
        created_at=now,
    )
    s.add(report)
    await s.flush()
    if about is not None and about.id is not None:
        await change_tier(s, about, Tier.crisis, reason=f"automatic: {source}", now=now,
                          pending_review=True)
    key = f"crisis:person:{about.id}" if about is not None else f"crisis:report:{report.id}"
    # A student whose item is still open: the signal joins it (its holders hear of it) rather
    # than vanish into the open crisis item the key would return unchanged.
    esc = await open_or_join(
        network.escalations, s,
        Subject(key=key, kind="crisis", title="危机预警", college_id=report.college_id,
                klass_id=report.klass_id, report_id=report.id,
                person_id=about.id if about else None),
        Severity.crisis, now, source=_source_label(source, detail), quiet=REPEAT_QUIET)
    if about is not None:  # the crisis pool: a case followed up until staff close it
        await open_case(s, about, source=source, escalation_id=esc.id, now=now)
    return esc
