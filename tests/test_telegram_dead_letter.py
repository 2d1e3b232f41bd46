"""A Telegram update is never answered 503 forever (issue 15 item 9): what JSON can carry but
UTF-8 cannot is made storable, and an update the database keeps refusing becomes a stored dead
letter with a 200, while a real outage still answers 503."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text
from sqlmodel import select

from tests.conftest import MakeClient
from tests.telegram_stub import TelegramStub, text_update
from tests.telegram_user import SECRET, settle
from xinqiao.bot.channels.telegram import SECRET_HEADER
from xinqiao.storage.db import Database, dialect_name
from xinqiao.storage.models import InboxMessage, InboxStatus

CHAT = 990001
HEADERS = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}


async def test_an_update_with_a_lone_surrogate_is_stored_and_answered(
    make_client: MakeClient, db: Database, tg: TelegramStub
) -> None:
    client = await make_client()
    update = text_update(CHAT, "你好\ud800")
    body = json.dumps(update)  # JSON escapes half a surrogate pair as \\ud800
    assert "\\ud800" in body
    resp = await client.post("/telegram", data=body, headers=HEADERS)
    assert resp.status == 200
    await settle(client)
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage))).one()
    assert row.payload["raw"]["message"]["text"] == "你好\ufffd"
    assert row.status == InboxStatus.done
    assert "绑定" in tg.chat(CHAT)[-1].text  # answered like any first message


async def _refuse_update(db: Database, update_id: int) -> None:
    """Make the database refuse the inbox row of one update (a stand-in for any row the
    database will never take), while it still takes a dead letter."""
    async with db.session() as s:
        if dialect_name(s) == "sqlite":
            await s.exec(text(  # type: ignore[call-overload]
                "CREATE TRIGGER refuse_update BEFORE INSERT ON inbox_message "
                f"WHEN NEW.kind <> 'telegram.dead_letter' AND NEW.dedupe_key LIKE "
                f"'upd:{update_id}:%' BEGIN SELECT RAISE(ABORT, 'refused'); END"))
            return
        await s.exec(text(  # type: ignore[call-overload]
            "CREATE FUNCTION refuse_update() RETURNS trigger AS $$ BEGIN "
            f"IF NEW.kind <> 'telegram.dead_letter' AND NEW.dedupe_key LIKE 'upd:{update_id}:%' "
            "THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"))
        await s.exec(text(  # type: ignore[call-overload]
            "CREATE TRIGGER refuse_update BEFORE INSERT ON inbox_message "
            "FOR EACH ROW EXECUTE FUNCTION refuse_update()"))


async def test_an_update_that_can_never_be_stored_becomes_a_dead_letter_with_200(
    make_client: MakeClient, db: Database
) -> None:
    await _refuse_update(db, 5_000_001)
    client = await make_client(telegram_store_max_tries=3)
    update = text_update(CHAT, "你好", update_id=5_000_001)
    statuses = [(await client.post("/telegram", json=update, headers=HEADERS)).status
                for _ in range(4)]  # Telegram redelivers until it gets a 200
    assert statuses == [503, 503, 200, 200]
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage))).one()
    assert row.kind == "telegram.dead_letter" and row.status == InboxStatus.failed
    assert json.loads(row.payload["dead_letter"]["update"])["message"]["text"] == "你好"
    # Other updates are stored as usual meanwhile.
    other = await client.post("/telegram", json=text_update(CHAT, "在吗"), headers=HEADERS)
    assert other.status == 200
    await settle(client)
    metrics = await (await client.get("/metrics")).text()
    assert 'reason="dead letter"' in metrics


async def test_a_database_outage_is_never_turned_into_dead_letters(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/none.db",
                               telegram_store_max_tries=2)
    update = text_update(CHAT, "你好")
    statuses = [(await client.post("/telegram", json=update, headers=HEADERS)).status
                for _ in range(4)]
    assert statuses == [503] * 4
