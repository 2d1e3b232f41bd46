"""转介: a counsellor refers a student to a colleague or to a hospital; the outcome is recorded.

A crisis referral to a hospital puts the student in the crisis pool: it opens their crisis case
(or adds to the open one), raises their tier to crisis as the counsellor's recorded decision, and
puts the counsellor on the case team.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.policy.policy import Policy
from xinqiao.services import audit
from xinqiao.services.booking.fair_access import book_for_student
from xinqiao.services.booking.wording import words
from xinqiao.services.cases import lifecycle as cases
from xinqiao.services.recipients import push_to_people
from xinqiao.services.tiers import change_tier
from xinqiao.storage.booking import Appointment, Referral
from xinqiao.storage.cases import CaseNote
from xinqiao.storage.models import Person, Tier
from xinqiao.vocabulary import Member, Rostered


async def refer(
    s: AsyncSession, by: Rostered, student: Rostered, now: datetime, *,
    to_counsellor: Person | None = None, hospital: str | None = None, crisis: bool = False,
    note: str | None = None, appointment_id: int | None = None, policy: Policy | None = None,
) -> Referral:
    """Record a referral (to ``to_counsellor`` or to ``hospital``) and tell who needs to know.

    A crisis referral to a colleague (with the ``policy``) books the student's earliest session
    with them, crisis-kept sessions included.
    """
    assert by.id is not None and student.id is not None
    if (to_counsellor is None) == (hospital is None):
        raise ValueError("refer to a counsellor or to a hospital, not both or neither")
    referral = Referral(student_id=student.id, appointment_id=appointment_id, by_id=by.id,
                        kind="counsellor" if to_counsellor else "hospital",
                        to_counsellor_id=to_counsellor.id if to_counsellor else None,
                        hospital=hospital[:200] if hospital else None, crisis=crisis,
                        note=note[:2000] if note else None, created_at=now)
    s.add(referral)
    await s.flush()
    if to_counsellor is not None:
        await push_to_people(s, [to_counsellor.id or 0], key=f"booking:referral:{referral.id}",
                             now=now, reply=words().referred_to_you_push(by.name, student.name))
        await push_to_people(s, [student.id], key=f"booking:referral:{referral.id}", now=now,
                             reply=words().referred_student_push(by.name, to_counsellor.name))
    if crisis:
        case = await cases.open_case(s, student, source="booking_referral", escalation_id=None,
                                     now=now)
        assert case.id is not None
        await cases.add_member(s, case, by.id, now)
        place = hospital or (to_counsellor.name if to_counsellor else "")
        s.add(CaseNote(case_id=case.id, at=now, author_person_id=by.id, kind="referral",
                       text=words().referral_case_note(by.name, place, note)))
        await change_tier(s, student, Tier.crisis, reason=f"crisis referral #{referral.id}",
                          now=now, decided_by=by.id)
        referral.case_id = case.id
        s.add(referral)
        if to_counsellor is not None and policy is not None:
            await book_for_student(s, policy, by, student, now, counsellor_id=to_counsellor.id,
                                   why="crisis_referral")
    await audit.record(s, at=now, action="booking.refer", actor_person_id=by.id,
                       subject_person_id=student.id, referral=referral.id, crisis=crisis)
    return referral


async def open_referrals(s: AsyncSession, student_id: int) -> list[Referral]:
    """The student's referrals whose outcome is not recorded yet, oldest first."""
    rows = await s.exec(select(Referral).where(Referral.student_id == student_id,
                                               col(Referral.outcome_at).is_(None))
                        .order_by(col(Referral.id)))
    return list(rows)


async def record_outcome(s: AsyncSession, referral: Referral, by: Member, outcome: str,
                         now: datetime) -> None:
    """How the referral went (e.g. 已就诊，诊断…); a crisis case gets it on its timeline."""
    referral.outcome, referral.outcome_at = outcome[:2000], now
    s.add(referral)
    if referral.case_id is not None:
        s.add(CaseNote(case_id=referral.case_id, at=now, author_person_id=by.id,
                       kind="referral_outcome", text=words().referral_outcome_note(outcome)))
    await audit.record(s, at=now, action="booking.referral.outcome", actor_person_id=by.id,
                       subject_person_id=referral.student_id, referral=referral.id)


@dataclass(frozen=True)
class Referred:
    """A recorded referral: its number and the crisis case it joined, if any."""

    id: int
    case_id: int | None


async def refer_from_appointment(
    s: AsyncSession, by: Rostered, appt_id: int, now: datetime, *, to_id: int | None,
    hospital: str | None, crisis: bool, note: str | None,
) -> Referred:
    """Refer the student of appointment ``appt_id`` (to the counsellor ``to_id`` or to
    ``hospital``)."""
    appt = await s.get(Appointment, appt_id)
    student = await s.get(Person, appt.student_id) if appt is not None else None
    assert appt is not None and student is not None
    to = await s.get(Person, to_id) if to_id else None
    referral = await refer(s, by, student, now, to_counsellor=to, hospital=hospital,
                           crisis=crisis, note=note, appointment_id=appt.id)
    return Referred(referral.id or 0, referral.case_id)
