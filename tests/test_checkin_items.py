"""A missing check-in is closed by a check-in: not waved away by the committee member, offered
as the form itself, announced to everyone alerted when it arrives late, marked late after."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import col, select

from tests.dialog import Dialog
from tests.factories import bind
from tests.network_world import INSTRUMENTS, World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.completion import class_completion
from xinqiao.services.monthly.report import build_monthly
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry
from xinqiao.storage.reports import CheckIn, Escalation

FRIDAY_0000 = datetime(2026, 10, 30, 0, 0, tzinfo=SHANGHAI)  # due Fri 17:00, no key period


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of late October / early November 2026, Shanghai time."""
    month = 10 if day >= 20 else 11
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)


async def _missing_friday(world: World) -> Escalation:
    """Class 2 misses Friday's check-in: its item opens and reminds the committee member."""
    await world.chat("k1").say("晴雨表")
    await world.chat("k1").say("1")  # class 1 is fine
    await world.start_jobs()
    world.clock.set(at(30, 0, 5))
    await world.sweep()
    world.clock.set(at(30, 17))
    await world.sweep()
    async with world.db.session() as s:
        return (await s.exec(select(Escalation))).one()


async def test_the_committee_member_cannot_wave_the_item_away(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    esc = await _missing_friday(world)
    k2 = world.chat("k2")
    refused = await k2.say(f"收到 {esc.id}")
    assert "提交晴雨表后会自动结案" in refused and "已确认" not in refused
    refused = await k2.say(f"已处理 {esc.id} 本周班会取消了")
    assert "提交晴雨表后会自动结案" in refused and "已结案" not in refused
    async with db.session() as s:
        row = await s.get(Escalation, esc.id)
        audits = (await s.exec(select(AuditEntry).where(  # in the order they were refused
            col(AuditEntry.action).in_(["escalation.ack", "escalation.resolve"]),
            AuditEntry.actor_person_id == world.ids["k2"]).order_by(col(AuditEntry.id)))).all()
    assert row is not None and row.status == "open" and row.level == 0
    assert [a.action for a in audits if not a.allowed] == [
        "escalation.ack", "escalation.resolve"]
    # and so the class advisor still hears of it a day later
    clock.set(at(31, 17))
    await world.sweep()
    assert any("晴雨表未提交" in t for t in await world.push_texts("t2"))


async def test_the_reminder_is_the_form_and_a_late_check_in_is_announced(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    esc = await _missing_friday(world)
    (reminder,) = await world.pushes("k2")
    reply = reminder.payload["reply"]
    assert "本周无异常" in reply["text"] and "收到" not in reply["text"]
    assert [k for k, _ in reply["choices"]] == ["flow:checkin_none", "flow:checkin"]
    assert reminder.payload["alert"]["fields"]["事项"] == "班级心理晴雨表未提交（10-30）"
    clock.set(at(31, 17))
    await world.sweep()  # the advisor
    clock.set(at(1, 17))
    await world.sweep()  # the college
    college_alert = (await world.push_texts("l1"))[-1]
    assert "否则将升级" not in college_alert and "无人确认" in college_alert
    # Monday: one number on the reminder submits 本周无异常 for Friday
    clock.set(at(2, 9))
    done = await world.chat("k2").say("1")
    assert "已提交" in done
    async with db.session() as s:
        checkin = (await s.exec(select(CheckIn).where(
            CheckIn.klass_id == world.campus.other_klass_id))).one()
        row = await s.get(Escalation, esc.id)
    assert checkin.period == date(2026, 10, 30) and checkin.nothing_to_report
    assert row is not None and row.status == "resolved"
    for who in ("t2", "l1", "l2"):
        assert "11-02 09:00 补交" in (await world.push_texts(who))[-1], who
    assert not any("补交" in t for t in await world.push_texts("k2"))
    # completion and the 月报 mark it late
    due_at = world.network.policy.checkin_due_at
    async with db.session() as s:
        lines = await class_completion(s, world.campus.college_id, [date(2026, 10, 30)],
                                       due_at=due_at)
        data = await build_monthly(s, world.campus.college_id, date(2026, 10, 1),
                                   [date(2026, 10, 30)], due_at)
    assert {c.klass_id: c.late for c in lines}[world.campus.other_klass_id] == [
        date(2026, 10, 30)]
    assert data["checkins"]["late"] == 1
    assert data["reports"]["by_kind"]["checkin"]["escalated"] == 1  # it climbed: 曾升级


async def test_the_advisor_closes_it_with_a_reason_audited_and_announced(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    esc = await _missing_friday(world)
    clock.set(at(31, 17))
    await world.sweep()
    t2 = world.chat("t2")
    assert "处理情况" in await t2.say(f"已处理 {esc.id}")  # asked for the reason
    assert "已结案" in await t2.say("本周班会取消，下周一起交")
    async with db.session() as s:
        row = await s.get(Escalation, esc.id)
        audit = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "escalation.resolve"))).all()
    assert row is not None and row.status == "resolved"
    assert row.resolution == "本周班会取消，下周一起交"
    assert [(a.actor_person_id, a.allowed) for a in audit] == [(world.ids["t2"], True)]
    assert "已由辅导员陈老师说明原因后结案" in (await world.push_texts("k2"))[-1]


async def test_a_sunday_check_in_counts_for_this_weeks_missing_friday(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # The service was down over the weekend: no item was ever opened for Friday.
    world = await make_world(db, clock, settings, start=at(1, 10))  # Sunday
    assert "已提交" in await world.chat("k1").say("晴雨表") + await world.chat("k1").say("1")
    async with db.session() as s:
        checkin = (await s.exec(select(CheckIn))).one()
    assert checkin.period == date(2026, 10, 30)
    view = await world.chat("l1").say("周报完成情况")
    assert "10月30日" in view and "软件2301（逾期补交）" in view


def test_the_alert_field_is_never_cut_inside_a_bracket() -> None:
    # WeChat template values hold 20 characters: "班级心理晴雨表未提交（计算" was sent.
    from xinqiao.services.escalation.record import item_field

    long_class = "【心桥】#3 班级心理晴雨表未提交（计算机科学与技术2301班）"
    assert item_field(long_class) == "班级心理晴雨表未提交"
    key_period = ("【心桥·再次提醒】#12 重点时段（开学及新生入学第一个月）"
                  "班级心理晴雨表未提交（09-15）")
    assert item_field(key_period) == "重点时段班级心理晴雨表未提交"
    assert item_field("【心桥】#1 宿舍情况反映（软件2301）") == "宿舍情况反映（软件2301）"


async def test_the_reminder_s_numbers_work_on_the_account_it_reached_only(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    await bind(db, world.ids["k2"], "telegram", "tg-k2", clock.now())  # preferred to console
    await _missing_friday(world)
    (reminder,) = await world.pushes("k2")
    assert (reminder.channel, reminder.address) == ("telegram", "tg-k2")
    # On the console, which never showed the reminder, "1" keeps meaning the menu's first item.
    elsewhere = await world.chat("k2").say("1")
    assert "已提交" not in elsewhere
    telegram = Dialog(db, settings, clock, "tg-k2", channel="telegram", network=world.network,
                      instruments=INSTRUMENTS)
    assert "已提交" in await telegram.say("1")


async def test_the_committee_member_hears_the_check_in_went_on_and_can_still_send_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    # They were never asked to 收到 the item, yet were told it "未在期限内确认，已升级".
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    esc = await _missing_friday(world)
    clock.set(at(31, 17))
    await world.sweep()  # a day later it climbs to the class advisor
    told = (await world.pushes("k2"))[-1].payload["reply"]
    assert told["text"] == (
        f"【心桥】D{esc.id} 本期（10-30）的班级心理晴雨表没有按时提交，已转告班级辅导员。\n"
        "现在提交也可以：本周无异常的话，点“本周无异常”一键提交；有情况请点“填写晴雨表”"
        "（也可以回复“晴雨表”）。")
    assert [k for k, _ in told["choices"]] == ["flow:checkin_none", "flow:checkin"]
    assert "确认" not in told["text"]
    done = await world.chat("k2").say("1")  # the tap on the notice sends it
    assert "已提交" in done
    async with db.session() as s:
        row = await s.get(Escalation, esc.id)
    assert row is not None and row.status == "resolved"
