"""Every item's first alert names the class, as the alerts of its later levels do: a crisis, a
concern, a screening's outreach, an aftercare answer and a key student's no-show (a dorm
report's is in test_escalation_loop). A missing check-in keeps its period instead. Nothing
else is added: never the student's name, never their words."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from tests.booking_world import book_first, booking_world, sh
from tests.network_world import World, make_world
from tests.test_aftercare import _attempt_recorded, _school
from tests.test_checkin_items import FRIDAY_0000, _missing_friday
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, Person, Tier
from xinqiao.storage.reports import Escalation

NIGHT = datetime(2026, 10, 14, 2, 30, tzinfo=SHANGHAI)
MONDAY_EVENING = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)


async def _item(world: World, kind: str) -> Escalation:
    async with world.db.session() as s:
        found = (await s.exec(select(Escalation).where(Escalation.kind == kind)
                              .order_by(col(Escalation.id).desc()))).first()
    assert found is not None, kind
    return found


async def _alerts(world: World, who: str, esc: Escalation) -> list[OutboxMessage]:
    return [p for p in await world.pushes(who) if f"D{esc.id} " in p.payload["reply"]["text"]]


async def _first_alert(world: World, who: str, esc: Escalation, title: str) -> str:
    """The first alert ``who`` got about the item: headed by its title with the class, and the
    same in the alert card (WeCom's text card, the WeChat template)."""
    first = (await _alerts(world, who, esc))[0]
    text = str(first.payload["reply"]["text"])
    assert text.splitlines()[0] == f"【心桥】D{esc.id} {title}", text
    assert first.payload["alert"]["fields"]["事项"] == title
    return text


async def test_a_crisis_alert_names_the_class_at_every_level_and_nothing_more(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    await world.chat("s1").say("我不想活了")
    esc = await _item(world, "crisis")
    for who in ("t1", "l1", "l2", "c1", "c2"):  # the advisor, the college, the centre at once
        alert = await _first_alert(world, who, esc, "危机预警（软件2301）")
        # the class only: every one of them may read the student's record, yet the push still
        # leaves her name and her words to the item itself (待办 D…)
        assert "室友小吴" not in alert and "不想活" not in alert
    clock.advance(minutes=11)  # nobody acknowledged: the centre lead, named the same way
    await world.sweep()
    [lead] = await _alerts(world, "d1", esc)
    head = lead.payload["reply"]["text"].splitlines()[0]
    assert head == f"【心桥】D{esc.id} 危机预警（软件2301）"


async def test_a_concern_item_names_the_class(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=NIGHT)
    chat = world.chat("s1")
    await chat.say("活着好累，感觉自己就是家里的累赘")
    await chat.say("没有啊")
    esc = await _item(world, "concern")
    for who in ("c1", "c2"):
        alert = await _first_alert(world, who, esc, "关切跟进（软件2301）")
        assert "累赘" not in alert and "室友小吴" not in alert


async def test_a_screening_outreach_names_the_class(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_EVENING)
    chat = world.chat("s1")
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(8):
        await chat.say("一半以上的天数")
    await chat.say("几乎每天")  # item 9
    esc = await _item(world, "screening")
    for who in ("c1", "c2"):
        alert = await _first_alert(world, who, esc, "测评提示自伤念头（软件2301）")
        assert "几乎每天" not in alert and "室友小吴" not in alert


async def test_an_aftercare_item_names_the_class_of_the_student_who_answered(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await _school(db, clock, settings)
    number = await _attempt_recorded(world)
    centre = world.chat("c2")
    await centre.say(f"关怀回访 G{number}")
    await centre.say("确认发起")
    r1 = world.chat("r1")  # 隔壁班小林 of 软件2302 wants to talk
    await r1.say("好的，聊几句")
    await r1.say("有点难受")
    await r1.say("睡不好")
    await r1.say("是，想聊聊")
    esc = await _item(world, "aftercare")
    for who in ("l2", "c1"):
        alert = await _first_alert(world, who, esc, "关怀回访跟进（软件2302）")
        assert "隔壁班小林" not in alert and "睡不好" not in alert


async def test_a_key_student_s_no_show_item_names_the_class(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await booking_world(db, clock, settings)
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
        assert student is not None
        student.tier = Tier.key
        s.add(student)
    await book_first(world, "s1")  # Monday 14:00, 孙老师 (c1)
    clock.set(sh(9, 7, 14, 20))
    desk = world.chat("c1")
    await desk.say("今日预约")
    await desk.say("14:00 室友小吴")
    await desk.say("爽约")
    assert "已开启跟进事项" in await desk.say("跳过")
    esc = await _item(world, "noshow")
    await _first_alert(world, "l2", esc, "重点关注学生咨询爽约（软件2301）")
    # her own counsellor's word about it names the class the same way
    [own] = [t for t in await world.push_texts("c1") if f"D{esc.id} " in t]
    assert own.splitlines()[0] == f"【心桥】D{esc.id} 重点关注学生咨询爽约（软件2301）"
    assert "室友小吴" not in own


async def test_a_missing_check_in_keeps_its_period_in_the_first_reminder(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    esc = await _missing_friday(world)
    (reminder,) = await world.pushes("k2")  # the committee member of 软件2302: the period
    assert reminder.payload["reply"]["text"].splitlines()[0] == (
        f"【心桥】D{esc.id} 班级心理晴雨表未提交（10-30）")
    clock.advance(days=1)  # the class advisor: the class, as before
    await world.sweep()
    assert any(t.startswith(f"【心桥】D{esc.id} 班级心理晴雨表未提交（软件2302）")
               for t in await world.push_texts("t2"))
