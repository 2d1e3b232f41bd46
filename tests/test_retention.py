"""Retention: each kind of record is purged or anonymised when its period ends, not before."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import select

from tests.network_world import World, make_world
from xinqiao.bot.inbox import store
from xinqiao.bot.notify import ConsoleSender, Notifier
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.binding import mark_left
from xinqiao.services.network import Network
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case, CaseNote
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    AuditEntry,
    ChannelIdentity,
    InboxMessage,
    OutboxMessage,
    Person,
)
from xinqiao.storage.reports import Escalation, Report
from xinqiao.storage.screening import Consent, ScreeningResult

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)
POLICY = """
[retention]
chat_days = 30
report_text_days = 60
after_leaving_days = 10
case_days = 90
audit_days = 120

# Nobody in this world ever fills in the weekly class check-in, so each missing one climbs to
# the top of its chain and is then reminded every 4 working hours for the test's four months:
# 3,800 deadline timers fired, 80% of the test's time, none of them what it checks. Reminded
# once a working week, the same items still climb and remind, and their pushes and audit
# entries still age and are purged (~480 deadline timers).
[severity.routine]
remind_every = "40h"
"""
WORDS = "我真的撑不下去了，不想活了"


async def _screen(world: World, who: str) -> None:
    chat = world.chat(who)
    await chat.say("心理测评")
    await chat.say("我已了解，同意开始")
    await chat.say("GAD-7 焦虑状况筛查（广泛性焦虑量表）")
    for _ in range(7):
        await chat.say("1")


async def _day(world: World, days: int) -> None:
    world.clock.set(START + timedelta(days=days))
    while await world.sweep():
        pass


async def _count(db: Database, table: type) -> int:
    async with db.session() as s:
        return len((await s.exec(select(table))).all())


async def test_records_are_purged_or_anonymised_as_their_periods_end(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings, start=START)
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text(POLICY, encoding="utf-8")
    world.network = Network(load_policy(policy_file))
    await world.start_jobs()
    await _screen(world, "s1")
    await _screen(world, "k1")
    await world.chat("s1").say(WORDS)  # a crisis: report, escalation, alerts, a case
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
        case = (await s.exec(select(Case))).one()
    staff = world.chat("c1")
    await staff.say(f"收到 {esc.id}")
    await staff.say(f"已处理 {esc.id} 已面谈，家长已接回")
    await staff.say("个案")
    await staff.say(f"查看 #{case.id}")
    await staff.say("我来负责")
    await staff.say("写计划")
    await staff.say("每周二面谈一次")
    await staff.say(f"查看 #{case.id}")
    await staff.say("结案")
    await staff.say("情绪平稳，转重点关注")
    assert "已结案" in await staff.say("重点关注")
    pending = await store(db, channel="console", dedupe_key="never-handled", address="a-k2",
                          kind="message", payload={"inbound": {"text": "你好"}},
                          now=clock.now())
    printed: list[str] = []
    notifier = Notifier(db, clock, settings, {"console": ConsoleSender(printed.append)})
    while await notifier.drain_once():  # the pushes go out (a final status: purgeable)
        pass
    assert printed
    marked, unknown = await mark_left(db, ["s1", "nobody"], now=clock.now())
    assert (marked, unknown) == (1, ["nobody"])
    async with db.session() as s:
        student = await s.get(Person, world.ids["s1"])
        accounts = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.person_id == world.ids["s1"]))).all()
    assert student is not None and not student.active and accounts == []
    inbox_before = await _count(db, InboxMessage)

    await _day(world, 9)  # nothing has reached its period yet
    assert await _count(db, InboxMessage) == inbox_before
    assert await _count(db, ScreeningResult) == 2

    await _day(world, 11)  # s1 left 11 days ago: their screening record goes; k1 keeps theirs
    async with db.session() as s:
        results = (await s.exec(select(ScreeningResult.person_id))).all()
        consents = (await s.exec(select(Consent.person_id))).all()
    assert results == [world.ids["k1"]] and consents == [world.ids["k1"]]
    assert await _count(db, InboxMessage) == inbox_before

    await _day(world, 31)  # chat traffic is 30 days old: gone, except what was never handled
    async with db.session() as s:
        inbox = (await s.exec(select(InboxMessage))).all()
        outbox = (await s.exec(select(OutboxMessage).where(
            OutboxMessage.created_at < START + timedelta(hours=1)))).all()
        report = (await s.exec(select(Report))).one()
    assert [m.id for m in inbox if m.received_at < START + timedelta(hours=1)] == [pending.row_id]
    assert outbox == []
    assert WORDS in str(report.answers)  # report text lasts 60 days

    await _day(world, 61)
    async with db.session() as s:
        report = (await s.exec(select(Report))).one()
        esc_now = await s.get(Escalation, esc.id)
        case_now = await s.get(Case, case.id)
    assert report.answers == {} and report.redacted_at is not None
    assert (report.kind, report.severity) == ("crisis", "crisis")  # the facts stay
    assert esc_now is not None and esc_now.resolution is None
    assert case_now is not None and case_now.plan == "每周二面谈一次"  # cases: 90 days

    await _day(world, 91)
    async with db.session() as s:
        case_now = await s.get(Case, case.id)
        notes = (await s.exec(select(CaseNote))).all()
    assert case_now is not None and (case_now.plan, case_now.decision, notes) == (None, None, [])
    assert case_now.status == "closed"

    await _day(world, 121)  # the oldest audit entries go; the purges' own entries stay
    async with db.session() as s:
        entries = (await s.exec(select(AuditEntry))).all()
    assert entries and all(e.at >= START + timedelta(days=1) for e in entries)
    assert any(e.action == "retention.purge" for e in entries)
