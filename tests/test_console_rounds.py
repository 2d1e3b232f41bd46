"""The console's 测评: rounds created by the centre only (with the CSRF token), completion and
band counts in my scope, and 提醒未完成 that reminds once within the policy's gap."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlmodel import select

from tests.console_world import CSRF, click, console_errors, sign_in_browser, sign_in_client
from tests.factories import add_person, bind
from tests.headless import phone
from tests.network_world import World, add_other_college_lead, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.campaigns import ScreeningCampaign
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Klass, Role

TUESDAY_9 = datetime(2026, 10, 27, 9, 0, tzinfo=SHANGHAI)
ROUND = {"name": "期中心理健康测评", "college": "", "year": "", "opens": "2026-10-27",
         "closes": "2026-11-03"}


async def _world(db: Database, clock: FakeClock, settings: Settings) -> World:
    """The standard college plus 国贸2301 of the other college, with one student and a lead."""
    world = await make_world(db, clock, settings, start=TUESDAY_9)
    async with db.session() as s:
        klass = Klass(college_id=world.campus.other_college_id, name="国贸2301")
        s.add(klass)
        await s.flush()
        assert klass.id is not None
    pid = await add_person(db, world.campus, "e1", "外院小陈", Role.student, now=TUESDAY_9,
                           college_id=world.campus.other_college_id, klass_id=klass.id,
                           dorm_id=None)
    await bind(db, pid, "console", "a-e1", TUESDAY_9)
    world.ids["e1"] = pid
    await add_other_college_lead(world)
    await world.start_jobs()
    return world


async def _client(world: World, aiohttp_client: Any, who: str) -> tuple[TestClient[Any, Any], str]:
    client = await aiohttp_client(build_app(world.settings, world.clock, background=False))
    return client, await sign_in_client(world, client, who)


async def _rounds(db: Database) -> list[ScreeningCampaign]:
    async with db.session() as s:
        return list(await s.exec(select(ScreeningCampaign)))


async def _sweep(world: World) -> None:
    while await world.sweep():
        pass


async def _open_round(world: World, aiohttp_client: Any) -> tuple[TestClient[Any, Any], str, int]:
    centre, csrf = await _client(world, aiohttp_client, "d1")
    resp = await centre.post("/console/rounds", data={**ROUND, "csrf": csrf},
                             allow_redirects=False)
    assert resp.status == 303
    (campaign,) = await _rounds(world.db)
    assert resp.headers["Location"] == f"/console/rounds/{campaign.id}?done=created"
    await _sweep(world)  # the invitations go out
    assert campaign.id is not None
    return centre, csrf, campaign.id


async def test_only_the_centre_creates_a_round_and_only_with_the_token(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _world(db, clock, settings)
    lead, lead_csrf = await _client(world, aiohttp_client, "l1")
    assert (await lead.post("/console/rounds", data={**ROUND, "csrf": lead_csrf})).status == 404
    assert "新建测评批次" not in await (await lead.get("/console/rounds")).text()
    centre, csrf = await _client(world, aiohttp_client, "d1")
    assert "新建测评批次" in await (await centre.get("/console/rounds")).text()
    assert (await centre.post("/console/rounds", data=ROUND)).status == 403
    bad = await centre.post("/console/rounds", data={**ROUND, "closes": "2026-10-20",
                                                     "csrf": csrf})
    assert bad.status == 400 and "结束日期要晚于开始日期" in await bad.text()
    for field, value, told in (("name", " ", "请填写批次名称"),
                               ("opens", "2026-10-26", "不能早于今天"),
                               ("closes", "2027-03-01", "最长开放 90 天")):
        bad = await centre.post("/console/rounds", data={**ROUND, field: value, "csrf": csrf})
        assert bad.status == 400 and told in await bad.text(), field
    assert await _rounds(db) == []
    resp = await centre.post("/console/rounds", data={**ROUND, "csrf": csrf})
    assert resp.status == 200 and "测评批次已创建" in await resp.text()
    (campaign,) = await _rounds(db)
    assert campaign.name == "期中心理健康测评" and campaign.created_by == world.ids["d1"]
    async with db.session() as s:
        audit = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "screening.round_created"))).one()
    assert audit.actor_person_id == world.ids["d1"]
    await _sweep(world)
    assert any("期中心理健康测评" in t for t in await world.push_texts("e1"))


async def test_completion_and_bands_stay_in_scope(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _world(db, clock, settings)
    centre, _, round_id = await _open_round(world, aiohttp_client)
    chat = world.chat("s1")  # a student of 软件2301 finishes both instruments
    await chat.say("测评")
    await chat.say("我已了解，同意开始")
    for _ in range(16):
        await chat.say("1")
    path = f"/console/rounds/{round_id}"
    lead, _ = await _client(world, aiohttp_client, "l1")
    page = await (await lead.get(path)).text()
    assert "软件2301" in page and "软件2302" in page and "国贸2301" not in page
    assert "经济管理学院" not in page and "结果分布" in page and "室友小吴" not in page
    assert re.search(r"信息工程学院 · PHQ-9[^<]*（1 人）", page)
    advisor, _ = await _client(world, aiohttp_client, "t1")  # 软件2301 only, no bands
    page = await (await advisor.get(path)).text()
    assert "软件2301" in page and "软件2302" not in page and "结果分布" not in page
    other, _ = await _client(world, aiohttp_client, "x1")
    page = await (await other.get(path)).text()
    assert "国贸2301" in page and "软件2301" not in page and "信息工程学院" not in page
    page = await (await centre.get(path)).text()
    assert "信息工程学院" in page and "经济管理学院" in page and "全校：应测" in page
    # a round for 信息工程学院 alone is not the other college's business: 404
    csrf = CSRF.search(page).group(1)  # type: ignore[union-attr]
    await centre.post("/console/rounds", data={**ROUND, "csrf": csrf,
                                                "college": str(world.campus.college_id)})
    mine = max(c.id or 0 for c in await _rounds(db))
    assert (await other.get(f"/console/rounds/{mine}")).status == 404
    assert (await lead.get(f"/console/rounds/{mine}")).status == 200


async def test_remind_now_reminds_once_within_the_gap(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _world(db, clock, settings)
    centre, csrf, round_id = await _open_round(world, aiohttp_client)

    async def reminders() -> int:
        return sum("温馨提醒" in t for t in await world.push_texts("e1"))

    path = f"/console/rounds/{round_id}/remind"
    lead, lead_csrf = await _client(world, aiohttp_client, "l1")
    assert (await lead.post(path, data={"csrf": lead_csrf})).status == 404
    assert (await centre.post(path)).status == 403
    resp = await centre.post(path, data={"csrf": csrf})
    assert "已开始提醒未完成的同学" in await resp.text()
    await _sweep(world)
    assert await reminders() == 1
    clock.set(TUESDAY_9 + timedelta(minutes=10))
    resp = await centre.post(path, data={"csrf": csrf})
    assert "刚刚提醒过，10-28 09:00 之后才能再次提醒" in await resp.text()
    await _sweep(world)
    assert await reminders() == 1
    clock.set(TUESDAY_9 + timedelta(hours=24, minutes=5))
    centre, csrf = await _client(world, aiohttp_client, "d1")  # the old session idled out
    await centre.post(path, data={"csrf": csrf})
    await _sweep(world)
    assert await reminders() == 2


@pytest.mark.provisioned
async def test_the_rounds_on_a_phone_without_overflow_or_errors(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any,
    aiohttp_server: Any, tmp_path: Path
) -> None:
    world = await _world(db, clock, settings)
    _, _, round_id = await _open_round(world, aiohttp_client)
    server = await aiohttp_server(build_app(settings, clock, background=False))
    async with phone(tmp_path / "p") as page:
        await sign_in_browser(page, world, server, "d1")
        for path in ("/console/rounds", f"/console/rounds/{round_id}"):
            await page.open(str(server.make_url(path)))
            assert await page.evaluate("document.documentElement.scrollWidth") <= 375, path
        await click(page, "#remind")
        assert "已开始提醒" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        assert console_errors(page) == []
