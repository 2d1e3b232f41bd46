"""A student in the key or crisis tier who misses counselling is not left until they rebook.

The missed session may be the first sign that things got worse, so the student's counsellor
and their college counsellor get an alert (an escalation) at once, to follow up within 24 h;
unacknowledged, it climbs to the centre lead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.policy.policy import Policy
from xinqiao.services.booking.wording import words
from xinqiao.services.escalation.engine import Escalations, Subject
from xinqiao.services.escalation.record import item_title
from xinqiao.services.outbox import Priority
from xinqiao.services.recipients import push_to_people
from xinqiao.services.refs import item_ref
from xinqiao.storage.booking import Appointment
from xinqiao.storage.models import Person, Tier
from xinqiao.storage.reports import Escalation, EscalationRecipient, Severity

FOLLOW_UP_S = 24 * 3600.0
HIGH_RISK = frozenset({Tier.key, Tier.crisis})
NOSHOW_CHAIN: list[dict[str, Any]] = [
    {"notify": ["college_counsellor"], "ack_within_s": FOLLOW_UP_S, "working_hours": False},
    {"notify": ["centre_lead"], "ack_within_s": FOLLOW_UP_S, "working_hours": False},
]


async def alert_high_risk_noshow(
    s: AsyncSession, policy: Policy, appt: Appointment, now: datetime
) -> Escalation | None:
    """Open the follow-up item when a key- or crisis-tier student missed ``appt``."""
    student = await s.get(Person, appt.student_id)
    if student is None or Tier(student.tier) not in HIGH_RISK:
        return None
    escalations = Escalations(chain_for=lambda _: NOSHOW_CHAIN, calendar=policy.calendar(),
                              repeat_last=policy.repeat_last)
    severity = Severity.urgent if Tier(student.tier) is Tier.crisis else Severity.soon
    esc = await escalations.open(
        s, Subject(key=f"noshow:{appt.id}", kind="noshow", title=words().NOSHOW_ALERT_TITLE,
                   college_id=student.college_id, klass_id=student.klass_id,
                   person_id=student.id),
        severity, now, chain=NOSHOW_CHAIN)
    assert esc.id is not None
    # The student's own counsellor is at the first level too: they know the student best.
    already = (await s.exec(select(EscalationRecipient.id).where(
        EscalationRecipient.escalation_id == esc.id,
        EscalationRecipient.person_id == appt.counsellor_id))).first()
    if already is None:
        s.add(EscalationRecipient(escalation_id=esc.id, person_id=appt.counsellor_id, level=0,
                                  notified_at=now))
    await push_to_people(
        s, [appt.counsellor_id], key=f"esc:{esc.id}:counsellor", now=now, kind="alert",
        priority=Priority.crisis if severity is Severity.urgent else Priority.alert,
        reply=words().noshow_alert_push(item_ref(esc.id), await item_title(s, esc)))
    return esc
