"""The network's moving parts bound to the policy: chains, check-in cadence, the work of its
calendar jobs (scheduled by ``scheduler.calendar_jobs``) and its timer handlers."""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import local
from xinqiao.policy.policy import Policy
from xinqiao.services import retention, screening_rounds
from xinqiao.services.aftercare import rounds as aftercare
from xinqiao.services.cases.lifecycle import FOLLOWUP, on_followup
from xinqiao.services.cases.records import CONTACT_DUE, on_contact_due
from xinqiao.services.concern import CONCERN_EXPIRE, on_concern_expire
from xinqiao.services.coverage import push_coverage
from xinqiao.services.escalation.batch import fire_deadlines
from xinqiao.services.escalation.engine import DEADLINE, Escalations, Subject
from xinqiao.services.invitations import (
    SECOND_STAGE_EXPIRE,
    SECOND_STAGE_REMIND,
    on_second_stage_expire,
    on_second_stage_remind,
)
from xinqiao.services.monthly.report import generate_monthly
from xinqiao.services.safety_followup import ASQ_WAIT, on_asq_wait
from xinqiao.services.timers import BatchHandler, TimerHandler, schedule
from xinqiao.storage.models import Klass
from xinqiao.storage.reports import CheckIn, Severity, Timer

log = logging.getLogger(__name__)
CHECKIN_DUE = "checkin.due"
RETENTION = "retention.purge"  # the next batch of a nightly purge too big for one transaction


def snapshot(policy: Policy, severity: Severity) -> list[dict[str, Any]]:
    """The policy's chain for a severity, as stored on a new escalation."""
    resolve, resolve_working = policy.resolve_within(severity)
    return [
        {"notify": [r.value for r in level.notify],
         "ack_within_s": level.ack_within.total_seconds(),
         "working_hours": level.working_hours,
         "resolve_within_s": resolve.total_seconds(),
         "resolve_working_hours": resolve_working}
        for level in policy.chain(severity)
    ]


def checkin_chain(policy: Policy) -> list[dict[str, Any]]:
    """A missing check-in climbs committee → class advisor → college (clock time)."""
    c = policy.checkin
    return [
        {"notify": ["committee"], "working_hours": False,
         "ack_within_s": (c.escalate_advisor_after - c.remind_committee_after).total_seconds()},
        {"notify": ["class_advisor"], "working_hours": False,
         "ack_within_s": (c.escalate_college_after - c.escalate_advisor_after).total_seconds()},
        # The college is the last stop: it sees the class as missing until it is submitted.
        {"notify": ["college"], "working_hours": False, "ack_within_s": 86400.0},
    ]


class Network:
    """Escalations under a policy, plus the check-in planner's timer handlers."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.escalations = Escalations(
            chain_for=lambda sev: snapshot(policy, sev),
            calendar=policy.calendar(),
            repeat_last=policy.repeat_last,
            resolve_within=policy.resolve_within,
            remind_every=policy.remind_every,
        )
        self.campaigns = screening_rounds.Campaigns(policy)

    def checkin_period(self, now: datetime) -> date:
        """The due date a check-in submitted now counts for."""
        return self.policy.checkin_period(local(now).date())

    def is_due(self, day: date) -> bool:
        """A check-in falls due this day: a day the policy names, unless it is a public holiday.

        An ordinary weekend day the policy names (a Sunday class meeting) is due; working hours
        govern the escalation deadlines that follow, not the due day itself.
        """
        if not self.policy.is_checkin_due(day):
            return False
        return not self.policy.calendar().is_holiday(day)

    def periods_between(self, first: date, last: date) -> list[date]:
        """Every check-in due date from ``first`` to ``last``, both included."""
        days = (first + timedelta(days=i) for i in range((last - first).days + 1))
        return [d for d in days if self.is_due(d)]

    def week_periods(self, now: datetime) -> list[date]:
        """This week's due dates so far, up to the one a check-in made now counts for."""
        today = local(now).date()
        monday = today - timedelta(days=today.isoweekday() - 1)
        upto = max(self.checkin_period(now), today)
        return self.periods_between(monday, min(upto, monday + timedelta(days=6)))

    def month_periods(self, month: date) -> list[date]:
        """The due dates of a calendar month."""
        first = month.replace(day=1)
        nxt = (first + timedelta(days=32)).replace(day=1)
        return self.periods_between(first, nxt - timedelta(days=1))

    def timer_batch_handlers(self) -> dict[str, BatchHandler]:
        """Kinds the sweeper may fire many at a time (see services.escalation.batch)."""
        return {DEADLINE: functools.partial(fire_deadlines, self.escalations)}

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """Handlers for the sweeper, by timer kind."""
        return {
            DEADLINE: self.escalations.on_deadline,
            CHECKIN_DUE: self._checkin_due,
            FOLLOWUP: on_followup,
            CONTACT_DUE: on_contact_due,
            SECOND_STAGE_REMIND: on_second_stage_remind,
            SECOND_STAGE_EXPIRE: on_second_stage_expire,
            RETENTION: self._purge_more,
            CONCERN_EXPIRE: lambda s, timer: on_concern_expire(s, self, timer),
            ASQ_WAIT: on_asq_wait(self.escalations),
            **self.campaigns.timer_handlers(),
            **aftercare.timer_handlers(),
        }

    async def open_checkins(self, s: AsyncSession, day: date, now: datetime) -> int:
        """Arm each class's check-in deadline on a due day; return how many (the daily job)."""
        # Nothing falls due on a public holiday: students are away and so are their advisors.
        if not self.is_due(day):
            return 0
        due = self.policy.checkin_due_at(day) + self.policy.checkin.remind_committee_after
        klass_ids = (await s.exec(select(Klass.id))).all()
        for klass_id in klass_ids:
            await schedule(s, kind=CHECKIN_DUE, ref=f"{klass_id}:{day.isoformat()}",
                           due_at=due, now=now)
        return len(klass_ids)

    async def open_rounds(self, s: AsyncSession, day: date, now: datetime) -> None:
        """Create the screening rounds opening on ``day`` (the daily job)."""
        await screening_rounds.plan_day(s, self.policy, day, now)

    def first_workday_of_month(self, day: date) -> bool:
        """Whether ``day`` is the month's first working day (the 月报 is generated then)."""
        calendar = self.policy.calendar()
        if not calendar.is_workday(day):
            return False
        return not any(calendar.is_workday(day.replace(day=d)) for d in range(1, day.day))

    async def purge(self, s: AsyncSession, day: date, now: datetime) -> None:
        """The nightly retention purge; a batch too big for one transaction goes on as timers."""
        await self._purge_batch(s, day.isoformat(), 0, now)

    async def coverage(self, s: AsyncSession, day: date, now: datetime) -> None:
        """Tell the college leads and the centre lead whom an alert could not reach today."""
        pushed = await push_coverage(s, day.isoformat(), now)
        log.info("coverage check %s: %s pushes", day.isoformat(), pushed)

    async def monthly(self, s: AsyncSession, day: date, now: datetime) -> None:
        """Generate last month's 月报 for every college to confirm."""
        month = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
        count = await generate_monthly(s, month, self.month_periods(month), now,
                                       self.policy.checkin_due_at)
        log.info("monthly reports for %s generated for %s colleges", month.isoformat()[:7],
                 count)

    async def _purge_more(self, s: AsyncSession, timer: Timer) -> None:
        day, n = timer.ref.rsplit(":", 1)
        await self._purge_batch(s, day, int(n), timer.due_at)

    async def _purge_batch(self, s: AsyncSession, day: str, n: int, now: datetime) -> None:
        counts = await retention.purge(s, self.policy.retention, now)
        if retention.full(counts):  # more to do: the next batch in its own transaction
            await schedule(s, kind=RETENTION, ref=f"{day}:{n + 1}", due_at=now, now=now)

    def missing_title(self, period: date) -> str:
        """What a missing check-in's reminders call it (a key period says so)."""
        title = f"班级心理晴雨表未提交（{period:%m-%d}）"
        if (key := self.policy.key_period(period)) is not None:
            title = f"重点时段（{key.name}）" + title
        return title

    async def _checkin_due(self, s: AsyncSession, timer: Timer) -> None:
        klass_id_text, day_text = timer.ref.split(":", 1)
        klass_id, period = int(klass_id_text), date.fromisoformat(day_text)
        done = (await s.exec(select(CheckIn.id).where(
            CheckIn.klass_id == klass_id, CheckIn.period == period))).first()
        if done is not None:
            return
        klass = await s.get(Klass, klass_id)
        if klass is None:
            return
        subject = Subject(key=f"checkin:{klass_id}:{period.isoformat()}",
                          kind="checkin_missing", title=self.missing_title(period),
                          college_id=klass.college_id, klass_id=klass_id)
        await self.escalations.open(s, subject, Severity.routine, timer.due_at,
                                    chain=checkin_chain(self.policy))
