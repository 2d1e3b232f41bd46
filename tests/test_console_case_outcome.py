"""The console's 个案 page shows the incident outcome (事件结局) to the case's readers, and the
aftercare round's counts to the centre only — counts, never who — each look audited; its
timeline says how the case was opened in one plain sentence."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import col, select

from tests.console_world import console_world, sign_in_client
from xinqiao.bot.app import build_app
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry

NOTE = "已送医，生命体征平稳"


async def test_the_case_page_shows_the_outcome_and_only_the_centre_the_round_counts(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any,
    aiohttp_client: Any
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    world = cw.world
    await world.chat("s1").say("我不想活了")
    async with db.session() as s:
        number = (await s.exec(select(Case))).one().id
    centre = world.chat("c1")
    await centre.say(f"个案 G{number}")
    await centre.say("事件结局")
    await centre.say("自杀未遂")
    await centre.say("昨天")
    assert "已记录事件结局：自杀未遂" in await centre.say(NOTE)

    # before a round: the centre sees the outcome and where to start one; the college lead
    # sees the outcome (they read the case and its notes) but nothing of aftercare
    centre_page = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, centre_page, "c2")
    page = await (await centre_page.get(f"/console/cases/{number}")).text()
    assert "事件结局" in page and f"自杀未遂（2026-09-06）：{NOTE}" in page
    assert f"尚未发起关怀回访。可在聊天中回复“关怀回访 G{number}”" in page
    lead_page = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, lead_page, "l1")
    page = await (await lead_page.get(f"/console/cases/{number}")).text()
    assert f"自杀未遂（2026-09-06）：{NOTE}" in page
    assert "关怀回访" not in page

    # the centre starts the round in chat: the page shows the same counts as chat, no names
    await world.chat("c2").say(f"关怀回访 G{number}")
    status = await world.chat("c2").say("确认发起")
    [total] = [line for line in status.splitlines() if line.startswith("合计：")]
    page = await (await centre_page.get(f"/console/cases/{number}")).text()
    assert total in page and "同宿舍：邀请" in page and "同班：邀请" in page
    assert "不列出名单和回答" in page
    section = page[page.index('id="outcome"'):page.index("</section>", page.index('id="outcome"'))]
    for name in ("信息员小周", "委员小郑"):  # roommates and classmates invited: never named
        assert name not in section
    page = await (await lead_page.get(f"/console/cases/{number}")).text()
    assert "自杀未遂（2026-09-06）" in page and "邀请" not in page
    assert "发起关怀回访（同宿舍、同班同学）" in page  # the timeline says a round began, no counts

    async with db.session() as s:
        looks = [(a.actor_person_id, a.allowed, a.detail.get("via")) for a in await s.exec(
            select(AuditEntry).where(AuditEntry.action == "aftercare.read")
            .order_by(col(AuditEntry.id)))]
    consoled = [(who, ok) for who, ok, via in looks if via == "console"]
    assert consoled == [(world.ids["c2"], True)] * 2  # each centre look; the lead: none


async def test_the_timeline_says_once_how_the_case_was_opened(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_server: Any,
    aiohttp_client: Any
) -> None:
    cw = await console_world(db, clock, settings, aiohttp_server)
    await cw.world.chat("s1").say("我不想活了")
    async with db.session() as s:
        number = (await s.exec(select(Case))).one().id
    client = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(cw.world, client, "c2")
    page = await (await client.get(f"/console/cases/{number}")).text()
    events = [re.sub(r"<[^>]+>", "", li) for li in re.findall(r'<li class="ev .*?</li>', page)]
    opened = next(e for e in events if "建立个案" in e)
    assert re.fullmatch(r"\d\d-\d\d \d\d:\d\d 自动建立个案（来源：[^）]+）", opened), opened
