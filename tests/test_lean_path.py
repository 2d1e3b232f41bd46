"""The lean hot path under load's usual conditions (issue 18): a person whose earlier message is
still in hand, and the database connection in someone else's hands, keep menu and help cheap and
in order."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event, text
from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.factories import add_person, bind, make_campus
from tests.test_statement_counts import MENU_STATEMENTS, orm_statements
from tests.wechat_server import WeChatServer, reply_content, text_xml
from xinqiao.bot.app import SERVICES, WECHAT
from xinqiao.clock import FakeClock
from xinqiao.storage.db import Database
from xinqiao.storage.models import ConversationState, InboxMessage, InboxStatus, Role, School


async def _lin(make_client: MakeClient, db: Database, clock: FakeClock
               ) -> tuple[TestClient[Any, Any], WeChatServer]:
    """小林, a bound student who has seen the menu once (the state row exists)."""
    campus = await make_campus(db, clock.now())
    lin = await add_person(db, campus, "S1", "小林", Role.student, now=clock.now())
    await bind(db, lin, "wechat", "o-lin", clock.now())
    client = await make_client()
    assert client.app[WECHAT].lean is not None
    server = WeChatServer(client, "testtoken")
    status, _ = await server.post(text_xml("o-lin", "菜单"))
    assert status == 200
    return client, server


def _outcomes(client: TestClient[Any, Any]) -> dict[str, float]:
    """``xinqiao_lean_total`` by outcome, as /metrics reports it."""
    registry = client.app[SERVICES].metrics.registry
    return {outcome: registry.get_sample_value("xinqiao_lean_total", {"outcome": outcome}) or 0
            for outcome in ("answered", "stored", "failed")}


async def test_a_menu_while_the_persons_earlier_message_is_in_hand_is_stored_lean_and_answered_after_it(  # noqa: E501
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    client, server = await _lin(make_client, db, clock)
    served: Database = client.app[SERVICES].db
    processor = client.app[SERVICES].processor
    held = processor.lock_for("wechat", "o-lin")  # 小林's earlier message, still being handled
    await held.acquire()
    before = _outcomes(client)
    with orm_statements(served) as orm:
        posted = asyncio.create_task(server.post(text_xml("o-lin", "帮助")))
        async with asyncio.timeout(5):
            while True:  # stored (committed) while the earlier one is still in hand
                async with db.session() as s:
                    rows = (await s.exec(select(InboxMessage).order_by(
                        col(InboxMessage.id)))).all()
                if len(rows) == 2:
                    break
                await asyncio.sleep(0.01)
        stored_with = list(orm)
    assert rows[-1].status == InboxStatus.pending and not posted.done()
    assert stored_with == [], stored_with  # the row went in without SQLAlchemy
    assert _outcomes(client)["stored"] == before["stored"] + 1
    held.release()  # the earlier message is done: the help comes now, as a passive reply
    status, body = await posted
    assert status == 200 and "回复“菜单”回到主菜单" in reply_content(body)
    async with db.session() as s:
        last = await s.get(InboxMessage, rows[-1].id)
    assert last is not None and last.status == InboxStatus.done and last.attempts == 1


async def test_a_menu_is_answered_at_once_while_the_pooled_connection_is_out_but_not_writing(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    client, server = await _lin(make_client, db, clock)
    served: Database = client.app[SERVICES].db
    before = _outcomes(client)
    # The pool's one SQLite connection is checked out by someone who holds no write lock (a
    # lean transaction handing it back, a read): that is no reason to queue for it.
    async with served.engine.connect() as reader:
        async with asyncio.timeout(1):
            status, body = await server.post(text_xml("o-lin", "菜单"))
        assert not reader.closed
    assert status == 200 and "小林，你好！" in reply_content(body)
    assert _outcomes(client)["answered"] == before["answered"] + 1


async def test_menus_queued_behind_a_background_write_are_all_answered_when_it_ends(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    for n in range(16):
        student = await add_person(db, campus, f"S{n}", f"学生{n}", Role.student,
                                   now=clock.now())
        await bind(db, student, "wechat", f"o-{n}", clock.now())
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    served: Database = client.app[SERVICES].db
    checkouts: list[object] = []
    event.listen(served.engine.sync_engine.pool, "checkout",
                 lambda *args: checkouts.append(args[0]))
    async with served.session() as background:  # the sweeper, say, in the middle of a write
        background.add(School(code="sweep", name="后台写入"))
        await background.flush()  # it holds SQLite's write lock until it commits
        posts = [asyncio.create_task(server.post(text_xml(f"o-{n}", "菜单")))
                 for n in range(16)]
        await asyncio.sleep(0.3)
        waiting = not any(p.done() for p in posts)
    async with asyncio.timeout(5):
        answers = await asyncio.gather(*posts)
    # On SQLite they waited for the write lock and then went one after another, queueing for
    # the pool's connection once between them rather than once each.
    assert waiting or not served.is_sqlite
    for n, (status, body) in enumerate(answers):
        assert status == 200 and f"学生{n}，你好！" in reply_content(body)
    assert len(checkouts) <= 3, len(checkouts)
    async with db.session() as s:
        done = (await s.exec(select(InboxMessage).where(
            InboxMessage.status == InboxStatus.done))).all()
    assert len(done) == 16


async def test_a_bound_students_menu_retried_or_replayed_is_answered_and_saved_once(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    client, server = await _lin(make_client, db, clock)
    xml = text_xml("o-lin", "菜单", msg_id=4242)
    first = await server.post(xml)
    assert first[0] == 200 and "小林，你好！" in reply_content(first[1])
    # WeChat's retries (new signatures, same MsgId): answered, nothing written again.
    for _ in range(2):
        status, _ = await server.post(xml)
        assert status == 200
    # The same (timestamp, nonce) again with another message: refused, nothing stored.
    query = server.query()
    resp = await client.post("/wechat", params=query, data=xml.encode())
    assert resp.status == 200
    other = text_xml("o-lin", "帮助", msg_id=4243)
    resp = await client.post("/wechat", params=query, data=other.encode())
    assert resp.status == 403
    async with db.session() as s:
        rows = (await s.exec(select(InboxMessage))).all()
        state = (await s.exec(select(ConversationState))).one()
    assert len(rows) == 2  # the first menu of _lin and this one
    assert all(r.status == InboxStatus.done and r.attempts == 1 for r in rows)
    assert state.version == 2  # one turn each


async def test_a_role_given_by_a_roster_import_in_another_process_shows_on_the_next_menu(
    make_client: MakeClient, db: Database, clock: FakeClock, db_url: str, tmp_path: Path
) -> None:
    client, server = await _lin(make_client, db, clock)
    lean = client.app[WECHAT].lean
    assert lean is not None
    before = lean.store.statements
    menu = await server.say("o-lin", "菜单")  # who 小林 is is kept since the first menu
    assert "小林，你好！" in menu and "上报练习" not in menu
    assert lean.store.statements - before == MENU_STATEMENTS[db.engine.dialect.name]
    # The centre makes 小林 her class's 心理委员 with `xinqiao roster import`, another process.
    roster = tmp_path / "roster.csv"
    roster.write_text("学号,姓名,角色,学院,班级,宿舍\n"
                      "S1,小林,学生、心理委员,信息工程学院,软件2301,东1-101\n", encoding="utf-8")
    imported = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "xinqiao", "roster", "import", str(roster),
        env=dict(os.environ, XINQIAO_DATABASE_URL=db_url),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(imported.communicate(), timeout=120)
    assert imported.returncode == 0, err.decode()
    menu = await server.say("o-lin", "菜单")
    assert "小林，你好！" in menu and "上报练习（培训用）" in menu
    # The committee member's training entry works from that menu.
    async with db.session() as s:
        state = (await s.exec(select(ConversationState))).one()
    assert ["flow:practice", "上报练习（培训用）"] in state.choices


async def _sealed(db: Database) -> tuple[str, str]:
    """The state row's ``data`` and ``suspended`` as stored: their ciphertext."""
    async with db.engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT data, suspended FROM conversation_state"))).one()
    return str(row[0]), str(row[1])


async def test_a_menu_leaves_the_unchanged_encrypted_state_as_it_was_stored(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    _client, server = await _lin(make_client, db, clock)
    before = await _sealed(db)
    assert "小林，你好！" in await server.say("o-lin", "菜单")
    assert "主菜单" in await server.say("o-lin", "帮助")
    # Not encrypted afresh (a Fernet token differs every time): left out of the write.
    assert await _sealed(db) == before
    async with db.session() as s:
        state = (await s.exec(select(ConversationState))).one()
    assert state.version == 3 and state.data == {} and state.suspended == {}
    assert ["menu", "主菜单"] in state.choices  # what 帮助 offered: the rest was written


async def test_a_menu_in_the_middle_of_a_flow_writes_its_kept_progress_encrypted(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    client, server = await _lin(make_client, db, clock)
    async with db.session() as s:
        state = (await s.exec(select(ConversationState))).one()
        state.flow, state.step = "safety_plan", "signs"
        state.data = {"signs": "今天有点累"}
        s.add(state)
        await s.commit()
    sealed = await _sealed(db)
    assert "今天有点累" not in sealed[0]
    answered = _outcomes(client)["answered"]
    assert "小林，你好！" in await server.say("o-lin", "菜单")
    assert _outcomes(client)["answered"] == answered + 1  # the lean way
    async with db.session() as s:
        state = (await s.exec(select(ConversationState))).one()
    # The safety plan's progress is kept for later (resumable), encrypted like every write.
    assert state.flow is None and state.data == {}
    assert state.suspended == {"safety_plan": {"step": "signs", "data": {"signs": "今天有点累"}}}
    moved = await _sealed(db)
    assert moved[0] != sealed[0] and moved[1] != sealed[1]
    assert "今天有点累" not in moved[1]
    # The next menu changes neither: both stay as written.
    assert "小林，你好！" in await server.say("o-lin", "菜单")
    assert await _sealed(db) == moved
