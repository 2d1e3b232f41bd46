"""Pushes on WeCom: per-member limits held back, staff alerts preferring WeCom, fallback on
``invaliduser``, the shared token, and the roster's WeCom column."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from tests.factories import bind
from tests.network_world import World, make_world
from tests.roster_files import write_csv
from tests.test_wecom import wecom_settings
from tests.wechat_stub import WeChatStub
from tests.wecom_stub import WeComStub
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.channels.wecom_api import WeComAPI
from xinqiao.bot.channels.wecom_sender import WeComSender
from xinqiao.bot.notify import Notifier
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.services.outbox import enqueue
from xinqiao.services.roster import import_roster
from xinqiao.services.wecom_people import sync_roster
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, OutboxStatus, Person

STAFF = ("l1", "l2", "c1", "c2")


@pytest.fixture
async def wecom(clock: FakeClock) -> AsyncIterator[WeComStub]:
    """The WeCom API stand-in on the test's clock."""
    async with WeComStub(clock=clock) as stub:
        yield stub


@asynccontextmanager
async def notifier_for(db: Database, clock: FakeClock, cfg: Settings
                       ) -> AsyncIterator[Notifier]:
    """A notifier with the WeChat and WeCom senders on their stand-ins."""
    async with WeChatAPI(db, cfg, clock) as wechat, WeComAPI(db, cfg, clock) as wecom:
        yield Notifier(db, clock, cfg, {"wechat": WeChatSender(wechat, cfg),
                                        "wecom": WeComSender(wecom, cfg)})


async def queue_reminders(db: Database, clock: FakeClock, userid: str, count: int) -> None:
    async with db.session() as s:
        for i in range(count):
            await enqueue(s, key=f"r:{i}", channel="wecom", address=userid, kind="reminder",
                          payload={"reply": {"text": f"提醒 {i}"}}, now=clock.now())


async def pending(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list((await s.exec(select(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.pending))).all())


async def test_a_member_at_the_minute_limit_waits_instead_of_being_dropped(
    db: Database, clock: FakeClock, settings: Settings, wecom: WeComStub
) -> None:
    cfg = wecom_settings(settings, wecom.url)
    await queue_reminders(db, clock, "wanglaoshi", 35)
    async with notifier_for(db, clock, cfg) as notifier:
        for _ in range(3):
            await notifier.drain_once()
        assert len(wecom.sent) == 30 and wecom.dropped == []
        waiting = await pending(db)
        assert len(waiting) == 5 and all(r.attempts == 0 for r in waiting)  # held, not failed
        first = min(waiting, key=lambda r: r.id or 0)  # due when the first send ages out
        assert first.next_attempt_at == clock.now() + timedelta(seconds=60)
        clock.advance(seconds=61)
        for _ in range(3):
            await notifier.drain_once()
    assert len(wecom.sent) == 35 and wecom.dropped == []
    assert [m.body["content"] for m in wecom.sent] == [f"提醒 {i}" for i in range(35)]


async def test_a_member_at_the_hour_limit_waits_for_the_hour(
    db: Database, clock: FakeClock, settings: Settings, wecom: WeComStub
) -> None:
    wecom.per_hour = 40
    cfg = wecom_settings(settings, wecom.url, wecom_member_per_hour=40)
    await queue_reminders(db, clock, "wanglaoshi", 45)
    async with notifier_for(db, clock, cfg) as notifier:
        for _ in range(5):  # a minute apart: 30, then 10, then the hour is full
            await notifier.drain_once()
            clock.advance(seconds=61)
        assert len(wecom.sent) == 40 and len(await pending(db)) == 5
        clock.advance(minutes=58)
        for _ in range(2):
            await notifier.drain_once()
    assert len(wecom.sent) == 45 and wecom.dropped == []


async def _crisis_report(world: World) -> None:
    chat = world.chat("i1")
    for said in ("宿舍情况", "室友小吴", "他这几天一直很低落", "10", "现在就需要处理"):
        await chat.say(said)


async def _staff_on_both(db: Database, clock: FakeClock, world: World) -> None:
    for who in STAFF:  # bound on WeChat first (and preferred there), then on the roster's WeCom
        await bind(db, world.ids[who], "wechat", f"o-{who}", clock.now())
        async with db.session() as s:
            await s.exec(update(ChannelIdentity).where(
                col(ChannelIdentity.address) == f"o-{who}").values(preferred=True))
            await s.exec(update(Person).where(col(Person.id) == world.ids[who])
                         .values(wecom_userid=f"wx-{who}"))
    async with db.session() as s:
        school = (await s.exec(select(Person.school_id))).first()
        assert school is not None
        assert await sync_roster(s, school, clock.now()) == len(STAFF)


async def test_staff_alerts_go_to_wecom_as_a_card_with_the_console_link(
    db: Database, clock: FakeClock, settings: Settings, wecom: WeComStub, stub: WeChatStub
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 9, 7, 23, 30, tzinfo=SHANGHAI))
    await _staff_on_both(db, clock, world)
    cfg = wecom_settings(settings, wecom.url, wechat_api_base=stub.url)
    async with notifier_for(db, clock, cfg) as notifier:
        await _crisis_report(world)
        for _ in range(3):
            await notifier.drain_once()
    cards = {m.touser: m for m in wecom.sent if m.msgtype == "textcard"}
    assert set(cards) == {f"wx-{w}" for w in STAFF}
    card = cards["wx-c1"].body
    assert card["url"].startswith("https://xq.example.edu/console/items/")
    assert "待处理" in card["title"] and "很低落" not in str(card)  # never the report's words
    assert "回复“收到 D1”确认" in card["description"]  # how to confirm, right in the card
    assert stub.sent == []  # not also on WeChat


async def test_invaliduser_marks_wecom_unreachable_and_the_alert_falls_back_to_wechat(
    db: Database, clock: FakeClock, settings: Settings, wecom: WeComStub, stub: WeChatStub
) -> None:
    world = await make_world(db, clock, settings,
                             start=datetime(2026, 9, 7, 23, 30, tzinfo=SHANGHAI))
    await _staff_on_both(db, clock, world)
    wecom.invalid.add("wx-l1")  # left the app's visible scope
    cfg = wecom_settings(settings, wecom.url, wechat_api_base=stub.url)
    async with notifier_for(db, clock, cfg) as notifier:
        await _crisis_report(world)
        for _ in range(4):
            await notifier.drain_once()
        assert [m.touser for m in stub.sent] == ["o-l1"]  # once, on WeChat
        assert "wx-l1" not in {m.touser for m in wecom.sent}
        async with db.session() as s:
            gone = (await s.exec(select(ChannelIdentity).where(
                ChannelIdentity.address == "wx-l1"))).one()
        assert not gone.reachable
        # the next alert goes straight to WeChat: WeCom is not tried again for l1
        calls = wecom.calls["message/send"]
        await _crisis_report(world)
        for _ in range(4):
            await notifier.drain_once()
    assert [m.touser for m in stub.sent].count("o-l1") == 2
    assert wecom.calls["message/send"] - calls == len(STAFF) - 1


async def test_every_worker_shares_one_wecom_token(
    db: Database, clock: FakeClock, settings: Settings, wecom: WeComStub
) -> None:
    cfg = wecom_settings(settings, wecom.url)
    async with WeComAPI(db, cfg, clock) as one, WeComAPI(db, cfg, clock) as two:
        await one.send_app_message("a", "text", {"content": "一"})
        await two.send_app_message("b", "text", {"content": "二"})
        wecom.token = "rotated-elsewhere"  # WeCom no longer takes ours: one refresh, one retry
        await two.send_app_message("c", "text", {"content": "三"})
    assert wecom.calls["gettoken"] == 2
    assert [m.touser for m in wecom.sent] == ["a", "b", "c"]


async def test_the_roster_binds_staff_on_wecom_and_refuses_it_for_students(
    db: Database, clock: FakeClock, tmp_path: Path
) -> None:
    header = ["id", "name", "roles", "college", "class", "企业微信账号"]
    rows = [header,
            ["T001", "王老师", "辅导员", "信息工程学院", "软件2301", "wanglaoshi"],
            ["C001", "孙老师", "咨询师", "", "", "sunlaoshi"],
            ["S001", "小李", "学生", "信息工程学院", "软件2301", "xiaoli"],
            ["C002", "周老师", "咨询师", "", "", "sunlaoshi"]]
    path = write_csv(tmp_path / "roster.csv", rows)
    report = await import_roster(db, path, now=clock.now(), wecom=True)
    assert [row for row, _ in report.errors] == [4, 5]  # a student; a userid given twice
    async with db.session() as s:
        bound = {i.address: i for i in (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.channel == "wecom"))).all()}
        names = {p.id: p.name for p in (await s.exec(select(Person))).all()}
    assert {a: names[i.person_id or 0] for a, i in bound.items()} == {
        "wanglaoshi": "王老师", "sunlaoshi": "孙老师"}
    assert all(i.preferred for i in bound.values())
    # the userid moves to another teacher: the old binding is released
    rows[2][5] = ""
    rows[4][5] = "sunlaoshi"
    clock.advance(minutes=1)
    await import_roster(db, write_csv(tmp_path / "again.csv", rows), now=clock.now(),
                        wecom=True)
    async with db.session() as s:
        moved = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.address == "sunlaoshi"))).one()
        person = await s.get(Person, moved.person_id or 0)
    assert person is not None and person.name == "周老师"
    assert moved.bound_at == clock.now() and moved.preferred
