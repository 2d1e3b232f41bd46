"""A small college with its whole network bound to chat, a policy, a sweeper and a fake clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from tests.dialog import Dialog
from tests.factories import Campus, add_person, bind, make_campus
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.scheduler.calendar_jobs import network_jobs
from xinqiao.scheduler.jobs import CalendarJob, Jobs
from xinqiao.scheduler.runner import JobScheduler
from xinqiao.services.instruments import load_instruments
from xinqiao.services.network import Network
from xinqiao.services.timers import Sweeper
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, Role

INSTRUMENTS = load_instruments()


@dataclass
class World:
    """Everyone of 软件2301 / 软件2302 (信息工程学院) and the centre, bound on the console."""

    db: Database
    clock: FakeClock
    settings: Settings
    network: Network
    campus: Campus
    ids: dict[str, int] = field(default_factory=dict)
    # Once the calendar jobs are started: up to when they have run (each sweep runs the rest).
    jobs_since: datetime | None = None
    extra_jobs: list[CalendarJob] = field(default_factory=list)

    def chat(self, who: str) -> Dialog:
        """A conversation as one of the people (by roster id)."""
        return Dialog(self.db, self.settings, self.clock, f"a-{who}", network=self.network,
                      instruments=INSTRUMENTS)

    def jobs(self, db: Database | None = None) -> Jobs:
        """The network's calendar jobs (and any ``extra_jobs``) as one worker runs them."""
        return Jobs(db or self.db, self.clock, [*network_jobs(self.network), *self.extra_jobs])

    async def start_jobs(self) -> None:
        """The service starts now: runs missed within their grace run once, the rest on time."""
        self.jobs_since = self.clock.now()
        await JobScheduler(self.jobs()).catch_up()

    async def sweep(self, network: Network | None = None, db: Database | None = None) -> int:
        """Run the calendar jobs due since the last sweep (once started), then one deadline
        sweep (a fresh sweeper, as after a restart); return how many timers fired."""
        if self.jobs_since is not None:
            await self.jobs(db).run_between(self.jobs_since, self.clock.now())
            self.jobs_since = self.clock.now()
        net = network or self.network
        return await Sweeper(db or self.db, self.clock, net.timer_handlers(),
                             net.timer_batch_handlers()).sweep_once()

    async def pushes(self, who: str) -> list[OutboxMessage]:
        """Every push queued for one person, oldest first."""
        async with self.db.session() as s:
            rows = await s.exec(select(OutboxMessage)
                                .where(OutboxMessage.person_id == self.ids[who])
                                .order_by(col(OutboxMessage.id)))
            return list(rows)

    async def push_texts(self, who: str) -> list[str]:
        """The text of each push to one person."""
        return [p.payload["reply"]["text"] for p in await self.pushes(who)]


async def make_world(db: Database, clock: FakeClock, settings: Settings,
                     start: datetime | None = None) -> World:
    """Build the college; ``start`` sets the fake clock first."""
    if start is not None:
        clock.set(start)
    now = clock.now()
    campus = await make_campus(db, now)
    world = World(db, clock, settings, Network(load_policy()), campus)
    k2 = campus.other_klass_id
    people = [
        ("i1", "信息员小周", (Role.student, Role.informant), {}),
        ("s1", "室友小吴", (Role.student,), {}),
        ("k1", "委员小郑", (Role.student, Role.committee), {}),
        ("k2", "委员小冯", (Role.student, Role.committee), {"klass_id": k2, "dorm_id": None}),
        ("t1", "辅导员王老师", (Role.class_advisor,), {"dorm_id": None}),
        ("t2", "辅导员陈老师", (Role.class_advisor,), {"klass_id": k2, "dorm_id": None}),
        ("l1", "学院李书记", (Role.college_lead,), {"klass_id": None, "dorm_id": None}),
        ("l2", "学院心理辅导员赵老师", (Role.college_counsellor,),
         {"klass_id": None, "dorm_id": None}),
        ("c1", "中心孙老师", (Role.centre_staff,),
         {"klass_id": None, "dorm_id": None, "college_id": None}),
        ("c2", "中心周老师", (Role.centre_staff,),
         {"klass_id": None, "dorm_id": None, "college_id": None}),
        ("d1", "中心钱主任", (Role.centre_lead,),
         {"klass_id": None, "dorm_id": None, "college_id": None}),
    ]
    for ext, name, roles, units in people:
        pid = await add_person(db, campus, ext, name, *roles, now=now, **units)  # type: ignore[arg-type]
        await bind(db, pid, "console", f"a-{ext}", now)
        world.ids[ext] = pid
    return world


async def add_other_college_lead(world: World) -> int:
    """A college lead of 经济管理学院 (the other college), bound as ``x1``."""
    now = world.clock.now()
    pid = await add_person(world.db, world.campus, "x1", "外院王书记", Role.college_lead,
                           now=now, college_id=world.campus.other_college_id, klass_id=None,
                           dorm_id=None)
    await bind(world.db, pid, "console", "a-x1", now)
    world.ids["x1"] = pid
    return pid
