"""A crisis case's referrals out, family contact and return assessments (复学评估).

Each record is a row (free text encrypted) and a line in the case's timeline; the contacts it
owes (a referral's next contact, a return assessment's follow-ups) are ``CaseContactDue`` rows,
each with a durable timer that pushes the case lead once, at the start of that day's working
hours (the next workday's when the day is off), and shows as overdue until recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.policy.calendar import WorkingCalendar
from xinqiao.services.cases.view import CaseLike
from xinqiao.services.cases.wording import words
from xinqiao.services.recipients import level_recipients, push_to_people
from xinqiao.services.refs import case_ref
from xinqiao.services.timers import schedule
from xinqiao.storage.case_records import (
    CaseContactDue,
    CaseFamilyContact,
    CaseReferral,
    CaseReturn,
)
from xinqiao.storage.cases import Case, CaseNote, CaseStatus
from xinqiao.storage.reports import Timer
from xinqiao.vocabulary import Rostered

CONTACT_DUE = "case.contact_due"
CONSENT = {"student": "学生本人同意", "guardian": "监护人同意", "none": "未同意"}
RETURNING = {"leave": "休学后返校", "treatment": "治疗后返校"}
DUE_LABELS = {"referral": "转介后联系", "return": "复学随访"}


@dataclass(frozen=True)
class Referral:
    """What staff tell about a referral out."""

    institution: str
    on: date
    consent: str  # a key of CONSENT
    accompanied_by: str | None
    outcome: str | None
    next_contact_on: date | None


def day_start(calendar: WorkingCalendar, day: date) -> datetime:
    """When a reminder for ``day`` fires: its working hours' start, or the next workday's."""
    return calendar.next_working_start(datetime.combine(day, time(0), SHANGHAI))


async def _owe(s: AsyncSession, calendar: WorkingCalendar, case: CaseLike, kind: str,
               source_id: int, day: date, now: datetime) -> None:
    due = CaseContactDue(case_id=case.id or 0, kind=kind, source_id=source_id, due_on=day)
    s.add(due)
    await s.flush()
    await schedule(s, kind=CONTACT_DUE, ref=str(due.id), due_at=day_start(calendar, day), now=now)


def _note(case: CaseLike, by: Rostered, kind: str, text: str, now: datetime) -> CaseNote:
    return CaseNote(case_id=case.id or 0, at=now, author_person_id=by.id, kind=kind,
                    text=text[:2000])


async def record_referral(s: AsyncSession, calendar: WorkingCalendar, case: CaseLike, by: Rostered,
                          r: Referral, now: datetime) -> CaseReferral:
    """Record a referral out, note it in the timeline and owe its next contact."""
    row = CaseReferral(case_id=case.id or 0, institution=r.institution[:200], referred_on=r.on,
                       consent=r.consent, accompanied_by=(r.accompanied_by or None),
                       outcome=(r.outcome or "")[:2000] or None,
                       next_contact_on=r.next_contact_on, recorded_by=by.id or 0,
                       recorded_at=now)
    s.add(row)
    await s.flush()
    text = (f"转介至{r.institution}（{r.on:%m-%d}，{CONSENT[r.consent]}"
            f"{'，' + r.accompanied_by + '陪同' if r.accompanied_by else ''}）"
            f"{'：' + r.outcome if r.outcome else ''}"
            f"{f'；下次联系 {r.next_contact_on:%m-%d}' if r.next_contact_on else ''}")
    s.add(_note(case, by, "referral", text, now))
    if r.next_contact_on is not None:
        await _owe(s, calendar, case, "referral", row.id or 0, r.next_contact_on, now)
    return row


async def record_family(s: AsyncSession, case: CaseLike, by: Rostered, who: str, on: date,
                        agreed: str, now: datetime) -> CaseFamilyContact:
    """Record a contact with the family, noted in the timeline."""
    row = CaseFamilyContact(case_id=case.id or 0, who=who[:200], contacted_on=on,
                            agreed=agreed[:2000], recorded_by=by.id or 0, recorded_at=now)
    s.add(row)
    s.add(_note(case, by, "family", f"联系家人：{who}（{on:%m-%d}），商定：{agreed}", now))
    return row


async def record_return(s: AsyncSession, calendar: WorkingCalendar, case: CaseLike, by: Rostered,
                        returning_from: str, on: date, result: str, every_days: int,
                        times: int, now: datetime) -> CaseReturn:
    """Record a return assessment and owe its follow-ups every ``every_days`` days."""
    row = CaseReturn(case_id=case.id or 0, returning_from=returning_from, assessed_on=on,
                     result=result[:2000], every_days=every_days, times=times,
                     recorded_by=by.id or 0, recorded_at=now)
    s.add(row)
    await s.flush()
    s.add(_note(case, by, "return", f"复学评估（{RETURNING[returning_from]}，{on:%m-%d}）："
                f"{result}；之后每{every_days}天随访，共{times}次", now))
    for n in range(1, times + 1):
        await _owe(s, calendar, case, "return", row.id or 0, on + timedelta(days=every_days * n),
                   now)
    return row


async def owed(s: AsyncSession, case: CaseLike, today: date, ahead: int = 3
               ) -> list[CaseContactDue]:
    """Contacts not yet recorded: every overdue one, then the next ``ahead`` to come."""
    rows = list(await s.exec(select(CaseContactDue).where(
        CaseContactDue.case_id == case.id, col(CaseContactDue.done_at).is_(None))
        .order_by(col(CaseContactDue.due_on), col(CaseContactDue.id))))
    late = [d for d in rows if d.due_on < today]
    return late + [d for d in rows if d.due_on >= today][:ahead]


def due_line(due: CaseContactDue, today: date) -> str:
    """``03-10 转介后联系（已逾期）`` as the case view lists it."""
    state = "（已逾期）" if due.due_on < today else "（今天）" if due.due_on == today else ""
    return f"{due.due_on:%m-%d} {DUE_LABELS.get(due.kind, due.kind)}{state}"


async def record_contact(s: AsyncSession, case: CaseLike, due_id: int, by: Rostered, text: str,
                         now: datetime) -> CaseContactDue | None:
    """Record an owed contact as made (it stops being overdue) and note what happened."""
    due = await s.get(CaseContactDue, due_id)
    if due is None or due.case_id != case.id or due.done_at is not None:
        return None
    due.done_at, due.done_by = now, by.id
    s.add(due)
    s.add(_note(case, by, "contact", f"{DUE_LABELS.get(due.kind, due.kind)}"
                f"（{due.due_on:%m-%d}）：{text}", now))
    return due


@dataclass(frozen=True)
class Records:
    """Everything on record for a case's green channel, decrypted for an audited reader."""

    referrals: list[CaseReferral]
    family: list[CaseFamilyContact]
    returns: list[CaseReturn]


async def records(s: AsyncSession, case: CaseLike) -> Records:
    """The case's referrals, family contacts and return assessments, oldest first."""
    refs = await s.exec(select(CaseReferral).where(CaseReferral.case_id == case.id)
                        .order_by(col(CaseReferral.id)))
    fam = await s.exec(select(CaseFamilyContact).where(CaseFamilyContact.case_id == case.id)
                       .order_by(col(CaseFamilyContact.id)))
    ret = await s.exec(select(CaseReturn).where(CaseReturn.case_id == case.id)
                       .order_by(col(CaseReturn.id)))
    return Records(list(refs), list(fam), list(ret))


async def on_contact_due(s: AsyncSession, timer: Timer) -> None:
    """Timer handler: push the lead (the centre while there is none) once, on the day."""
    due = await s.get(CaseContactDue, int(timer.ref))
    case = await s.get(Case, due.case_id) if due is not None else None
    if due is None or due.done_at is not None or case is None or case.status != CaseStatus.open:
        return
    ref = case_ref(case.id)
    what = DUE_LABELS.get(due.kind, due.kind)
    if due.kind == "referral":
        referral = await s.get(CaseReferral, due.source_id)
        what += f"（{referral.institution}）" if referral is not None else ""
    people = ([case.lead_person_id] if case.lead_person_id is not None
              else await level_recipients(s, ["centre_lead", "centre"], None, None))
    await push_to_people(s, people, key=f"case-due:{due.id}", now=timer.due_at,
                         reply=words().contact_due_push(ref, local(timer.due_at).date(), what))
