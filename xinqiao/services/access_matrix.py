"""The access matrix: which role may read or change which kind of record, and how far it reaches.

:mod:`xinqiao.services.access` checks a request against it; :mod:`xinqiao.services.access_doc`
writes it out for the docs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from xinqiao.storage.models import Role


class Kind(StrEnum):
    """The kinds of record the matrix covers."""

    screening = "screening"  # screening results: scores, bands, answers
    attention = "attention"  # a student's attention tier (routine / key / crisis)
    report = "report"  # reports from the network and the escalations they open
    case = "case"  # crisis cases: plan, follow-ups, decision
    appointment_note = "appointment_note"  # counselling appointments and their private notes
    audit_log = "audit_log"
    roster = "roster"  # who a student is: name, number, class, dorm
    safety_plan = "safety_plan"  # a student's safety plan: warning signs, people, lines
    practice = "practice"  # who practised reports in training (练习), never real data
    picture = "picture"  # one student's timeline (学生信息): the door; each line checks its kind
    aftercare = "aftercare"  # an aftercare round after an incident: whom it reaches, counts
    aftercare_answer = "aftercare_answer"  # a roommate's or classmate's aftercare answers


class Action(StrEnum):
    """Read a record, or change it (acknowledge, resolve, note, close, mark)."""

    read = "read"
    change = "change"


class Scope(StrEnum):
    """Whose records a grant reaches."""

    own = "own"  # the record is about the person themself
    recipient = "recipient"  # the item was sent to them
    counsellor = "counsellor"  # they are the appointment's (or the student's) counsellor
    team = "team"  # they are on the case team
    dorm = "dorm"  # students of the dorm they serve
    klass = "klass"  # students of the classes they serve
    college = "college"  # students of the colleges they serve
    school = "school"  # everyone


@dataclass(frozen=True)
class Grant:
    """One allowed (role, kind, action): the scopes it reaches and what part is shown."""

    scopes: tuple[Scope, ...]
    view: str = ""


R, K, A, S = Role, Kind, Action, Scope
_RECIPIENT = Grant((S.recipient,))
MATRIX: dict[tuple[Role, Kind, Action], Grant] = {
    (R.student, K.screening, A.read): Grant((S.own,), "summary"),
    (R.student, K.roster, A.read): Grant((S.own,)),
    (R.student, K.safety_plan, A.read): Grant((S.own,)),
    (R.student, K.safety_plan, A.change): Grant((S.own,)),
    (R.committee, K.practice, A.read): Grant((S.own,)),
    (R.informant, K.practice, A.read): Grant((S.own,)),
    (R.committee, K.report, A.read): _RECIPIENT,
    (R.committee, K.report, A.change): _RECIPIENT,
    (R.committee, K.roster, A.read): Grant((S.klass,)),
    (R.informant, K.report, A.read): _RECIPIENT,
    (R.informant, K.report, A.change): _RECIPIENT,
    (R.informant, K.roster, A.read): Grant((S.dorm,)),
    # An advisor sees which students of their own classes need attention (tiers, no answers).
    (R.class_advisor, K.attention, A.read): Grant((S.klass,)),
    # A student's picture opens for whoever follows their tier; each line is then filtered
    # by its own kind's grant (an advisor sees the items sent to them, not the screenings).
    (R.class_advisor, K.picture, A.read): Grant((S.klass,)),
    (R.class_advisor, K.report, A.read): _RECIPIENT,
    (R.class_advisor, K.report, A.change): _RECIPIENT,
    (R.class_advisor, K.roster, A.read): Grant((S.klass,)),
}
for _role in (R.college_lead, R.college_counsellor):
    MATRIX |= {
        (_role, K.attention, A.read): Grant((S.college,)),
        (_role, K.picture, A.read): Grant((S.college,)),
        (_role, K.report, A.read): _RECIPIENT,
        (_role, K.report, A.change): _RECIPIENT,
        (_role, K.case, A.read): Grant((S.college, S.team)),
        (_role, K.case, A.change): Grant((S.college, S.team)),
        (_role, K.roster, A.read): Grant((S.college,)),
    }
# A safety plan is read by whoever counsels the student: the college's psychological counsellor,
# a centre counsellor who has seen them, the team of their crisis case; the centre lead.
MATRIX |= {
    (R.college_lead, K.safety_plan, A.read): Grant((S.team,)),
    (R.college_counsellor, K.safety_plan, A.read): Grant((S.college, S.team)),
    (R.centre_staff, K.safety_plan, A.read): Grant((S.counsellor, S.team)),
    (R.centre_lead, K.safety_plan, A.read): Grant((S.school,)),
}
for _role in (R.centre_staff, R.centre_lead):
    MATRIX |= {
        (_role, K.screening, A.read): Grant((S.school,), "with answers"),
        (_role, K.attention, A.read): Grant((S.school,)),
        (_role, K.picture, A.read): Grant((S.school,)),
        (_role, K.report, A.read): _RECIPIENT,
        (_role, K.report, A.change): _RECIPIENT,
        (_role, K.case, A.read): Grant((S.school,)),
        (_role, K.case, A.change): Grant((S.school,)),
        (_role, K.roster, A.read): Grant((S.school,)),
        (_role, K.practice, A.read): Grant((S.school,)),
    }
MATRIX |= {
    (R.centre_staff, K.appointment_note, A.read): Grant((S.counsellor,)),
    (R.centre_staff, K.appointment_note, A.change): Grant((S.counsellor,)),
    (R.centre_lead, K.appointment_note, A.read): Grant((S.school,)),
    (R.centre_lead, K.appointment_note, A.change): Grant((S.school,)),
    (R.centre_lead, K.audit_log, A.read): Grant((S.school,)),
}

# Aftercare after an incident is the centre's: only it starts a round or follows its counts
# (never a list of names); a roommate's or classmate's answers are theirs to give, and reach
# staff only as the concern item a poor answer raises (the centre and the college counsellor).
MATRIX |= {
    (R.student, K.aftercare_answer, A.change): Grant((S.own,)),
    (R.centre_staff, K.aftercare_answer, A.read): Grant((S.school,), "as concern items"),
    (R.centre_lead, K.aftercare_answer, A.read): Grant((S.school,), "as concern items"),
}
for _role in (R.centre_staff, R.centre_lead):
    MATRIX |= {(_role, K.aftercare, A.read): Grant((S.school,), "counts"),
               (_role, K.aftercare, A.change): Grant((S.school,))}

# The flows that reach each kind: a refused start of one of them is audited as that kind.
FLOW_KINDS: dict[str, Kind] = {
    "my_results": K.screening, "student_results": K.screening, "attention": K.attention,
    "queue": K.report, "ack": K.report, "resolve": K.report, "cases": K.case,
    "booking_staff": K.appointment_note, "audit_log": K.audit_log, "student_lookup": K.roster,
    "safety_plan": K.safety_plan, "practice_log": K.practice, "aftercare": K.aftercare,
}
