"""Binding a chat account to the roster, lockout, and the menus each role gets."""

from __future__ import annotations

from sqlmodel import select

from tests.dialog import Dialog, labels
from tests.factories import add_person, bind, make_campus
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, ChannelIdentity, Role


async def _identity(db: Database, address: str) -> ChannelIdentity:
    async with db.session() as s:
        row = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.address == address))).one()
        return row


async def test_unbound_user_is_told_how_to_bind(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat = Dialog(db, settings, clock, "o-new", channel="wechat")
    answer = await chat.say("你好")
    assert "绑定" in answer and "学号" in answer
    # anything else while unbound keeps guiding towards binding, never a dead end
    assert "激活码" in await chat.say("2023001")


async def test_bind_in_one_message_then_menu(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023001", "李明", code="K7M2Q9TX", now=clock.now())
    chat = Dialog(db, settings, clock, "o-li", channel="wechat")
    replies = await chat.send("绑定 2023001 k7m2q9tx")
    assert "绑定成功" in replies[0].text and "李明" in replies[0].text
    assert "我的信息" in labels(replies[0])
    assert (await _identity(db, "o-li")).person_id == campus.people["2023001"]
    # the menu's numbers work: pick 我的信息 by its number
    number = labels(replies[0]).index("我的信息") + 1
    info = await chat.say(str(number))
    assert "2023001" in info and "软件2301" in info and "信息工程学院" in info
    async with db.session() as s:
        actions = (await s.exec(select(AuditEntry.action))).all()
    assert "bind" in actions


async def test_guided_binding(db: Database, settings: Settings, clock: FakeClock) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023002", "王芳", code="PQ3R8SUV", now=clock.now())
    chat = Dialog(db, settings, clock, "o-wang", channel="wechat")
    assert "学号" in await chat.say("绑定")
    assert "激活码" in await chat.say("2023002")
    assert "绑定成功" in await chat.say("PQ3R8SUV")


async def test_five_wrong_codes_lock_binding_for_fifteen_minutes(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023003", "赵强", code="GOOD2345", now=clock.now())
    chat = Dialog(db, settings, clock, "o-zhao", channel="wechat")
    for left in (4, 3, 2, 1):
        assert f"还可以再试 {left} 次" in await chat.say("绑定 2023003 WRONG999")
    assert "尝试次数过多" in await chat.say("绑定 2023003 WRONG999")
    # even the right code is refused while locked
    assert "尝试次数过多" in await chat.say("绑定 2023003 GOOD2345")
    assert (await _identity(db, "o-zhao")).person_id is None
    clock.advance(minutes=14)
    assert "尝试次数过多" in await chat.say("绑定 2023003 GOOD2345")
    clock.advance(minutes=2)
    assert "绑定成功" in await chat.say("绑定 2023003 GOOD2345")
    # unknown ids count as failures too and read the same, so ids cannot be probed
    other = Dialog(db, settings, clock, "o-probe", channel="wechat")
    assert "不正确" in await other.say("绑定 9999999 GOOD2345")
    async with db.session() as s:
        failed = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "bind.failed"))).all()
    assert len(failed) == 6


async def test_person_already_bound_elsewhere_is_refused(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023004", "陈静", code="CODE2345", now=clock.now())
    await bind(db, pid, "wechat", "o-first", clock.now())
    chat = Dialog(db, settings, clock, "o-second", channel="wechat")
    assert "已经绑定在另一个账号" in await chat.say("绑定 2023004 CODE2345")
    assert (await _identity(db, "o-second")).person_id is None
    # the same person may bind a different channel
    tg = Dialog(db, settings, clock, "tg-77", channel="telegram")
    assert "绑定成功" in await tg.say("绑定 2023004 CODE2345")


async def test_bound_user_binding_again_is_told_who_they_are(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023005", "刘洋", now=clock.now())
    await bind(db, pid, "wechat", "o-liu", clock.now())
    chat = Dialog(db, settings, clock, "o-liu", channel="wechat")
    assert "你已绑定为 刘洋" in await chat.say("绑定 2023006 ABCD2345")


async def test_menus_fit_roles(db: Database, settings: Settings, clock: FakeClock) -> None:
    campus = await make_campus(db, clock.now())
    now = clock.now()
    student = await add_person(db, campus, "s1", "学生甲", now=now)
    advisor = await add_person(db, campus, "t1", "辅导员乙", Role.class_advisor, now=now,
                               dorm_id=None)
    centre = await add_person(db, campus, "c1", "中心丙", Role.centre_staff, now=now,
                              klass_id=None, dorm_id=None, college_id=None)
    for pid, addr in ((student, "a-s"), (advisor, "a-t"), (centre, "a-c")):
        await bind(db, pid, "console", addr, now)
    student_menu = labels((await Dialog(db, settings, clock, "a-s").send("菜单"))[0])
    advisor_menu = labels((await Dialog(db, settings, clock, "a-t").send("菜单"))[0])
    centre_menu = labels((await Dialog(db, settings, clock, "a-c").send("菜单"))[0])
    assert student_menu == ["紧急求助热线", "我的安全计划", "我的信息"]
    assert advisor_menu == ["我的工作范围", "紧急求助热线", "我的信息", "工作台"]
    assert "我的工作范围" in centre_menu
    # a student cannot reach a staff flow by typing its name either
    assert "不在你的权限范围" in await Dialog(db, settings, clock, "a-s").say("工作范围")
    scope = await Dialog(db, settings, clock, "a-t").say("工作范围")
    assert "班级 软件2301" in scope and "（2 人）" in scope
    assert "全校" in await Dialog(db, settings, clock, "a-c").say("工作范围")


async def test_crisis_help_needs_no_binding(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    answer = await Dialog(db, settings, clock, "o-anon", channel="wechat").say("求助")
    assert "12356" in answer and "110" in answer


async def test_staff_release_lets_the_person_bind_a_new_account_with_a_new_code(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    from xinqiao.services.binding import unbind

    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023007", "孙悦", code="OLDC2345", now=clock.now())
    old_phone = Dialog(db, settings, clock, "o-old", channel="wechat")
    assert "绑定成功" in await old_phone.say("绑定 2023007 OLDC2345")
    await old_phone.say("菜单")
    done = await unbind(db, "2023007", now=clock.now())
    assert done.released == 1 and done.new_code != "OLDC2345"
    assert (await _identity(db, "o-old")).person_id is None
    assert "请先绑定" in await old_phone.say("我的信息")  # the old account is a stranger again
    new_phone = Dialog(db, settings, clock, "o-new-phone", channel="wechat")
    assert "不正确" in await new_phone.say("绑定 2023007 OLDC2345")
    assert "绑定成功" in await new_phone.say(f"绑定 2023007 {done.new_code}")
    async with db.session() as s:
        release = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "bind.release"))).one()
    assert release.subject_person_id == pid
