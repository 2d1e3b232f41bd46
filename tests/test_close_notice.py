"""Whoever acknowledged an item (收到 D1) hears when someone else closes it (已处理 D1 …), with
the closing note they could already read on the item, so they stop following it up. Nobody
else is told anything new, and the acknowledger who closes it themselves is not told either."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, delete, select

from tests.network_world import World, make_world
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import AuditEntry, RoleAssignment
from xinqiao.storage.reports import Escalation

MONDAY_9 = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
REACHED = ("l1", "l2", "c1", "c2")  # an urgent report: the college and the centre at once
# Longer than a push shows: the rest stays on the item.
NOTE = ("已联系家长，周末接回家休息，下周一返校后由学院心理辅导员赵老师每天了解情况并记录，"
        "如有变化随时告诉中心；家长同意下周三一起来中心面谈一次")


async def _urgent_report(world: World, about: str = "室友小吴") -> int:
    """The informant reports a roommate, urgently; returns the item's number."""
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say(about)
    await chat.say("这周几乎不出门")
    await chat.say("7")
    assert "收到" in await chat.say("现在就需要处理")
    async with world.db.session() as s:
        esc = (await s.exec(select(Escalation).order_by(col(Escalation.id).desc()))).first()
    assert esc is not None and esc.id is not None
    return esc.id


async def _counts(world: World) -> dict[str, int]:
    return {who: len(await world.push_texts(who)) for who in REACHED}


async def test_the_acknowledger_hears_who_closed_the_item_and_how(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    n = await _urgent_report(world)
    assert "已确认" in await world.chat("l2").say(f"收到 D{n}")
    clock.advance(hours=2)
    before = await _counts(world)
    assert "已结案" in await world.chat("c1").say(f"已处理 D{n} {NOTE}")
    told = (await world.push_texts("l2"))[-1]
    assert told == (f"D{n} 宿舍情况反映（软件2301）已由 中心孙老师 结案，你不用再跟进了。\n"
                    f"结案说明：{NOTE[:59]}…")
    # the others reached are told nothing new (as before); the closer gets only the reply
    after = await _counts(world)
    assert {w: after[w] - before[w] for w in REACHED} == {"l1": 0, "l2": 1, "c1": 0, "c2": 0}
    async with db.session() as s:  # the note shown is a read of the item, audited as one
        reads = (await s.exec(select(AuditEntry).where(
            AuditEntry.action == "report.read",
            AuditEntry.actor_person_id == world.ids["l2"]))).all()
    assert [(r.allowed, r.subject_person_id) for r in reads] == [(True, world.ids["s1"])]


async def test_nobody_is_told_when_the_acknowledger_closes_it_or_nobody_had_acknowledged_it(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    first = await _urgent_report(world)
    await world.chat("l2").say(f"收到 D{first}")
    second = await _urgent_report(world, "委员小郑")
    assert second != first
    before = await _counts(world)
    assert "已结案" in await world.chat("l2").say(f"已处理 D{first} {NOTE}")
    assert "已结案" in await world.chat("c1").say(f"已处理 D{second} 是误会，已当面确认")
    assert await _counts(world) == before


async def test_an_acknowledger_who_no_longer_holds_the_role_is_not_told(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    n = await _urgent_report(world)
    await world.chat("l2").say(f"收到 D{n}")
    async with db.session() as s:  # 赵老师 has moved on: no longer the college's counsellor
        await s.exec(delete(RoleAssignment).where(
            col(RoleAssignment.person_id) == world.ids["l2"]))
    before = len(await world.push_texts("l2"))
    assert "已结案" in await world.chat("c1").say(f"已处理 D{n} {NOTE}")
    assert len(await world.push_texts("l2")) == before
