"""Concern-level words: ask the writer directly, and act on the answer, a refusal or silence.

A passive wish to die, hopelessness, feeling a burden or a goodbye with no plan is not yet the
crisis path, and not nothing either. The writer is asked, ASQ-style, whether they have thought of
ending their life (clinical.md §5): 有, 不想说 or no answer within ten minutes → the crisis path;
没有 → a warm offer and a concern item the centre reviews in working hours. Signals add up: a
second concern within a day, or one after a positive screening or a report about the same
student, or with a crisis-grade item open about them, is a crisis at once; an answer of 没有
joins an item already open about the student. A student's "开玩笑的" changes nothing; only
staff close items.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.services.crisis import raise_crisis
from xinqiao.services.escalation.engine import Subject
from xinqiao.services.item_links import join, open_items_about
from xinqiao.services.report_types import report_types
from xinqiao.services.timers import schedule
from xinqiao.storage.models import Person
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

if TYPE_CHECKING:
    from xinqiao.services.network import Network

CONCERN_EXPIRE = "concern.expire"
ASK_WAIT = timedelta(minutes=10)
MEMORY = timedelta(hours=24)
# The centre looks at a 没有 in working hours; it never climbs past the centre.
REVIEW_CHAIN = [{"notify": ["centre"], "ack_within_s": 8 * 3600.0, "working_hours": True}]
ANSWERS = ("yes", "no", "decline")


@dataclass(frozen=True)
class ConcernTexts:
    """The question, the replies and the words that answer it (xinqiao/data/concern.toml)."""

    question: str
    yes: str
    no: str
    decline: str
    no_reply: str
    again: str
    late: str
    words: dict[str, frozenset[str]]

    def answer_of(self, typed: str) -> str | None:
        """yes / no / decline for a typed answer, or None when it is none of them."""
        word = typed.strip().strip("。.!！~～,，…").lower()
        word = word.rstrip("啊呀吧哦呢的了嘛诶") or word  # 没有啊, 有的呢 …
        for answer in ("decline", "no", "yes"):
            if word in self.words[answer]:
                return answer
        # 没想过啊 / 有时候会 / 不想说了: the first words decide (没有 is checked before 有).
        for answer in ("decline", "no", "yes"):
            if any(len(w) > 1 and word.startswith(w) for w in self.words[answer]):
                return answer
        return None


@cache
def concern_texts() -> ConcernTexts:
    """The packaged texts, read once."""
    raw: dict[str, Any] = tomllib.loads(
        resources.files("xinqiao.data").joinpath("concern.toml").read_text(encoding="utf-8"))
    words = {a: frozenset(str(w).lower() for w in raw[f"{a}_words"]) | {str(raw[a]).lower()}
             for a in ANSWERS}
    return ConcernTexts(question=raw["question"], yes=raw["yes"], no=raw["no"],
                        decline=raw["decline"], no_reply=raw["no_reply"], again=raw["again"],
                        late=raw["late"], words=words)


async def adds_up(s: AsyncSession, person: Rostered | None, now: datetime) -> str | None:
    """Why an earlier signal about this person makes a concern a crisis now, or None."""
    if person is None or person.id is None:
        return None
    since = now - MEMORY
    earlier = (await s.exec(select(Report.kind).where(
        Report.subject_person_id == person.id, col(Report.created_at) >= since))).all()
    if ReportKind.concern in earlier or ReportKind.crisis in earlier:
        return "second signal within 24 h"
    filed = {t.kind for t in report_types().filed()}  # reports the network files on a form
    if any(k in filed for k in earlier):
        return "a report about the student within 24 h"
    positive = (await s.exec(select(ScreeningResult.id).where(
        ScreeningResult.person_id == person.id, col(ScreeningResult.positive).is_(True),
        col(ScreeningResult.created_at) >= since))).first()
    if positive is not None:
        return "a positive screening within 24 h"
    # Any open crisis-grade item about the student counts, not only a 危机预警: crisis words
    # may have joined an open crisis-grade report item instead of opening their own.
    open_crisis = (await s.exec(select(Escalation.id).where(
        Escalation.subject_person_id == person.id, Escalation.severity == Severity.crisis,
        Escalation.status != EscalationStatus.resolved))).first()
    return "an open crisis item" if open_crisis is not None else None


async def record_concern(s: AsyncSession, *, about: Rostered | None, detail: dict[str, Any],
                         now: datetime) -> Report:
    """Store the concern and start the ten-minute wait for an answer."""
    report = Report(
        kind=ReportKind.concern, reporter_person_id=about.id if about else None,
        subject_person_id=about.id if about else None,
        college_id=about.college_id if about else None,
        klass_id=about.klass_id if about else None, severity=Severity.routine, factors=[],
        answers={"source": "message", **detail}, created_at=now)
    s.add(report)
    await s.flush()
    await schedule(s, kind=CONCERN_EXPIRE, ref=str(report.id), due_at=now + ASK_WAIT, now=now)
    return report


async def settle(s: AsyncSession, network: Network, report_id: int, answer: str,
                 now: datetime) -> str:
    """Act on the writer's answer: "crisis", "review" (a concern item) or "late"."""
    report = await s.get(Report, report_id, with_for_update=True)
    if report is None or report.kind != ReportKind.concern:
        return "late"
    answers = dict(report.answers)
    if answers.get("answer") is not None:  # the wait already sent it on
        return "late"
    answers["answer"], answers["answered_at"] = answer, now.isoformat()
    report.answers = answers
    s.add(report)
    about = await s.get(Person, report.subject_person_id) if report.subject_person_id else None
    if answer in ("yes", "decline"):
        await _to_crisis(s, network, report, about, f"concern answered {answer}", now)
        return "crisis"
    # An item already open about the student takes the concern (its holders hear of it);
    # else the centre reviews it on its own item in working hours.
    host = next((e for e in (await open_items_about(s, report.subject_person_id)
                             if report.subject_person_id is not None else [])
                 if e.kind != "checkin_missing"), None)
    if host is not None and report.id is not None:
        await join(s, host, report.id, "关切跟进（学生回答：没有想过）", now)
        return "review"
    await network.escalations.open(
        s, Subject(key=f"concern:report:{report.id}", kind="concern", title="关切跟进",
                   college_id=report.college_id, klass_id=report.klass_id,
                   report_id=report.id, person_id=report.subject_person_id),
        Severity.routine, now, chain=REVIEW_CHAIN)
    return "review"


async def on_concern_expire(s: AsyncSession, network: Network, timer: Timer) -> None:
    """Timer: no answer within the wait → the crisis path."""
    report = await s.get(Report, int(timer.ref), with_for_update=True)
    if report is None or report.answers.get("answer") is not None:
        return
    report.answers = {**report.answers, "answer": "none",
                      "answered_at": timer.due_at.isoformat()}
    s.add(report)
    about = await s.get(Person, report.subject_person_id) if report.subject_person_id else None
    await _to_crisis(s, network, report, about, "concern unanswered", timer.due_at)


async def _to_crisis(s: AsyncSession, network: Network, report: Report, about: Rostered | None,
                     why: str, now: datetime) -> None:
    keep = ("message", "rule", "category", "identity_id", "channel")
    detail = {k: report.answers[k] for k in keep if k in report.answers}
    await raise_crisis(s, network, about=about, reporter=about, source="concern",
                       detail={**detail, "why": why, "concern_report": report.id}, now=now)
