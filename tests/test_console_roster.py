"""The console's 花名册: an upload previewed (row errors, nothing written) until its confirm,
search and a person's accounts as audited reads in scope, the centre's new code / unbind /
leave through the CLI's services, and the units no alert can reach."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from sqlmodel import col, select

from tests.console_world import (
    MONDAY_9,
    click,
    console_errors,
    sign_in_browser,
    sign_in_client,
)
from tests.headless import phone
from tests.network_world import World, add_other_college_lead, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, ChannelIdentity, Person

FILE = ("学号,姓名,角色,学院,班级\n"
        "2026001,新同学甲,学生,信息工程学院,软件2301\n"
        "2026002,,学生,信息工程学院,软件2301\n"
        "s1,室友小吴,学生,信息工程学院,软件2301\n")


async def _world(db: Database, clock: FakeClock, settings: Settings) -> World:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    await add_other_college_lead(world)
    return world


async def _person(db: Database, external_id: str) -> Person | None:
    async with db.session() as s:
        return (await s.exec(select(Person).where(Person.external_id == external_id))).first()


async def _audits(db: Database, action: str) -> list[AuditEntry]:
    async with db.session() as s:
        return list(await s.exec(select(AuditEntry).where(AuditEntry.action == action)
                                 .order_by(col(AuditEntry.id))))


def _upload(csrf: str | None) -> FormData:
    form = FormData()
    if csrf is not None:
        form.add_field("csrf", csrf)
    form.add_field("file", FILE.encode(), filename="名单.csv", content_type="text/csv")
    return form


async def test_an_upload_is_previewed_with_its_bad_rows_and_written_only_on_confirm(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _world(db, clock, settings)
    client = await aiohttp_client(build_app(settings, clock, background=False))
    csrf = await sign_in_client(world, client, "d1")
    assert (await client.post("/console/roster/upload", data=_upload(None))).status == 403
    resp = await client.post("/console/roster/upload", data=_upload(csrf))
    preview = await resp.text()
    assert resp.status == 200 and "/console/roster/upload/" in str(resp.url)
    assert "第 3 行：缺少姓名" in preview
    assert 'id="new">1<' in preview and 'id="known">1<' in preview and 'id="bad">1<' in preview
    assert await _person(db, "2026001") is None and await _audits(db, "roster.import") == []
    again = await client.get(resp.url.path)  # a reload: the same preview, still nothing written
    assert "第 3 行：缺少姓名" in await again.text() and await _person(db, "2026001") is None
    confirm = f"{resp.url.path}/confirm"
    # only the uploader may see or confirm it; without the token the confirm is refused
    colleague = await aiohttp_client(build_app(settings, clock, background=False))
    c1 = await sign_in_client(world, colleague, "c1")
    assert (await colleague.get(resp.url.path)).status == 404
    assert (await colleague.post(confirm, data={"csrf": c1})).status == 404
    assert (await client.post(confirm, data={})).status == 403
    assert await _person(db, "2026001") is None
    done = await client.post(confirm, data={"csrf": csrf})
    assert "新增 1 人" in await done.text() and "跳过 1 行" in await done.text()
    person = await _person(db, "2026001")
    assert person is not None and person.name == "新同学甲"
    [entry] = await _audits(db, "roster.import")
    assert entry.actor_person_id == world.ids["d1"] and entry.detail["errors"] == 1
    assert (await client.get(resp.url.path)).status == 404  # the file is gone after the import
    # a whole school's file is larger than any webhook body: still previewed
    big = FormData()
    big.add_field("csrf", csrf)
    rows = "".join(f"2027{n:05d},同学{n},学生,信息工程学院,软件2301\n" for n in range(9000))
    big.add_field("file", ("学号,姓名,角色,学院,班级\n" + rows).encode(), filename="全校.csv",
                  content_type="text/csv")
    resp = await client.post("/console/roster/upload", data=big)
    assert resp.status == 200 and 'id="new">9000<' in await resp.text()
    # a college lead has no upload
    lead = await aiohttp_client(build_app(settings, clock, background=False))
    l1 = await sign_in_client(world, lead, "l1")
    assert (await lead.post("/console/roster/upload", data=_upload(l1))).status == 404


async def test_a_college_sees_its_own_people_read_only_and_every_look_is_audited(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _world(db, clock, settings)
    s1 = world.ids["s1"]
    client = await aiohttp_client(build_app(settings, clock, background=False))
    csrf = await sign_in_client(world, client, "l1")
    found = await (await client.get("/console/roster?q=室友")).text()
    assert f"/console/roster/people/{s1}" in found and "软件2301" in found
    page = await (await client.get(f"/console/roster/people/{s1}")).text()
    assert "室友小吴" in page and "终端" in page and "能收到消息" in page
    assert "生成新激活码" not in page and "解除绑定" not in page
    assert (await client.post(f"/console/roster/people/{s1}/code",
                              data={"csrf": csrf})).status == 404
    reads = await _audits(db, "roster.read")
    assert [(r.actor_person_id, r.subject_person_id, r.allowed) for r in reads] == [
        (world.ids["l1"], s1, True)]
    [change] = await _audits(db, "flow.refused")  # the change was refused at its door
    assert change.actor_person_id == world.ids["l1"] and "/code" in change.detail["asked"]
    other = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, other, "x1")  # the other college's lead
    assert "室友小吴" not in await (await other.get("/console/roster?q=室友")).text()
    assert (await other.get(f"/console/roster/people/{s1}")).status == 404
    refused = [r for r in await _audits(db, "roster.read") if r.actor_person_id == world.ids["x1"]]
    assert [(r.subject_person_id, r.allowed) for r in refused] == [(s1, False)]
    assert len(await _audits(db, "roster.search")) == 2
    advisor = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, advisor, "t1")  # reads only their class: no 花名册
    assert "/console/roster" not in await (await advisor.get("/console/")).text()
    assert (await advisor.get("/console/roster")).status == 404


async def test_the_centre_issues_a_code_unbinds_and_marks_a_leaver(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await _world(db, clock, settings)
    s1 = world.ids["s1"]
    client = await aiohttp_client(build_app(settings, clock, background=False))
    csrf = await sign_in_client(world, client, "d1")
    before = await _person(db, "s1")
    assert before is not None
    assert (await client.post(f"/console/roster/people/{s1}/code", data={})).status == 403
    page = await (await client.post(f"/console/roster/people/{s1}/code",
                                    data={"csrf": csrf})).text()
    code = re.search(r'id="code">([A-Z0-9]{8})<', page)
    assert code is not None and "旧码已作废" in page
    after = await _person(db, "s1")
    assert after is not None and after.activation_code != before.activation_code
    assert [a.subject_person_id for a in await _audits(db, "roster.code")] == [s1]
    page = await (await client.post(f"/console/roster/people/{s1}/unbind",
                                    data={"csrf": csrf})).text()
    assert "已解除绑定" in page and "还没有绑定任何账号" in page
    async with db.session() as s:
        bound = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.person_id == s1))).all()
    assert bound == [] and "绑定" in await world.chat("s1").say("你好")
    assert [a.detail["released"] for a in await _audits(db, "bind.release")] == [1]
    page = await (await client.post(f"/console/roster/people/{s1}/leave",
                                    data={"csrf": csrf})).text()
    assert "已标记离校" in page and "已离校" in page and "标记离校</button>" not in page
    left = await _person(db, "s1")
    assert left is not None and not left.active and left.left_at is not None
    assert [a.actor_person_id for a in await _audits(db, "roster.leave")] == [world.ids["d1"]]


async def test_coverage_gaps_name_the_units_nobody_can_be_reached_in(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    async with db.session() as s:  # 陈老师 (软件2302's advisor) blocked the account
        identity = (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.person_id == world.ids["t2"]))).one()
        identity.reachable = False
        s.add(identity)
    client = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, client, "d1")
    page = await (await client.get("/console/roster/gaps")).text()
    assert "软件2302" in page and "辅导员陈老师（消息送不到）" in page
    assert "软件2301" not in page  # 王老师 is reachable
    assert "经济管理学院" in page  # a college without anyone who takes its alerts
    lead = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, lead, "l1")
    mine = await (await lead.get("/console/roster/gaps")).text()
    assert "软件2302" in mine and "经济管理学院" not in mine


@pytest.mark.provisioned
async def test_the_roster_pages_on_a_phone(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any, tmp_path: Path
) -> None:
    world = await _world(db, clock, settings)
    server = await aiohttp_server(build_app(settings, clock, background=False))
    async with phone(tmp_path / "p") as page:
        await sign_in_browser(page, world, server, "d1")
        await page.open(str(server.make_url("/console/roster?q=s1")))
        assert "室友小吴" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await click(page, f"a[href='/console/roster/people/{world.ids['s1']}']")
        assert "绑定与送达" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await click(page, "#new-code")
        assert "只显示这一次" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        uploaded = await page.call(
            "Runtime.evaluate", awaitPromise=True, returnByValue=True, expression=(
                "(() => { const f = new FormData(); f.append('csrf', document.querySelector("
                "'input[name=csrf]').value); f.append('file', new File([" + repr(FILE) + "], "
                "'名单.csv', {type: 'text/csv'})); return fetch('/console/roster/upload', "
                "{method: 'POST', body: f}).then(r => r.url); })()"))
        await page.open(uploaded["result"]["value"])
        assert "第 3 行：缺少姓名" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await click(page, "#confirm")
        assert "新增 1 人" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        await page.open(str(server.make_url("/console/roster/gaps")))
        assert "联络缺口" in await page.evaluate("document.body.innerText")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 375
        assert console_errors(page) == []
    assert len(await _audits(db, "roster.code")) == 1 and await _person(db, "2026001") is not None
