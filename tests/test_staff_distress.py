"""A staff member's own crisis words: care and the lines, a private word to the centre lead."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from tests.demo_school import load_school
from xinqiao.clock import FakeClock
from xinqiao.services.monthly.report import build_monthly
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, College, Person, Tier
from xinqiao.storage.reports import Escalation, Report


async def test_an_advisors_own_crisis_words_reach_the_centre_lead_privately_not_as_a_case(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    lead = await school.chat("C9009")
    await lead.say("菜单")  # bound, so the push can reach them
    await (await school.chat("C9001")).say("菜单")
    advisor = await school.chat("T1001")
    reply = await advisor.say("最近压力太大了，我真的不想活了")
    assert "很担心你" in reply and "12356" in reply and "心理中心负责人" in reply
    # nothing in the student crisis pool: no report, no escalation, no case, no tier change
    async with db.session() as s:
        assert (await s.exec(select(Report))).all() == []
        assert (await s.exec(select(Escalation))).all() == []
        assert (await s.exec(select(Case))).all() == []
        person = await s.get(Person, school.ids["T1001"])
        assert person is not None and person.tier == Tier.routine
        college = (await s.exec(select(College).where(College.name == "信息工程学院"))).one()
        assert college.id is not None
        month = await build_monthly(s, college.id, date(2026, 9, 1), [])
        assert month["reports"]["total"] == 0 and month["students"]["crisis"] == 0
        [entry] = (await s.exec(select(AuditEntry)
                                .where(AuditEntry.action == "staff.distress"))).all()
        assert entry.actor_person_id == school.ids["T1001"]
    # the centre lead alone is told, by name, without the words
    [push] = await school.push_texts("C9009")
    assert "同事关怀" in push and "方志诚" in push and "T1001" in push and "不想活" not in push
    assert await school.push_texts("C9001") == []
    assert "方志诚" not in await lead.say("危机个案")
    # saying it again the same day does not push the lead twice
    await advisor.say("我不想活了")
    assert len(await school.push_texts("C9009")) == 1


async def test_the_centre_leads_own_words_go_to_the_centre_staff(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    await (await school.chat("C9001")).say("菜单")
    reply = await (await school.chat("C9009")).say("我想自杀")
    assert "12356" in reply and "心理中心的同事" in reply
    assert any("顾明远" in t for t in await school.push_texts("C9001"))
    async with db.session() as s:
        assert (await s.exec(select(Case))).all() == []


async def test_an_advisors_words_about_a_student_still_open_the_students_crisis(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    reply = await (await school.chat("T1001")).say("我班上的赵雨桐说她不想活了")
    assert "12356" in reply or "110" in reply
    async with db.session() as s:
        [case] = (await s.exec(select(Case))).all()
    assert case.person_id == school.ids["S2023004"]
