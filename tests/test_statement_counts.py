"""What an ordinary message and a fired escalation step cost in statements (issue 18), so the
hot path cannot quietly creep back up."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.factories import add_person, bind, make_campus
from tests.network_world import make_world
from tests.test_escalation import MONDAY_9
from tests.test_sweeper import _climbed, _open
from tests.wechat_server import WeChatServer, reply_content, text_xml
from xinqiao.bot.app import SERVICES, WECHAT
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    ChannelIdentity,
    ConversationState,
    InboxMessage,
    InboxStatus,
    Role,
)
from xinqiao.storage.reports import Severity

# Remember the nonce, read identity with its state (and "anything of theirs pending?" and the
# roster version), store the row already answered, write state and identity: one transaction.
# Person and roles are kept per process while the roster version stays. On PostgreSQL, where
# each statement is a round trip, the nonce and the read are one statement and the three
# writes another (BEGIN and COMMIT not counted).
MENU_STATEMENTS = {"sqlite": 5, "postgresql": 2}
ESCALATION_STEP_STATEMENTS = 16  # one step fired by the set-based sweeper, BEGIN included


@contextmanager
def orm_statements(db: Database) -> Iterator[list[str]]:
    """Every statement SQLAlchemy sends on ``db`` meanwhile."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_a_bound_student_asking_for_the_menu_costs_one_lean_transaction(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    lin = await add_person(db, campus, "S1", "小林", Role.student, now=clock.now())
    await bind(db, lin, "wechat", "o-lin", clock.now())
    client = await make_client()
    served: Database = client.app[SERVICES].db
    lean = client.app[WECHAT].lean
    assert lean is not None
    server = WeChatServer(client, "testtoken")
    await server.post(text_xml("o-lin", "菜单"))  # the first turn creates the state row
    before = lean.store.statements
    with orm_statements(served) as orm:
        status, body = await server.post(text_xml("o-lin", "菜单"))
    assert status == 200
    menu = reply_content(body)
    assert "小林，你好！" in menu and "预约心理咨询" in menu
    assert orm == []  # nothing through SQLAlchemy's async layer
    assert lean.store.statements - before == MENU_STATEMENTS[served.engine.dialect.name]
    # Stored, answered and saved as the ordinary path would have.
    async with db.session() as s:
        rows = (await s.exec(select(InboxMessage).order_by(col(InboxMessage.id)))).all()
        identity = (await s.exec(select(ChannelIdentity))).one()
        state = await s.get(ConversationState, identity.id)
    assert [(r.status, r.replied_passively, r.attempts) for r in rows] == [
        (InboxStatus.done, True, 1)] * 2
    assert rows[-1].reply is not None and "小林" in rows[-1].reply[0]["text"]
    assert state is not None and state.version == 2
    assert ["flow:booking", "预约心理咨询"] in state.choices
    assert identity.last_inbound_at is not None and identity.reachable
    # The saved choices carry the next turn: "1" starts what the menu listed first.
    status, body = await server.post(text_xml("o-lin", "1"))
    assert status == 200 and "咨询时段" in reply_content(body)


async def test_a_fired_escalation_step_costs_a_fixed_handful_of_statements(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    ids = await _open(world, 1, Severity.soon)
    clock.advance(minutes=61)
    with orm_statements(db) as orm:
        assert await world.sweep() == 1
    assert await _climbed(world, ids) == 1
    assert len(orm) <= ESCALATION_STEP_STATEMENTS, orm
