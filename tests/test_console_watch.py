"""关注名单 over plain HTTP: colours and signals in scope, and one audit line per student page."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from tests.console_world import MONDAY_9, dorm_report, sign_in_client
from tests.factories import add_person
from tests.network_world import World, add_other_college_lead, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Person, Role, Tier
from xinqiao.storage.screening import ScreeningResult


async def _client(db: Database, clock: FakeClock, settings: Settings,
                  aiohttp_client: Any) -> tuple[World, TestClient[Any, Any]]:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    return world, await aiohttp_client(build_app(settings, clock, background=False))


async def _audits(db: Database, after: int) -> list[AuditEntry]:
    async with db.session() as s:
        return list(await s.exec(select(AuditEntry).where(col(AuditEntry.id) > after)
                                 .order_by(col(AuditEntry.id))))


async def _last(db: Database) -> int:
    rows = await _audits(db, 0)
    return rows[-1].id or 0 if rows else 0


async def test_the_student_page_is_one_audited_read_and_404_outside_scope(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _client(db, clock, settings, aiohttp_client)
    esc_id = await dorm_report(world)
    await world.chat("s1").say("我不想活了")
    s1 = world.ids["s1"]
    await sign_in_client(world, client, "t1")
    before = await _last(db)
    page = await client.get(f"/console/students/{s1}")
    body = await page.text()
    assert page.status == 200 and "室友小吴" in body
    assert f'href="/console/items/{esc_id}"' in body and "宿舍情况反映" in body
    assert "关注等级 日常关注 → 危机关注（规则自动，待复核）" in body
    entries = await _audits(db, before)
    assert [(a.action, a.subject_person_id, a.allowed) for a in entries] == [
        ("attention.student", s1, True)]
    assert entries[0].detail.get("via") == "console"
    # the advisor's list: red with the report they were sent, audited once as chat's is
    before = await _last(db)
    listing = await (await client.get("/console/watch")).text()
    # red, with the two items sent to the advisor: the dorm report and the crisis alert
    assert "室友小吴" in listing and "反映 2" in listing and "红色 · 危机关注" in listing
    assert [a.action for a in await _audits(db, before)] == ["attention.read"]
    # another college's lead: 404, and the refusal is audited
    await add_other_college_lead(world)
    other = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, other, "x1")
    before = await _last(db)
    refused = await other.get(f"/console/students/{s1}")
    assert refused.status == 404 and "室友小吴" not in await refused.text()
    assert [(a.action, a.allowed) for a in await _audits(db, before)] == [
        ("attention.student", False)]
    assert "室友小吴" not in await (await other.get("/console/watch")).text()


async def test_a_students_case_and_signals_show_only_to_who_may_see_them(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _client(db, clock, settings, aiohttp_client)
    await world.chat("s1").say("我不想活了")
    await sign_in_client(world, client, "t1")  # an advisor: tiers of their class, no cases
    page = await (await client.get(f"/console/students/{world.ids['s1']}")).text()
    assert "建立个案" not in page and "/console/cases/" not in page
    assert (await client.get("/console/cases")).status == 404
    await sign_in_client(world, client, "l1")  # the college: its student's case is linked
    page = await (await client.get(f"/console/students/{world.ids['s1']}")).text()
    assert "建立个案 G" in page and 'href="/console/cases/' in page
    listing = await (await client.get("/console/watch?colour=key")).text()
    assert "室友小吴" not in listing  # filtered to orange: she is red


async def test_a_positive_screening_is_yellow_for_the_centre_and_unseen_by_the_college(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _client(db, clock, settings, aiohttp_client)
    async with db.session() as s:
        s.add(ScreeningResult(person_id=world.ids["s1"], instrument="phq9",
                              instrument_version="1", answers={"q1": 2}, total=12,
                              band="moderate", tier="routine", positive=True,
                              created_at=clock.now()))
    await sign_in_client(world, client, "d1")
    listing = await (await client.get("/console/watch?colour=yellow")).text()
    assert "室友小吴" in listing and "PHQ-9 情绪状况筛查：中度抑郁相关症状（阳性）" in listing
    page = await (await client.get(f"/console/students/{world.ids['s1']}")).text()
    assert "测评 · PHQ-9 情绪状况筛查：中度抑郁相关症状（阳性）" in page
    await sign_in_client(world, client, "l1")  # colleges never see screening results
    assert "室友小吴" not in await (await client.get("/console/watch")).text()
    page = await (await client.get(f"/console/students/{world.ids['s1']}")).text()
    assert "室友小吴" in page and "PHQ-9" not in page


async def test_a_long_list_comes_in_pages_of_fifty_with_every_student_counted(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _client(db, clock, settings, aiohttp_client)
    for n in range(55):
        pid = await add_person(db, world.campus, f"K{n:03d}", f"重点学生{n:02d}", Role.student,
                               now=clock.now(), code=f"KEY{n:05d}")
        async with db.session() as s:
            person = await s.get(Person, pid)
            assert person is not None
            person.tier = Tier.key
            s.add(person)
    await sign_in_client(world, client, "l2")
    first = await (await client.get("/console/watch")).text()
    assert first.count('class="item colour-key"') == 50
    assert "第 1 / 2 页" in first and ">55<" in first  # the orange card counts them all
    assert "重点学生00" in first and "重点学生54" not in first
    second = await (await client.get("/console/watch?page=2")).text()
    assert second.count('class="item colour-key"') == 5 and "重点学生54" in second
    entry = (await _audits(db, 0))[-1]
    assert entry.action == "attention.read" and entry.detail["count"] == 55
