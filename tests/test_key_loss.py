"""A lost data key: no new key over encrypted rows; unreadable rows are kept, /healthz degraded."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.dialog import Dialog
from tests.factories import add_person, bind, make_campus
from tests.wechat_server import WeChatServer, text_xml
from xinqiao.bot.app import SERVICES
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage import key_guard
from xinqiao.storage.crypto import DataKeyError
from xinqiao.storage.db import Database
from xinqiao.storage.models import InboxMessage, InboxStatus, OutboxMessage


async def test_a_missing_key_file_stops_start_up_instead_of_making_a_new_key(
    sqlite_template: Path, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    path = tmp_path / "school.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite+aiosqlite:///{path}"
    db = Database(url)
    settings = Settings(database_url=url, _env_file=None)
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023201", "周一", now=clock.now())
    await bind(db, pid, "wechat", "o-zhou", clock.now())
    await Dialog(db, settings, clock, "o-zhou", channel="wechat").say("你好")
    await db.dispose()
    key_file = tmp_path / "school.db.key"
    assert key_file.exists()
    key_file.unlink()  # lost: the server was rebuilt from a backup of the database alone
    with pytest.raises(DataKeyError) as refused:
        Database(url)
    message = str(refused.value)
    assert str(key_file) in message and "is missing" in message
    assert " row(s) of encrypted columns" in message
    count = int(message.split(" row(s)")[0].rsplit(" ", 1)[1])
    assert count == 2  # the inbox row (message and reply) and the conversation state
    assert not key_file.exists()  # and no new key was made that would hide the loss


async def test_an_empty_database_still_gets_its_key_file(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    path = tmp_path / "new.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    assert db.keys.fingerprints  # first use makes the key
    assert (tmp_path / "new.db.key").exists()
    await db.dispose()


async def test_a_message_no_key_opens_is_kept_and_healthz_says_degraded(
    make_client: MakeClient, db: Database, settings: Settings, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "2023202", "周二", now=clock.now())
    await bind(db, pid, "wechat", "o-zhou2", clock.now())
    await Dialog(db, settings, clock, "o-zhou2", channel="wechat").say("你好")  # state saved
    # the service restarted with the wrong key (the right one dropped before a rotation ended)
    stray = Fernet.generate_key().decode()
    wrong = await make_client(data_keys=SecretStr(stray))
    assert (await wrong.get("/healthz")).status == 200
    server = WeChatServer(wrong, "testtoken")
    status, _body = await server.post(text_xml("o-zhou2", "我真的撑不下去了，不想活了"))
    assert status == 200  # stored: WeChat must not retry it into oblivion
    row = await _newest(db, "o-zhou2")
    assert row[1:] == (InboxStatus.pending, 0)
    health = await wrong.get("/healthz")
    assert health.status == 200
    body = await health.json()
    assert body["status"] == "degraded" and body["held_messages"] == 1
    unopened = body["undecryptable"]
    # recovery keeps it, however often it runs, and /healthz counts rows, not attempts
    for _ in range(15):
        await wrong.app[SERVICES].processor.recover(timedelta(0))
    assert await _newest(db, "o-zhou2") == row
    assert (await (await wrong.get("/healthz")).json())["undecryptable"] == unopened
    # the key is back (beside the stray one, which wrote the message meanwhile): the next
    # recovery handles the message
    right = await make_client(data_keys=SecretStr(f"{_key_of(db)},{stray}"))
    await right.app[SERVICES].processor.recover(timedelta(0))
    assert (await _newest(db, "o-zhou2"))[1] == InboxStatus.done
    async with right.app[SERVICES].db.session() as s:
        pushes = (await s.exec(select(OutboxMessage).where(
            OutboxMessage.address == "o-zhou2"))).all()
    assert any("12356" in str(p.payload) for p in pushes)  # the crisis reply went out
    assert (await (await right.get("/healthz")).json())["status"] == "ok"


async def _newest(db: Database, address: str) -> tuple[int, str, int]:
    # clear columns only: the payload was written under a key this ring does not hold
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage.id, InboxMessage.status, InboxMessage.attempts)
                            .where(InboxMessage.address == address)
                            .order_by(col(InboxMessage.id).desc()))).first()
    assert row is not None and row[0] is not None
    return row[0], row[1], row[2]


def _key_of(db: Database) -> str:
    if db.is_sqlite:
        return Path(db.url.split(":///", 1)[1] + ".key").read_text().strip()
    return os.environ["XINQIAO_DATA_KEYS"]


async def test_a_new_key_file_costs_one_count_of_the_encrypted_rows(
    sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    path = tmp_path / "big.db"
    shutil.copy(sqlite_template, path)
    counted: list[Path] = []
    real = key_guard.encrypted_rows

    def counting(database: Path) -> int:
        counted.append(database)
        return real(database)

    monkeypatch.setattr(key_guard, "encrypted_rows", counting)
    db = Database(f"sqlite+aiosqlite:///{path}")
    assert db.keys.fingerprints  # opened and first used: the key file is made
    assert (tmp_path / "big.db.key").exists()
    assert counted == [path]  # every table is scanned once, not at open and again at first use
    await db.dispose()
