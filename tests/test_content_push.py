"""Weekly tips and content campaigns: on schedule, in chunks, exactly once, to the right people."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from tests.factories import add_person, bind
from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.handlers.content.texts import article_payload, refusal
from xinqiao.policy.policy import Policy, load_policy
from xinqiao.scheduler.calendar_jobs import tip_jobs
from xinqiao.scheduler.jobs import Jobs
from xinqiao.scheduler.runner import JobScheduler
from xinqiao.services import retention
from xinqiao.services.content.campaigns import (
    CampaignError,
    CampaignTimers,
    Target,
    cancel,
    create,
)
from xinqiao.services.content.push import TIP_CHUNK, WeeklyTips, set_subscription
from xinqiao.services.content.service import Content
from xinqiao.services.outbox import Priority
from xinqiao.services.timers import Sweeper, TimerHandler
from xinqiao.settings import Settings
from xinqiao.storage.content import ContentCampaign, TipSubscription
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, Person
from xinqiao.storage.reports import Timer

START = datetime(2026, 10, 12, 20, 0, tzinfo=SHANGHAI)  # Monday of ISO week 2026-W42
TIP_TIME = datetime(2026, 10, 14, 12, 30, tzinfo=SHANGHAI)  # that Wednesday, policy time
CONTENT = Content(None, "https://xinqiao.example.edu.cn")
EXTRA = 25  # subscribers beyond the world's own: with chunks of 10, three chunks and a bit


def _policy(tmp_path: Path) -> Policy:
    path = tmp_path / "policy.toml"
    path.write_text('[content]\ntip_weekday = 3\ntip_at = "12:30"\nchunk = 10\n',
                    encoding="utf-8")
    return load_policy(path)


def _handlers(policy: Policy) -> dict[str, TimerHandler]:
    """What a freshly started process registers (new objects: nothing kept in memory)."""
    return {**WeeklyTips(policy.content, CONTENT, article_payload).timer_handlers(),
            **CampaignTimers(policy.content, CONTENT, article_payload).timer_handlers()}


async def _sweep(world: World, handlers: dict[str, TimerHandler]) -> None:
    if world.jobs_since is not None:  # the weekly tip job, as a running service would
        await Jobs(world.db, world.clock, world.extra_jobs).run_between(world.jobs_since,
                                                                         world.clock.now())
        world.jobs_since = world.clock.now()
    while await Sweeper(world.db, world.clock, handlers).sweep_once():
        pass  # chunk timers re-arm themselves at once: sweep until quiet


async def _students(world: World, n: int, prefix: str, **units: int | None) -> list[int]:
    ids = []
    for i in range(n):
        pid = await add_person(world.db, world.campus, f"{prefix}{i}", f"同学{prefix}{i}",
                               now=world.clock.now(), **units)  # type: ignore[arg-type]
        await bind(world.db, pid, "console", f"a-{prefix}{i}", world.clock.now())
        ids.append(pid)
    return ids


async def _pushes(world: World, prefix: str) -> list[OutboxMessage]:
    async with world.db.session() as s:
        rows = await s.exec(select(OutboxMessage)
                            .where(col(OutboxMessage.idempotency_key).startswith(prefix))
                            .order_by(col(OutboxMessage.id)))
        return list(rows)


async def _tip_world(db: Database, clock: FakeClock, settings: Settings,
                     tmp_path: Path) -> tuple[World, Policy, list[int]]:
    world = await make_world(db, clock, settings, start=START)
    policy = _policy(tmp_path)
    extra = await _students(world, EXTRA, "x")
    async with db.session() as s:
        # i1 also follows the Official Account and prefers it: tips go there as cards.
        s.add(ChannelIdentity(channel="wechat", address="o-i1", person_id=world.ids["i1"],
                              preferred=True, created_at=clock.now()))
        for pid in [world.ids["s1"], world.ids["i1"], world.ids["k1"], *extra]:
            await set_subscription(s, pid, True, clock.now())
    world.extra_jobs = tip_jobs(WeeklyTips(policy.content, CONTENT, article_payload))
    world.jobs_since = clock.now()  # the service runs from here on
    return world, policy, [world.ids["s1"], world.ids["i1"], world.ids["k1"], *extra]


async def test_each_subscriber_gets_one_tip_a_week_even_across_a_crash_mid_chunk(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world, policy, subscribers = await _tip_world(db, clock, settings, tmp_path)
    clock.set(TIP_TIME - timedelta(minutes=1))
    await _sweep(world, _handlers(policy))
    assert await _pushes(world, "tip:") == []  # not before the policy's time

    # The process dies in the middle of the second chunk: its pushes and its cursor roll back.
    real = _handlers(policy)
    fired = Counter[str]()

    async def dies_in_chunk_two(s: object, timer: Timer) -> None:
        fired["chunk"] += 1
        await real[TIP_CHUNK](s, timer)  # type: ignore[arg-type]
        if fired["chunk"] == 2:
            raise RuntimeError("killed mid-chunk")

    clock.set(TIP_TIME)
    await _sweep(world, {**real, TIP_CHUNK: dies_in_chunk_two})
    assert len(await _pushes(world, "tip:2026-W42:")) == 10  # only the first chunk committed
    # Restart: the new process's catch-up finds the week's run claimed, and the chunks resume
    # after the retry delay.
    tips = WeeklyTips(policy.content, CONTENT, article_payload)
    await JobScheduler(Jobs(db, clock, tip_jobs(tips))).catch_up()
    clock.advance(minutes=2)
    await _sweep(world, _handlers(policy))
    week1 = await _pushes(world, "tip:2026-W42:")
    assert Counter(p.person_id for p in week1) == Counter(subscribers)  # exactly one each
    assert {p.priority for p in week1} == {Priority.bulk}
    assert len({p.payload["reply"]["links"][0][1] for p in week1}) == 1  # the same tip

    # A subscriber's console push carries the link and a 退订 button; WeChat gets a card.
    by_person = {p.person_id: p for p in week1}
    console = by_person[world.ids["s1"]].payload["reply"]
    assert console["choices"] == [["flow:tips_off", "退订"]]
    assert console["links"][0][1].startswith("https://xinqiao.example.edu.cn/articles/tip-")
    wechat = by_person[world.ids["i1"]]
    assert wechat.channel == "wechat" and wechat.payload["reply"]["choices"] == []
    assert "回复「退订」" in wechat.payload["reply"]["links"][0][2]
    assert wechat.payload["alert"]["url"] == wechat.payload["reply"]["links"][0][1]

    # Next week: one more each, except whoever unsubscribed or left meanwhile.
    async with db.session() as s:
        await set_subscription(s, world.ids["k1"], False, clock.now())
        gone = await s.get(Person, subscribers[-1])
        assert gone is not None
        gone.active = False
        s.add(gone)
    clock.set(TIP_TIME + timedelta(days=7))
    await _sweep(world, _handlers(policy))
    week2 = await _pushes(world, "tip:2026-W43:")
    assert Counter(p.person_id for p in week2) == Counter(
        p for p in subscribers if p not in (world.ids["k1"], subscribers[-1]))
    assert week2[0].payload["reply"]["links"][0][1] != week1[0].payload["reply"]["links"][0][1]


async def test_a_duplicate_chunk_timer_sends_nothing_twice(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world, policy, subscribers = await _tip_world(db, clock, settings, tmp_path)
    clock.set(TIP_TIME)
    await _sweep(world, _handlers(policy))
    async with db.session() as s:  # e.g. a second sweeper that re-armed the first chunk
        first = (await s.exec(select(Timer).where(Timer.kind == TIP_CHUNK)
                              .order_by(col(Timer.id)))).first()
        assert first is not None
        s.add(Timer(kind=TIP_CHUNK, ref=first.ref, token=1, due_at=clock.now(),
                    created_at=clock.now()))
    await _sweep(world, _handlers(policy))
    pushes = await _pushes(world, "tip:2026-W42:")
    assert len(pushes) == len(subscribers) == len({p.person_id for p in pushes})


async def test_a_late_start_still_sends_this_weeks_tip_and_then_plans_the_next(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world, policy, _ = await _tip_world(db, clock, settings, tmp_path)
    world.jobs_since = None  # the service was down at 12:30 and starts three hours late
    clock.set(TIP_TIME + timedelta(hours=3))
    await JobScheduler(Jobs(db, clock, world.extra_jobs)).catch_up()
    world.jobs_since = clock.now()
    await _sweep(world, _handlers(policy))
    assert len(await _pushes(world, "tip:2026-W42:")) == EXTRA + 3
    clock.set(TIP_TIME + timedelta(days=7))  # and next week's on time
    await _sweep(world, _handlers(policy))
    assert len(await _pushes(world, "tip:2026-W43:")) == EXTRA + 3


async def _campaign_world(db: Database, clock: FakeClock, settings: Settings
                          ) -> tuple[World, dict[str, int]]:
    world = await make_world(db, clock, settings, start=START)
    other = world.campus.other_college_id
    ids = dict(world.ids)
    for who, pid in zip(("e1", "e2"), await _students(world, 2, "e", college_id=other,
                                                      klass_id=None), strict=True):
        ids[who] = pid
    ids["z1"] = (await _students(world, 1, "z"))[0]
    years = {"s1": 2026, "i1": 2026, "k1": 2025, "k2": 2025, "e1": 2026, "e2": 2025,
             "z1": 2026}
    async with db.session() as s:
        for who, year in years.items():
            person = await s.get(Person, ids[who])
            assert person is not None
            person.enrolment_year = year
            person.active = who != "z1"  # z1 has left the school
            s.add(person)
    return world, ids


async def test_campaigns_reach_exactly_their_target_group(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world, ids = await _campaign_world(db, clock, settings)
    policy = _policy(tmp_path)
    info, econ = world.campus.college_id, world.campus.other_college_id
    targets = {
        "all": (Target(), {"s1", "i1", "k1", "k2", "e1", "e2"}),
        "college": (Target(college_id=econ), {"e1", "e2"}),
        "year": (Target(enrolment_year=2025), {"k1", "k2", "e2"}),
        "both": (Target(college_id=info, enrolment_year=2026), {"s1", "i1"}),
    }
    now = clock.now()
    created: dict[str, int] = {}
    async with db.session() as s:
        for name, (target, _) in targets.items():
            row = await create(s, CONTENT, name=f"10·10 {name}", slug="world-mental-health-day",
                               target=target, send_at=now, now=now, created_by=ids["c1"])
            assert row.id is not None
            created[name] = row.id
        later = await create(s, CONTENT, name="", slug="sleep-basics", target=Target(),
                             send_at=now + timedelta(days=3), now=now, created_by=None)
        dropped = await create(s, CONTENT, name="", slug="sleep-basics", target=Target(),
                               send_at=now, now=now, created_by=None)
        assert dropped.id is not None and later.id is not None
        assert await cancel(s, dropped.id, now, ids["c1"])
        with pytest.raises(CampaignError) as refused:
            await create(s, CONTENT, name="", slug="festival-525", target=Target(),
                         send_at=now, now=now, created_by=None)
        assert "不在发布期内" in refusal(refused.value)
    await _sweep(world, _handlers(policy))
    names = {pid: who for who, pid in ids.items()}
    for name, (_, expected) in targets.items():
        pushes = await _pushes(world, f"content-campaign:{created[name]}:")
        assert {names[p.person_id] for p in pushes if p.person_id} == expected, name
        assert {p.priority for p in pushes} == {Priority.bulk}
        assert pushes[0].payload["reply"]["text"] == f"10·10 {name}"
    assert await _pushes(world, f"content-campaign:{dropped.id}:") == []
    assert await _pushes(world, f"content-campaign:{later.id}:") == []  # not yet due
    async with db.session() as s:
        rows = {c.id: c for c in (await s.exec(select(ContentCampaign))).all()}
    assert rows[created["all"]].status == "sent" and rows[created["all"]].pushed == 6
    assert rows[dropped.id].status == "cancelled" and rows[later.id].status == "planned"
    clock.advance(days=3)
    await _sweep(world, _handlers(policy))
    assert len(await _pushes(world, f"content-campaign:{later.id}:")) == 6


async def test_a_large_campaign_goes_out_in_chunks_and_staff_are_not_targeted(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings, start=START)
    policy = _policy(tmp_path)
    await _students(world, EXTRA, "x")
    async with db.session() as s:
        row = await create(s, CONTENT, name="", slug="seek-help", target=Target(),
                           send_at=clock.now(), now=clock.now(), created_by=None)
    sweeps = 0
    while await Sweeper(db, clock, _handlers(policy)).sweep_once():
        sweeps += 1
    pushes = await _pushes(world, f"content-campaign:{row.id}:")
    assert len(pushes) == EXTRA + 4 and sweeps == 3  # 29 students, chunks of 10
    staff = {world.ids[who] for who in ("t1", "t2", "l1", "l2", "c1", "c2", "d1")}
    assert staff and not staff & {p.person_id for p in pushes}


async def test_retention_removes_the_subscription_of_someone_who_left(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    async with db.session() as s:
        await set_subscription(s, world.ids["s1"], True, clock.now())
        await set_subscription(s, world.ids["k1"], True, clock.now())
        person = await s.get(Person, world.ids["s1"])
        assert person is not None
        person.active, person.left_at = False, clock.now()
        s.add(person)
    async with db.session() as s:
        counts = await retention.purge(s, world.network.policy.retention, clock.now())
    assert counts["subscriptions"] == 1
    async with db.session() as s:
        left = (await s.exec(select(TipSubscription.person_id))).all()
    assert list(left) == [world.ids["k1"]]


async def test_a_campaign_without_a_name_says_the_title_once_and_counts_who_it_reaches(
    db: Database, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    from tests.dialog import Dialog

    world = await make_world(db, clock, settings, start=START)
    for i in range(2):  # two students of 信息工程学院 who never bound a chat account
        await add_person(db, world.campus, f"n{i}", f"未绑定{i}", now=clock.now())
    centre = Dialog(db, settings, clock, "a-c1", network=world.network, content=CONTENT)
    await centre.send("内容推送")
    await centre.send("world-mental-health-day")
    await centre.send("按学院")
    await centre.send("信息工程学院")
    confirm = (await centre.send("立即推送"))[-1].text
    assert ("信息工程学院学生（目前 6 人，其中 4 人能收到，2 人还没绑定聊天账号、收不到）"
            in confirm)
    assert "已安排推送" in (await centre.send("确认"))[-1].text
    async with db.session() as s:  # the CLI's way: no --name
        await create(s, CONTENT, name="", slug="sleep-basics", target=Target(),
                     send_at=clock.now(), now=clock.now(), created_by=None)
    await _sweep(world, _handlers(_policy(tmp_path)))
    async with db.session() as s:
        rows = (await s.exec(select(ContentCampaign).order_by(col(ContentCampaign.id)))).all()
    for row in rows:
        push = (await _pushes(world, f"content-campaign:{row.id}:"))[0]
        reply = push.payload["reply"]
        title = reply["links"][0][0]
        assert reply["text"] == "心理中心给你推荐一篇文章" and title not in reply["text"]
    listed = (await centre.send("内容推送"))[-1].text
    assert f"{rows[0].name}（已推送 4 人）" in listed
    assert f"{rows[1].name}（已推送 4 人）" in listed and "已推送，" not in listed
