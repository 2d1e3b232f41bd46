"""PHQ-9 item 9 reaches a counsellor: outreach at once, urgent if the ASQ after it is not done.

clinical.md §1: any answer other than "not at all" on item 9 needs a human follow-up whatever
the total, and the ASQ comes straight after. A student who then abandons or refuses the ASQ
has told us something too: the outreach item becomes urgent and reaches the college as well.
Abandonment is found by a durable timer after the form idle time (a student still answering
moves it on), so a restart or a student who simply stops replying cannot lose it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import utc
from xinqiao.services.escalation.engine import Escalations, Subject
from xinqiao.services.severity import is_urgent
from xinqiao.services.timers import TimerHandler, schedule
from xinqiao.storage.models import ChannelIdentity, ConversationState
from xinqiao.storage.reports import (
    Escalation,
    EscalationStatus,
    Report,
    ReportKind,
    Severity,
    Timer,
)
from xinqiao.storage.screening import ScreeningResult
from xinqiao.vocabulary import Rostered

SAFETY = "asq"  # the suicide screener that follows a positive item 9
ASQ_WAIT = "screening.asq_wait"
REFUSAL = 2  # the ASQ's "不想回答"
TITLE = "测评提示自伤念头"
# Outreach: the centre's counsellors first (screening answers are theirs to see), then the lead.
OUTREACH_CHAIN: list[dict[str, Any]] = [
    {"notify": ["centre"], "ack_within_s": 3600.0, "working_hours": False},
    {"notify": ["centre_lead"], "ack_within_s": 3600.0, "working_hours": False},
]


def subject_key(person_id: int) -> str:
    """One open outreach item per student."""
    return f"screening:item9:{person_id}"


async def open_outreach(
    s: AsyncSession, escalations: Escalations, person: Rostered, result: ScreeningResult,
    *, idle_after: datetime, now: datetime,
) -> Escalation:
    """Open the outreach item for a positive item 9 and arm the ASQ abandonment timer."""
    assert person.id is not None and result.id is not None
    report = Report(kind=ReportKind.screening, reporter_person_id=person.id,
                    subject_person_id=person.id, college_id=person.college_id,
                    klass_id=person.klass_id, severity=Severity.soon,
                    answers={"source": f"screening:{result.instrument}", "result": result.id,
                             "item9": result.answers.get("q9")}, created_at=now)
    s.add(report)
    await s.flush()
    esc = await escalations.open(
        s, Subject(key=subject_key(person.id), kind="screening", title=TITLE,
                   college_id=person.college_id, klass_id=person.klass_id,
                   report_id=report.id, person_id=person.id),
        Severity.soon, now, chain=OUTREACH_CHAIN)
    await schedule(s, kind=ASQ_WAIT, ref=str(result.id), due_at=idle_after, now=now)
    return esc


async def _open_item(s: AsyncSession, person_id: int) -> Escalation | None:
    return (await s.exec(select(Escalation).where(
        Escalation.subject == subject_key(person_id),
        Escalation.status != EscalationStatus.resolved))).first()


async def make_urgent(s: AsyncSession, escalations: Escalations, person_id: int,
                      why: str, now: datetime) -> bool:
    """Raise the student's outreach item to urgent (college and centre); False if none open."""
    esc = await _open_item(s, person_id)
    if esc is None or is_urgent(esc.severity):
        return False
    await escalations.intensify(s, esc, Severity.urgent, now, title=f"{TITLE}（{why}）",
                                note=why)
    return True


async def after_safety_screen(s: AsyncSession, escalations: Escalations, person: Rostered,
                              result: ScreeningResult, now: datetime) -> None:
    """An ASQ result: acute hands over to the crisis item, a refusal makes outreach urgent."""
    assert person.id is not None
    if result.acute:  # the crisis item now carries it: one item for the counsellors
        await escalations.close_subject(s, subject_key(person.id), now, None,
                                        "ASQ acute: followed up as a crisis item")
    elif any(v == REFUSAL for v in result.answers.values()):
        await make_urgent(s, escalations, person.id, "ASQ 拒答", now)


def on_asq_wait(escalations: Escalations) -> TimerHandler:
    """Timer handler: no ASQ since the PHQ-9 and the student is not answering it → urgent."""

    async def handle(s: AsyncSession, timer: Timer) -> None:
        first = await s.get(ScreeningResult, int(timer.ref))
        if first is None:
            return
        done = (await s.exec(select(ScreeningResult.id).where(
            ScreeningResult.person_id == first.person_id,
            ScreeningResult.instrument == SAFETY,
            col(ScreeningResult.created_at) >= first.created_at))).first()
        if done is not None:
            return
        idle = utc(timer.due_at) - utc(first.created_at)
        latest = await _last_asq_answer(s, first.person_id)
        if latest is not None and latest + idle > timer.due_at:  # still answering, slowly
            await schedule(s, kind=ASQ_WAIT, ref=timer.ref, due_at=latest + idle,
                           now=timer.due_at, token=timer.token + 1)
            return
        await make_urgent(s, escalations, first.person_id, "ASQ 未完成", timer.due_at)

    return handle


async def _last_asq_answer(s: AsyncSession, person_id: int) -> datetime | None:
    """When the student last moved in an ASQ still on screen, if one is."""
    rows = await s.exec(select(ConversationState).join(
        ChannelIdentity, col(ChannelIdentity.id) == col(ConversationState.identity_id)).where(
        ChannelIdentity.person_id == person_id, ConversationState.flow == "screening"))
    times = [utc(state.updated_at) for state in rows
             if (state.data.get("form") or state.data.get("inst")) == SAFETY
             and state.step is not None]  # "inst": conversations stored before the runner
    return max(times) if times else None
