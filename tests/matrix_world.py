"""The school the role-matrix test walks through, built once per backend (see that test)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import col, select

from tests.booking_world import booking_world, sh
from tests.dialog import Dialog
from tests.factories import Campus, add_person, bind
from tests.network_world import World, add_other_college_lead
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Role
from xinqiao.storage.reports import Escalation


@dataclass(frozen=True)
class Ids:
    """What the world made: people, the dorm report's escalation, the case, two appointments."""

    campus: Campus
    people: dict[str, int]
    esc: int
    case: int
    appt: int
    appt2: int


async def build(url: str) -> Ids:
    """Everything the matrix needs, made through chat as people would (see the test's doc)."""
    db = Database(url)
    clock = FakeClock()
    world = await booking_world(db, clock, settings_for(url), students=3)
    await add_other_college_lead(world)
    other = await add_person(db, world.campus, "o1", "外院学生小何", Role.student, now=clock.now(),
                             college_id=world.campus.other_college_id, klass_id=None,
                             dorm_id=None)
    await bind(db, other, "console", "a-o1", clock.now())
    world.ids["o1"] = other
    i1 = world.chat("i1")  # a dorm report about s1, in working hours: to her class advisor
    for text in ("宿舍情况", "室友小吴", "晚上一直哭 REPORT-3K", "7", "不急，近期关注即可"):
        await i1.say(text)
    s1 = world.chat("s1")  # PHQ-9 total 12: moderate, the key tier
    for text in ["心理测评", "我已了解，同意开始", "PHQ-9 情绪状况筛查（患者健康问卷）",
                 *["几乎每天"] * 4, *["完全不会"] * 5]:
        await s1.say(text)
    await world.chat("s2").say("我想自杀")
    for text in ("安全计划", "SAFE9P", *["跳过"] * 5):  # s1's safety plan, in her words
        await s1.say(text)
    for who in ("s1", "s3"):  # each books the earliest free session: c1's Monday 14:00, 15:00
        chat = world.chat(who)
        got = await chat.say("预约")
        # s1's positive PHQ-9 already holds her the earliest session (fair access): take it
        held = "为你保留着" in got or "心理中心为你留了" in got
        assert ("可以预约的时间" in got) != held, got
        booked = await chat.say("1")
        if "跳过" in booked:
            await chat.say("跳过")
    async with db.session() as s:
        esc = (await s.exec(select(Escalation).where(Escalation.kind == "dorm"))).one()
        case = (await s.exec(select(Case))).one()
        appts = list(await s.exec(select(Appointment).order_by(col(Appointment.start_at))))
    assert [a.counsellor_id for a in appts] == [world.ids["c1"]] * 2
    assert esc.id and case.id and appts[0].id and appts[1].id
    c1 = world.chat("c1")
    await c1.say(f"个案 {case.id}")
    await c1.say("我来负责")
    await c1.say("写计划")
    assert "已记录" in await c1.say("每日电话随访 PLAN-7Q")
    clock.set(sh(9, 7, 16, 0))
    await c1.say("取消")
    await c1.say("今日预约")
    await c1.send(choice=f"a:{appts[0].id}")
    await c1.send(choice=f"att:{appts[0].id}")
    await c1.say("情绪低落，约下周复诊 NOTE-5Z")
    await db.dispose()
    return Ids(world.campus, dict(world.ids), esc.id, case.id, appts[0].id, appts[1].id)


def settings_for(url: str) -> Settings:
    """Settings for a service on ``url`` (as the ``settings`` fixture makes them)."""
    return Settings(database_url=url, wechat_token="testtoken", wechat_appid="wx2c2769f8efd9abc2",
                    wechat_secret="testsecret", _env_file=None)


@dataclass
class School:
    """The built world for one test: chats on a fresh connection, and the audit trail."""

    world: World
    ids: Ids
    mark: int

    def chat(self, who: str) -> Dialog:
        return self.world.chat(who)

    def pid(self, who: str) -> int:
        return self.ids.people[who]

    async def audits(self, who: str | None, **where: object) -> list[AuditEntry]:
        """Entries made during this test by ``who`` (None: nobody bound)."""
        async with self.world.db.session() as s:
            rows = await s.exec(select(AuditEntry).where(col(AuditEntry.id) > self.mark)
                                .order_by(col(AuditEntry.id)))
            actor = self.pid(who) if who else None
            return [r for r in rows if r.actor_person_id == actor
                    and all(getattr(r, k) == v for k, v in where.items())]
