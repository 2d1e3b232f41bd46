"""Which calendar jobs the service runs, at what Shanghai time, and how late each may start.

The work itself is the services'; the graces are this table's policy: a run missed while no
worker was up still runs once at start if it is less than its grace late, never once per
missed day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from xinqiao.messages import Reply
from xinqiao.policy.policy import Policy
from xinqiao.scheduler.jobs import CalendarJob, claim, cron, forget_runs
from xinqiao.services.booking.fair_access import offer_released
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.calendar_notice import CLAIM, horizon_notice
from xinqiao.services.content.push import WeeklyTips
from xinqiao.services.network import Network
from xinqiao.services.recipients import push_to_people

DAILY_PLAN_AT = time(0, 5)  # check-ins falling due today, screening rounds opening today
RETENTION_AT = time(3, 30)
COVERAGE_AT = time(8, 30)  # on workdays
MONTHLY_AT = time(9, 0)  # on the first workday of a month
# Claims are kept this long: far longer than any grace, so none is ever run twice.
KEEP_RUNS = timedelta(days=90)
# Today's plan is owed all day; the coverage check and the morning list only while still
# useful that morning; the 月报 within three days (a weekend between).
_DAY = timedelta(hours=23)
HORIZON_JOB = "calendar.horizon.check"


async def notify_horizon(s: AsyncSession, policy: Policy, now: datetime) -> bool:
    """Warn of the calendar's end (at each start and daily); push the centre lead once."""
    notice = await horizon_notice(s, policy, now)
    if notice is None:
        return False
    text, leads = notice
    await push_to_people(s, leads, key=f"{CLAIM}:{policy.calendar().known_until.year}",
                         reply=Reply(text), now=now)
    return True


async def horizon_at_start(s: AsyncSession, policy: Policy, now: datetime) -> bool:
    """What `serve` does at each start: warn (and push the lead once); the daily check's run
    this start would catch up is taken too, so the warning is not logged twice."""
    told = await notify_horizon(s, policy, now)
    if (owed := horizon_job(lambda: policy).latest(now)) is not None:
        await claim(s, HORIZON_JOB, owed, now)
    return told


def horizon_job(policy: Callable[[], Policy]) -> CalendarJob:
    """The daily check of the calendar's horizon, against the policy in force."""
    async def horizon(s: AsyncSession, _: date, now: datetime) -> None:
        await notify_horizon(s, policy(), now)
    return CalendarJob(HORIZON_JOB, cron(COVERAGE_AT), _DAY, horizon)


def network_jobs(network: Network) -> list[CalendarJob]:
    """The network's daily and monthly jobs."""

    def workday(day: date) -> bool:
        return network.policy.calendar().is_workday(day)

    async def nightly(s: AsyncSession, day: date, now: datetime) -> None:
        await network.purge(s, day, now)
        await forget_runs(s, now - KEEP_RUNS)

    return [
        horizon_job(lambda: network.policy),
        CalendarJob("checkin.open", cron(DAILY_PLAN_AT), _DAY, network.open_checkins),
        CalendarJob("screening.rounds", cron(DAILY_PLAN_AT), _DAY, network.open_rounds),
        CalendarJob("retention.nightly", cron(RETENTION_AT), _DAY, nightly),
        CalendarJob("coverage.daily", cron(COVERAGE_AT), timedelta(hours=12), network.coverage,
                    on=workday),
        CalendarJob("monthly.generate", cron(MONTHLY_AT), timedelta(days=3), network.monthly,
                    on=network.first_workday_of_month),
    ]


def booking_jobs(booking: BookingTimers) -> list[CalendarJob]:
    """The counsellors' morning list; the next day's unclaimed crisis sessions opening."""
    policy = booking.policy

    async def release(s: AsyncSession, day: date, now: datetime) -> None:
        await offer_released(s, policy, day, now)

    jobs = [CalendarJob("booking.morning", cron(policy.booking.morning_list_at),
                        timedelta(hours=3), booking.morning_list)]
    if policy.booking.crisis_slots_per_day:  # no kept sessions, nothing to open
        jobs.append(CalendarJob("booking.crisis_release",
                                cron(policy.booking.crisis_release_day_before_at),
                                timedelta(hours=6), release))
    return jobs


def tip_jobs(tips: WeeklyTips) -> list[CalendarJob]:
    """The weekly tip to subscribers."""

    async def start(s: AsyncSession, _: date, now: datetime) -> None:
        await tips.start_week(s, now)

    return [CalendarJob("content.tip", cron(tips.policy.tip_at, tips.policy.tip_weekday),
                        timedelta(hours=6), start)]
