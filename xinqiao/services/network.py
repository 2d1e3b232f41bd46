"""The network's moving parts bound to the policy: chains, check-in cadence, timer handlers."""

from __future__ import annotations

import functools
import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.clock import SHANGHAI, local
from xinqiao.scheduler.calendar import holiday_name
from xinqiao.scheduler.policy import Policy
from xinqiao.services import campaigns, retention
from xinqiao.services.cases import FOLLOWUP, on_followup
from xinqiao.services.concern import CONCERN_EXPIRE, on_concern_expire
from xinqiao.services.coverage import COVERAGE, push_coverage
from xinqiao.services.escalation import DEADLINE, Escalations, Subject
from xinqiao.services.escalation_batch import fire_deadlines
from xinqiao.services.invitations import (
    SECOND_STAGE_EXPIRE,
    SECOND_STAGE_REMIND,
    on_second_stage_expire,
    on_second_stage_remind,
)
from xinqiao.services.monthly import generate_monthly
from xinqiao.services.safety_followup import ASQ_WAIT, on_asq_wait
from xinqiao.services.timers import BatchHandler, TimerHandler, schedule
from xinqiao.storage.models import Klass
from xinqiao.storage.reports import CheckIn, Severity, Timer

log = logging.getLogger(__name__)
PLAN = "plan.daily"
CHECKIN_DUE = "checkin.due"
MONTHLY = "monthly.generate"
PLAN_AT = time(0, 5)  # local time the daily plan runs
MONTHLY_AT = time(9, 0)  # local time the monthly reports are generated
RETENTION = "retention.purge"
RETENTION_AT = time(3, 30)  # local time of the nightly purge
COVERAGE_AT = time(8, 30)  # local time of the coverage check, on workdays


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
        self.campaigns = campaigns.Campaigns(policy)

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
        return self.policy.calendar().is_workday(day) or holiday_name(day) is None

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
        """Kinds the sweeper may fire many at a time (see services.escalation_batch)."""
        return {DEADLINE: functools.partial(fire_deadlines, self.escalations)}

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """Handlers for the sweeper, by timer kind."""
        return {
            DEADLINE: self.escalations.on_deadline,
            PLAN: self._plan_day,
            CHECKIN_DUE: self._checkin_due,
            MONTHLY: self._monthly,
            FOLLOWUP: on_followup,
            SECOND_STAGE_REMIND: on_second_stage_remind,
            SECOND_STAGE_EXPIRE: on_second_stage_expire,
            RETENTION: self._purge,
            CONCERN_EXPIRE: lambda s, timer: on_concern_expire(s, self, timer),
            COVERAGE: self._coverage,
            ASQ_WAIT: on_asq_wait(self.escalations),
            **self.campaigns.timer_handlers(),
        }

    async def ensure_planned(self, s: AsyncSession, now: datetime) -> None:
        """Make sure today's daily plan exists (idempotent; call at start-up)."""
        today = local(now).date()
        await schedule(s, kind=PLAN, ref=today.isoformat(), due_at=_at(today, PLAN_AT),
                       now=now)

    async def _plan_day(self, s: AsyncSession, timer: Timer) -> None:
        day = date.fromisoformat(timer.ref)
        now = timer.due_at
        # Nothing falls due on a public holiday: students are away and so are their advisors.
        if self.is_due(day):
            due = self.policy.checkin_due_at(day) + self.policy.checkin.remind_committee_after
            for klass_id in (await s.exec(select(Klass.id))).all():
                await schedule(s, kind=CHECKIN_DUE, ref=f"{klass_id}:{day.isoformat()}",
                               due_at=due, now=now)
        await campaigns.plan_day(s, self.policy, day, now)  # screening rounds opening today
        await schedule(s, kind=RETENTION, ref=f"{day.isoformat()}:0",
                       due_at=_at(day, RETENTION_AT), now=now)
        if self.policy.calendar().is_workday(day):  # who an alert could not reach today
            await schedule(s, kind=COVERAGE, ref=day.isoformat(), due_at=_at(day, COVERAGE_AT),
                           now=now)
        if self._first_workday_of_month(day):  # last month's 月报 for the colleges to confirm
            last_month = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
            await schedule(s, kind=MONTHLY, ref=last_month.isoformat()[:7],
                           due_at=_at(day, MONTHLY_AT), now=now)
        tomorrow = day + timedelta(days=1)
        await schedule(s, kind=PLAN, ref=tomorrow.isoformat(), due_at=_at(tomorrow, PLAN_AT),
                       now=now)

    def _first_workday_of_month(self, day: date) -> bool:
        calendar = self.policy.calendar()
        if not calendar.is_workday(day):
            return False
        return not any(calendar.is_workday(day.replace(day=d)) for d in range(1, day.day))

    async def _purge(self, s: AsyncSession, timer: Timer) -> None:
        counts = await retention.purge(s, self.policy.retention, timer.due_at)
        if retention.full(counts):  # more to do: the next batch in its own transaction
            day, n = timer.ref.rsplit(":", 1)
            await schedule(s, kind=RETENTION, ref=f"{day}:{int(n) + 1}", due_at=timer.due_at,
                           now=timer.due_at)

    async def _coverage(self, s: AsyncSession, timer: Timer) -> None:
        pushed = await push_coverage(s, timer.ref, timer.due_at)
        log.info("coverage check %s: %s pushes", timer.ref, pushed)

    async def _monthly(self, s: AsyncSession, timer: Timer) -> None:
        month = date.fromisoformat(timer.ref + "-01")
        count = await generate_monthly(s, month, self.month_periods(month), timer.due_at,
                                       self.policy.checkin_due_at)
        log.info("monthly reports for %s generated for %s colleges", timer.ref, count)

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
        title = f"班级心理晴雨表未提交（{period:%m-%d}）"
        if (key := self.policy.key_period(period)) is not None:  # a key period: say so
            title = f"重点时段（{key.name}）" + title
        subject = Subject(key=f"checkin:{klass_id}:{period.isoformat()}",
                          kind="checkin_missing", title=title,
                          college_id=klass.college_id, klass_id=klass_id)
        await self.escalations.open(s, subject, Severity.routine, timer.due_at,
                                    chain=checkin_chain(self.policy))


def _at(day: date, at: time) -> datetime:
    return datetime.combine(day, at, SHANGHAI)
