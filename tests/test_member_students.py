"""Committee members and dorm informants are students too: booking, screening, rounds, import."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from tests.demo_school import INSTRUMENTS, load_school
from tests.dialog import Dialog, labels
from tests.factories import add_person, bind, make_campus
from xinqiao.clock import FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.network import Network
from xinqiao.services.screening_round_report import completion
from xinqiao.services.screening_rounds import Round, create_campaign
from xinqiao.services.timers import Sweeper
from xinqiao.settings import Settings
from xinqiao.storage.campaigns import CampaignKind, ScreeningCampaign, ScreeningInvitation
from xinqiao.storage.db import Database
from xinqiao.storage.models import Role, RoleAssignment


async def test_a_committee_member_and_an_informant_book_and_screen_like_any_student(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    for who in ("S2023002", "S2023003"):  # 计算机2301's 心理委员 and a 宿舍信息员
        chat = await school.chat(who)
        menu = labels((await chat.send("菜单"))[0])
        assert {"预约心理咨询", "心理测评", "我的测评结果"} <= set(menu)
        assert ("本周班级心理晴雨表" if who == "S2023002" else "宿舍情况反映") in menu
        booking = await chat.say("预约")
        assert "权限" not in booking and "选" in booking
        await chat.say("主菜单")
        screening = await chat.say("测评")
        assert "权限" not in screening and "同意" in screening
        await chat.say("主菜单")
        assert "权限" not in await chat.say("我的测评结果")
    # the roster import stored them as students with the extra role
    async with db.session() as s:
        rows = await s.exec(select(RoleAssignment.role)
                            .where(RoleAssignment.person_id == school.ids["S2023002"]))
        assert set(rows.all()) == {Role.student, Role.committee}


async def test_a_screening_round_counts_every_student_of_a_class(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    school = await load_school(db, clock, settings)
    async with db.session() as s:
        campaign = await create_campaign(
            s, school.network.policy, Round("test:all", "全体测评", CampaignKind.semester),
            opens_at=clock.now() + timedelta(minutes=1), now=clock.now())
        campaign_id = campaign.id
    assert campaign_id is not None
    clock.advance(minutes=2)
    sweeper = Sweeper(db, clock, school.network.timer_handlers())
    while await sweeper.sweep_once():
        pass
    async with db.session() as s:
        stored = await s.get(ScreeningCampaign, campaign_id)
        assert stored is not None and stored.invited == 32
        rows = await completion(s, campaign_id)
    assert {r.klass: r.invited for r in rows} == {
        "计算机2301": 8, "软件2301": 8, "会计2301": 8, "市场营销2301": 8}
    async with db.session() as s:
        invited = (await s.exec(select(ScreeningInvitation.person_id).distinct())).all()
    assert {school.ids["S2023002"], school.ids["S2023003"]} <= set(invited)


async def test_a_committee_member_imported_before_the_fix_is_still_a_student(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # an older import stored only the network role: the chat still treats them as a student
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "k9", "委员小林", Role.committee, now=clock.now())
    await bind(db, pid, "console", "old-k9", clock.now())
    chat = Dialog(db, settings, clock, "old-k9", network=Network(load_policy()),
                  instruments=INSTRUMENTS)
    menu = labels((await chat.send("菜单"))[0])
    assert "预约心理咨询" in menu and "心理测评" in menu
    assert "权限" not in await chat.say("测评")
