"""Holidays past the package's horizon: a centre's [calendar.2027], checked, used, warned of."""

from __future__ import annotations

import logging
from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from tests.network_world import make_world
from xinqiao.bot.cli import main
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.calendar import PACKAGE_LAST_YEAR
from xinqiao.policy.policy import PolicyError, load_policy
from xinqiao.scheduler.calendar_jobs import horizon_at_start, notify_horizon
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

# 2027's National Day as a centre would copy it from the State Council's notice (invented here:
# the notice comes out each autumn): Fri 1 – Thu 7 Oct off, Sat 9 Oct worked in exchange.
YEAR_2027 = """
[calendar.2027]
holidays = ["2027-01-01", "2027-10-01..2027-10-07"]
workdays = ["2027-09-26", "2027-10-09"]
"""


def _policy(tmp_path: Path, text: str = YEAR_2027) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_package_stops_where_the_issue_says() -> None:
    # If the package learns 2027, these tests must move their year along with it.
    assert PACKAGE_LAST_YEAR == 2026
    assert load_policy().calendar().known_until == date(2026, 12, 31)


def test_a_declared_year_is_used_for_workdays_and_extends_the_horizon(tmp_path: Path) -> None:
    cal = load_policy(_policy(tmp_path)).calendar()
    assert cal.known_until == date(2027, 12, 31)
    assert not cal.is_workday(date(2027, 10, 1)) and cal.is_holiday(date(2027, 10, 4))
    assert cal.is_workday(date(2027, 10, 9))  # a Saturday worked in exchange
    assert not cal.is_holiday(date(2027, 10, 16))  # an ordinary Saturday: no holiday
    assert cal.is_workday(date(2027, 10, 8)) and not cal.is_workday(date(2027, 10, 10))
    # without the declaration 2027 falls back to Monday to Friday
    plain = load_policy().calendar()
    assert plain.is_workday(date(2027, 10, 1)) and not plain.is_workday(date(2027, 10, 9))


@pytest.mark.parametrize(("body", "problem"), [
    ('holidays = ["2028-01-01"]', "calendar: 2027: holidays: 2028-01-01 is not in 2027"),
    ('holidays = ["2027-10-01..2027-10-07", "2027-10-07"]', "2027-10-07 is listed twice"),
    ('holidays = ["2027-10-01"]\nworkdays = ["2027-10-01"]',
     "2027-10-01 is both a holiday and a make-up workday"),
    ('holidays = ["2027-10-01"]\nworkdays = ["2027-10-08"]',
     "workdays: 2027-10-08 is a weekday already"),
    ('holidays = ["2027-10-02", "2027-10-03"]', "holidays: every day listed is a weekend"),
    ("", "holidays: none listed"),  # an empty [calendar.2027]
    ('workdays = ["2027-10-09"]', "holidays: none listed"),
    ("holidays = []\nworkdays = []", "State Council's notice"),
    ('holidays = ["2027-10-07..2027-10-01"]', "the range must end on or after it starts"),
    ('holidays = ["2027-13-01"]', "is not a date"),
    ('holiday = ["2027-10-01"]', "calendar.2027.holiday: unknown setting"),
])
def test_a_bad_year_stops_with_the_field_named(tmp_path: Path, body: str, problem: str) -> None:
    path = _policy(tmp_path, f"[calendar.2027]\n{body}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)
    result = CliRunner().invoke(main, ["policy", "check", "--file", str(path)])
    assert result.exit_code == 1 and problem in result.output


def test_policy_check_says_how_far_the_calendar_reaches(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["policy", "check", "--file", str(_policy(tmp_path))])
    assert result.exit_code == 0, result.output
    assert "official calendar known until 2027-12-31; declared years: 2027" in result.output


async def test_a_deadline_skips_a_declared_2027_holiday_and_counts_its_makeup_day(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    # Thu 30 Sep 2027 16:00: 2 working hours that day; 1–7 Oct off; Fri 8 Oct 16:00 is 8 h.
    world = await make_world(db, clock, settings,
                             start=datetime(2027, 9, 30, 16, 0, tzinfo=SHANGHAI))
    world.network = Network(load_policy(_policy(tmp_path)))
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    await chat.say("这周几乎不出门")
    await chat.say("7")
    assert "收到" in await chat.say("不急，近期关注即可")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    # Monday to Friday alone would have made it Fri 1 Oct 16:00, in the middle of the holiday.
    assert esc.due_at == datetime(2027, 10, 8, 16, 0, tzinfo=SHANGHAI)
    clock.set(datetime(2027, 10, 4, 16, 0, tzinfo=SHANGHAI))
    assert await world.sweep() == 0 and await world.push_texts("l1") == []
    clock.set(datetime(2027, 10, 8, 16, 0, tzinfo=SHANGHAI))
    assert await world.sweep() == 1 and len(await world.push_texts("l1")) == 1
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    # the college's 8 h: Fri 16–18, then Saturday 9 Oct, a declared make-up workday
    assert esc.due_at == datetime(2027, 10, 9, 16, 0, tzinfo=SHANGHAI)


async def test_the_centre_lead_is_told_once_sixty_days_before_the_calendar_runs_out(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 10, 31, 9, 0, tzinfo=SHANGHAI))
    policy = world.network.policy

    async def start() -> bool:  # what `serve` does at each start
        async with db.session() as s:
            return await notify_horizon(s, policy, clock.now())

    assert not await start()  # 61 days before 31 Dec: nothing yet
    assert await world.push_texts("d1") == []
    clock.set(datetime(2026, 11, 2, 9, 0, tzinfo=SHANGHAI))
    assert await start()
    [told] = await world.push_texts("d1")
    assert "2026年12月31日" in told and "还有 59 天" in told and "[calendar.2027]" in told
    assert await world.push_texts("c1") == []  # the lead, not every centre member
    clock.set(datetime(2026, 11, 20, 9, 0, tzinfo=SHANGHAI))
    assert not await start()  # a restart, and the daily check: told already
    world.jobs_since = clock.now()
    clock.set(datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI))
    await world.sweep()  # three daily checks ran (the lead also got the coverage list)
    assert len([t for t in await world.push_texts("d1") if "工作日历" in t]) == 1
    # once 2027 is declared the horizon moves a year on, and so does the next warning
    later = load_policy(_policy(tmp_path))
    async with db.session() as s:
        assert not await notify_horizon(s, later, clock.now())
    clock.set(datetime(2027, 11, 2, 9, 0, tzinfo=SHANGHAI))
    async with db.session() as s:
        assert await notify_horizon(s, later, clock.now())
    assert "2027年12月31日" in (await world.push_texts("d1"))[-1]


async def test_serve_start_warns_of_the_horizon_once_not_again_from_the_day_check(
    db: Database, clock: FakeClock, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # A start in the afternoon: the day's 08:30 check was missed and would be caught up.
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 12, 6, 15, 45, tzinfo=SHANGHAI))
    caplog.set_level(logging.WARNING, logger="xinqiao.services.calendar_notice")

    def warned() -> int:
        return len([r for r in caplog.records if "official holiday calendar" in r.getMessage()])

    async with db.session() as s:  # what `serve` does before it serves
        assert await horizon_at_start(s, world.network.policy, clock.now())
    await world.start_jobs()  # then its scheduler starts and catches up
    assert warned() == 1
    # the next morning's check says it again, once; the lead was pushed only the first time
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=SHANGHAI))
    await world.sweep()
    assert warned() == 2
    assert len([t for t in await world.push_texts("d1") if "工作日历" in t]) == 1
