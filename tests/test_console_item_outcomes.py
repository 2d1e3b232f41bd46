"""The console says why an item was not acknowledged or closed, as chat does: a missing
check-in closes only with a reason, and whoever was reached only as the class's committee
member is pointed to the check-in itself, on the item page and after a bulk 收到."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlmodel import col, select

from tests.console_world import item, sign_in_client
from tests.network_world import World, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, Role, RoleAssignment
from xinqiao.storage.reports import Escalation, EscalationStatus

FRIDAY_0000 = datetime(2026, 10, 30, 0, 0, tzinfo=SHANGHAI)  # check-ins due Fri 17:00
FLASH = re.compile(r'<p class="flash" role="status">([^<]*)</p>')


def at(day: int, hour: int) -> datetime:
    """A moment of late October / early November 2026, Shanghai time."""
    return datetime(2026, 10 if day >= 20 else 11, day, hour, tzinfo=SHANGHAI)


async def _missing_friday(db: Database, clock: FakeClock, settings: Settings,
                          aiohttp_client: Any, *, stand_in: bool = False
                          ) -> tuple[World, TestClient[Any, Any], int]:
    """软件2301 checks in, 软件2302 does not: its 晴雨表未提交 item opens at 17:00.
    ``stand_in``: 王老师 (软件2301's advisor) also stands in as 软件2302's committee member."""
    world = await make_world(db, clock, settings, start=FRIDAY_0000)
    if stand_in:
        async with db.session() as s:
            s.add(RoleAssignment(person_id=world.ids["t1"], role=Role.committee,
                                 klass_id=world.campus.other_klass_id,
                                 college_id=world.campus.college_id))
    client = await aiohttp_client(build_app(settings, clock, background=False))
    await world.chat("k1").say("晴雨表")
    await world.chat("k1").say("1")
    await world.start_jobs()
    clock.set(at(30, 17))
    await world.sweep()
    async with db.session() as s:
        esc = (await s.exec(select(Escalation))).one()
    assert esc.id is not None and esc.kind == "checkin_missing"
    return world, client, esc.id


def _flash(html: str) -> str:
    found = FLASH.search(html)
    assert found is not None, "no notice on the page"
    return found.group(1)


async def test_a_college_counsellor_closing_without_a_reason_is_asked_for_it(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client, esc_id = await _missing_friday(db, clock, settings, aiohttp_client)
    clock.set(at(31, 17))
    await world.sweep()  # the class advisor
    clock.set(at(1, 17))
    await world.sweep()  # the college
    csrf = await sign_in_client(world, client, "l2")
    bare = await client.post(f"/console/items/{esc_id}/resolve", data={"csrf": csrf})
    told = _flash(await bare.text())
    assert "未提交晴雨表的原因" in told and "已结案" not in told, told
    assert (await item(world, esc_id)).status != EscalationStatus.resolved
    done = await client.post(f"/console/items/{esc_id}/resolve",
                             data={"csrf": csrf, "note": "本周班会取消，下周一起交"})
    assert _flash(await done.text()) == "已结案，谢谢你的跟进。"
    closed = await item(world, esc_id)
    assert closed.status == EscalationStatus.resolved
    assert closed.resolution == "本周班会取消，下周一起交"
    assert "已由学院心理辅导员赵老师说明原因后结案" in (await world.push_texts("k2"))[-1]


async def test_staff_reached_only_as_the_committee_member_are_pointed_to_the_check_in(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client, esc_id = await _missing_friday(db, clock, settings, aiohttp_client,
                                                  stand_in=True)
    assert any("本周无异常" in text for text in await world.push_texts("t1"))  # reminded
    csrf = await sign_in_client(world, client, "t1")
    for action, note in (("ack", ""), ("resolve", ""), ("resolve", "本周班会取消")):
        page = await client.post(f"/console/items/{esc_id}/{action}",
                                 data={"csrf": csrf, "note": note})
        told = _flash(await page.text())
        assert "提交晴雨表后会自动结案" in told and "本周无异常" in told, (action, note, told)
    assert (await item(world, esc_id)).status == EscalationStatus.open
    bulk = await client.post("/console/items/ack", data={"csrf": csrf, "id": str(esc_id)})
    told = _flash(await bulk.text())
    assert "1 项未能确认" in told and "自动结案" in told and "可能已有人确认" not in told, told
    async with db.session() as s:
        refused = [a.action for a in await s.exec(select(AuditEntry).where(
            AuditEntry.actor_person_id == world.ids["t1"], col(AuditEntry.allowed).is_(False))
            .order_by(col(AuditEntry.id)))]
    assert refused == ["escalation.ack", "escalation.resolve", "escalation.resolve",
                       "escalation.ack"]
