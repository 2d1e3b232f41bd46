"""The network world plus two counsellors on duty and a few more students, for booking tests.

孙老师 (c1, female, 心理中心 201, offline): Monday and Wednesday 14:00–17:00, 45-minute
sessions with 15-minute breaks → 14:00, 15:00, 16:00.
周老师 (c2, male, 心理中心 202, offline or online): Tuesday and Thursday 09:00–12:00.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlmodel import col, select

from tests.factories import add_person, bind
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.booking.reminders import BookingTimers
from xinqiao.services.timers import Sweeper
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment, CounsellorProfile, DutyPattern, Mode
from xinqiao.storage.db import Database
from xinqiao.storage.models import Role

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


def sh(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A Shanghai wall-clock moment in 2026."""
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def booking_world(db: Database, clock: FakeClock, settings: Settings,
                        start: datetime = MONDAY_9, students: int = 2) -> World:
    """The college and centre of ``make_world``, counsellors on duty, students s2..sN bound."""
    world = await make_world(db, clock, settings, start=start)
    now = clock.now()
    async with db.session() as s:
        for who, gender, place, modes, days, hours in (
            ("c1", "female", "心理中心 201", Mode.offline, (1, 3), (time(14), time(17))),
            ("c2", "male", "心理中心 202", Mode.both, (2, 4), (time(9), time(12))),
        ):
            pid = world.ids[who]
            s.add(CounsellorProfile(person_id=pid, gender=gender, place=place, modes=modes,
                                    updated_at=now))
            for wd in days:
                s.add(DutyPattern(counsellor_id=pid, weekday=wd, start=hours[0], end=hours[1],
                                  place=place, mode=modes, valid_from=date(2026, 9, 1),
                                  created_at=now))
    for n in range(2, students + 1):
        ext = f"s{n}"
        pid = await add_person(db, world.campus, ext, f"学生{n}号", Role.student, now=now)
        await bind(db, pid, "console", f"a-{ext}", now)
        world.ids[ext] = pid
    return world


def sweeper(world: World, db: Database | None = None) -> Sweeper:
    """A sweeper with the network's and booking's handlers (a new one = a restart)."""
    policy = world.network.policy
    return Sweeper(db or world.db, world.clock,
                   {**world.network.timer_handlers(), **BookingTimers(policy).timer_handlers()},
                   world.network.timer_batch_handlers())


async def appointments(world: World) -> list[Appointment]:
    """Every appointment, oldest first."""
    async with world.db.session() as s:
        return list(await s.exec(select(Appointment).order_by(col(Appointment.id))))


async def book_first(world: World, who: str, pick: str = "1", reason: str = "跳过",
                     mode: str = "线下面谈") -> str:
    """The student books through chat: 预约 → a slot → (线下或线上: the mode) → a reason;
    returns the last reply."""
    chat = world.chat(who)
    listing = await chat.say("预约")
    if "为你保留着" in listing or "心理中心为你留了" in listing:  # held after a positive screen
        asked = await chat.say("预约这个时间")
    else:
        assert "可以预约的时间" in listing, listing
        asked = await chat.say(pick)
    if "你想怎么聊" in asked:
        await chat.say(mode)
    return await chat.say(reason)
