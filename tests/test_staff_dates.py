"""Staff name weeks and times as people say them: 预约统计 下周, 内容推送 明天上午9点."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import select

from tests.demo_school import load_school
from tests.dialog import Dialog, labels
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.booking.appointments import book
from xinqiao.services.booking.slots import SlotFilter, free_slots
from xinqiao.services.content.service import Content
from xinqiao.services.zh_when import parse_zh_when
from xinqiao.settings import Settings
from xinqiao.storage.content import ContentCampaign
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person

MONDAY = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)


async def test_booking_statistics_reach_next_week_and_any_named_week(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    clock.set(MONDAY)
    school = await load_school(db, clock, settings)
    async with db.session() as s:  # a student books a session next Tuesday
        [slot, *_] = await free_slots(s, school.network.policy, clock.now(),
                                      SlotFilter(day=date(2026, 9, 15)))
        student = await s.get(Person, school.ids["S2023001"])
        assert student is not None
        assert (await book(s, school.network.policy, student, slot.counsellor_id, slot.start,
                           clock.now())).ok
    centre = await school.chat("C9001")
    this_week = (await centre.send("预约统计"))[-1]
    assert this_week.text.startswith("预约统计 2026-09-07 至 2026-09-13")
    assert "下一周" in labels(this_week)
    following = await centre.say("下一周")
    assert following.startswith("预约统计 2026-09-14 至 2026-09-20") and "| 1 |" in following
    assert "本周" in following
    assert (await centre.say("预约统计 下周")).startswith("预约统计 2026-09-14")
    assert (await centre.say("预约统计 12月8日")).startswith("预约统计 2026-12-07")
    assert (await centre.say("上周")).startswith("预约统计 2026-08-31")
    unread = await centre.say("预约统计 随便看看")
    assert "没有看懂" in unread and "预约统计 2026-09-07" in unread


def test_common_chinese_dates_and_times_are_read_in_shanghai() -> None:
    now = MONDAY  # a Monday
    cases = {
        "明天上午9点": datetime(2026, 9, 8, 9, 0),
        "周五下午3点": datetime(2026, 9, 11, 15, 0),
        "12月8日 14:00": datetime(2026, 12, 8, 14, 0),
        "下周一 10:30": datetime(2026, 9, 14, 10, 30),
        "今晚八点半": datetime(2026, 9, 7, 20, 30),
        "星期三": datetime(2026, 9, 9, 9, 0),
        "2027-05-25 09:00": datetime(2027, 5, 25, 9, 0),
        "后天中午12点": datetime(2026, 9, 9, 12, 0),
        "十二月八日下午两点": datetime(2026, 12, 8, 14, 0),
    }
    for text, expected in cases.items():
        assert parse_zh_when(text, now) == expected.replace(tzinfo=SHANGHAI), text
    for text in ("下周吧", "随便", "13月40日", "25点", ""):
        assert parse_zh_when(text, now) is None, text


async def test_content_push_accepts_tomorrow_morning_and_explains_what_it_cannot_read(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    clock.set(MONDAY)
    school = await load_school(db, clock, settings)
    await school.chat("C9001")  # binds
    centre = Dialog(db, settings, clock, "d-C9001", network=school.network,
                    content=Content(None, settings.public_base_url))
    await centre.say("内容推送")
    await centre.say("世界精神卫生日")
    await centre.say("10·10 世界精神卫生日")
    asked = await centre.say("全校学生")
    assert "明天上午9点" in asked and "周五下午3点" in asked
    unread = await centre.say("找个时间")
    assert "没有看懂“找个时间”" in unread and "12月8日 14:00" in unread
    past = await centre.say("今天上午8点")
    assert "已经过去了" in past
    confirm = await centre.say("10月10日上午9点")  # the article's own publishing window
    assert "2026-10-10 09:00" in confirm and "目前 32 人" in confirm
    assert "已安排推送" in await centre.say("确认")
    async with db.session() as s:
        row = (await s.exec(select(ContentCampaign))).one()
    assert row.send_at == datetime(2026, 10, 10, 9, 0, tzinfo=SHANGHAI)
