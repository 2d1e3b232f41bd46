"""Encryption at rest: real traffic never reaches the database file in clear; keys and rotation."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import stat
import subprocess
import sys
from collections import Counter
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from cryptography.fernet import Fernet
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col, select

from tests.dialog import Dialog
from tests.network_world import World, make_world
from tests.roster_files import EN_HEADER, write_csv
from xinqiao.clock import SHANGHAI, FakeClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import enqueue
from xinqiao.services.roster import import_roster
from xinqiao.settings import Settings
from xinqiao.storage.cases import Case, CaseNote
from xinqiao.storage.crypto import DataKeyError, KeyRing, UndecryptableError
from xinqiao.storage.db import Database
from xinqiao.storage.key_rotation import encrypted_columns, rotate_all, storage_metadata
from xinqiao.storage.migrate import alembic_config, upgrade
from xinqiao.storage.models import (
    AuditEntry,
    ConversationState,
    InboxMessage,
    InboxStatus,
    OutboxMessage,
    Person,
)
from xinqiao.storage.outage import database_unavailable
from xinqiao.storage.reports import Escalation, EscalationStep, Report
from xinqiao.storage.screening import ScreeningResult
from xinqiao.storage.types import UTCDateTime

START = datetime(2026, 9, 7, 9, 0, tzinfo=SHANGHAI)
CHAT = "我最近总梦见外婆家院子里的那棵橘子树"
OBSERVED = "这周他总是一个人坐在操场看台上发呆到很晚"
IN_PROGRESS = "她这几天一直把窗帘拉着白天也不开灯"
RESOLVED = "已约谈本人并联系家长周末陪同去校医院复诊"
PUSH = "请于周五下午三点到心理中心二楼谈话室找孙老师"
PHONE = "13912345678"
ATTEMPTED = "S7788990"
SENTENCES = [CHAT, OBSERVED, IN_PROGRESS, RESOLVED, PUSH, PHONE, ATTEMPTED]
# the tables migration 0004 encrypts, with their primary keys
TABLES_0004 = {"inbox_message": "id", "outbox_message": "id", "conversation_state": "identity_id",
               "audit_entry": "id", "person": "id", "report": "id", "escalation": "id",
               "escalation_step": "id", "screening_result": "id"}
XQ = [sys.executable, "-m", "xinqiao"]


def _backend(url: str) -> str:
    return make_url(url).get_backend_name()


# --- traffic ----------------------------------------------------------------------------


async def _dorm_report(world: World, observed: str) -> int:
    chat = world.chat("i1")
    await chat.say("宿舍情况")
    await chat.say("室友小吴")
    await chat.say(observed)
    await chat.say("7")
    assert "收到" in await chat.say("不急，近期关注即可")
    async with world.db.session() as s:
        esc = (await s.exec(select(Escalation).order_by(col(Escalation.id).desc()))).first()
    assert esc is not None and esc.id is not None
    return esc.id


async def _drive_traffic(world: World, tmp_path: Path) -> dict[str, Any]:
    """Every sensitive path once; returns the screening answers stored."""
    await world.chat("s1").say(CHAT)  # a free chat message
    esc_id = await _dorm_report(world, OBSERVED)
    advisor = world.chat("t1")
    await advisor.say("待办")
    assert OBSERVED in await advisor.say(f"查看 #{esc_id}")
    await advisor.say("已处理，结案")
    assert "已结案" in await advisor.say(RESOLVED)
    # a second report left half-way: the observation waits in the conversation state
    informant = world.chat("i1")
    await informant.say("宿舍情况")
    await informant.say("室友小吴")
    await informant.say(IN_PROGRESS)
    # a screening
    student = world.chat("s1")
    await student.say("心理测评")
    await student.say("我已了解，同意开始")
    await student.say("PHQ-9 情绪状况筛查（患者健康问卷）")
    for _ in range(4):
        await student.say("好几天")
    for _ in range(5):
        await student.say("完全不会")
    # a phone number through the roster import
    roster = write_csv(tmp_path / "roster.csv", [
        EN_HEADER, ["S555", "新同学", "student", "信息工程学院", "软件2301", "", PHONE, ""]])
    report = await import_roster(world.db, roster, now=world.clock.now())
    assert report.created == 1, report.errors
    # a push
    async with world.db.session() as s:
        await enqueue(s, key="test:push", channel="console", address="a-s1", kind="reminder",
                      payload={"reply": Reply(PUSH).to_json()}, now=world.clock.now(),
                      person_id=world.ids["s1"])
    # a failed binding: the attempted 学号 lands in the audit trail
    await world.chat("stranger").say(f"绑定 {ATTEMPTED} ABCD2345")
    async with world.db.session() as s:
        result = (await s.exec(select(ScreeningResult))).one()
    return result.answers


async def _assert_app_reads_everything(db: Database, answers: dict[str, Any]) -> None:
    async with db.session() as s:
        inbox = (await s.exec(select(InboxMessage))).all()
        reports = (await s.exec(select(Report))).all()
        escalation = (await s.exec(select(Escalation))).one()
        steps = (await s.exec(select(EscalationStep))).all()
        states = (await s.exec(select(ConversationState))).all()
        screening = (await s.exec(select(ScreeningResult))).one()
        person = (await s.exec(select(Person).where(Person.external_id == "S555"))).one()
        pushes = (await s.exec(select(OutboxMessage))).all()
        audits = (await s.exec(select(AuditEntry))).all()
    assert any(m.payload["inbound"]["text"] == CHAT for m in inbox)
    assert any(m.reply for m in inbox)
    assert any(OBSERVED in json.dumps(r.answers, ensure_ascii=False) for r in reports)
    assert escalation.resolution == RESOLVED
    assert any(st.note == RESOLVED for st in steps)
    assert any(IN_PROGRESS in json.dumps(st.data, ensure_ascii=False) for st in states)
    assert screening.answers == answers
    assert person.phone == PHONE
    assert any(p.payload["reply"]["text"] == PUSH for p in pushes)
    assert any(a.detail.get("attempted_id") == ATTEMPTED for a in audits)


# --- reading the database raw -----------------------------------------------------------


def _sqlite_bytes(url: str) -> bytes:
    """The database file and its WAL, read before and after a checkpoint."""
    path = Path(str(make_url(url).database))
    wal = path.with_name(path.name + "-wal")
    before = wal.read_bytes() if wal.exists() else b""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(FULL)")
    after = wal.read_bytes() if wal.exists() else b""
    return before + path.read_bytes() + after


async def _pg_text(url: str) -> str:
    """Every row of every table as PostgreSQL's own text, through a plain connection."""
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = (await conn.execute(sa.text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars().all()
            rows: list[str] = []
            for table in tables:
                rows += (await conn.execute(
                    sa.text(f'SELECT t::text FROM "{table}" t'))).scalars().all()  # noqa: S608
    finally:
        await engine.dispose()
    return "\n".join(rows)


async def _raw(url: str) -> bytes:
    if _backend(url) == "sqlite":
        return _sqlite_bytes(url)
    return (await _pg_text(url)).encode("utf-8")


async def _raw_values(url: str) -> dict[str, list[Any]]:
    """The stored values of the encrypted columns, untouched by any column type."""
    engine = create_async_engine(url)
    found: dict[str, list[Any]] = {}
    try:
        async with engine.connect() as conn:
            present = set(await conn.run_sync(lambda c: sa.inspect(c).get_table_names()))
            for table, _, cols in encrypted_columns(storage_metadata()):
                if table.name not in present:  # created by a later migration than this schema
                    continue
                for c in cols:
                    found[f"{table.name}.{c.name}"] = list((await conn.execute(sa.text(
                        f'SELECT "{c.name}" FROM "{table.name}"'))).scalars())  # noqa: S608
    finally:
        await engine.dispose()
    return found


def _forbidden(answers: dict[str, Any]) -> list[bytes]:
    texts = [*SENTENCES, json.dumps(answers), json.dumps(answers, separators=(",", ":"))]
    return [t.encode("utf-8") for t in texts]


# --- every sensitive path ---------------------------------------------------------------


async def test_sensitive_text_is_ciphertext_on_disk_and_plain_in_the_app(
    db: Database, db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    world = await make_world(db, clock, settings, start=START)
    answers = await _drive_traffic(world, tmp_path)
    await _assert_app_reads_everything(db, answers)
    raw = await _raw(db_url)
    assert "信息员小周".encode() in raw  # names stay searchable: the raw read does see clear text
    for text in _forbidden(answers):
        assert text not in raw, text.decode()
    values = await _raw_values(db_url)
    for name, stored in values.items():
        assert all(v is None or str(v).startswith("f1:") for v in stored), name
    for name in ("inbox_message.payload", "report.answers", "escalation.resolution",
                 "conversation_state.data", "screening_result.answers", "person.phone",
                 "outbox_message.payload", "audit_entry.detail", "escalation_step.note"):
        assert any(v is not None for v in values[name]), f"no traffic reached {name}"


def test_encrypted_columns_refuse_sql_comparisons() -> None:
    with pytest.raises(TypeError, match=r"person\.phone is encrypted"):
        select(Person).where(Person.phone == PHONE)
    with pytest.raises(TypeError, match="encrypted"):
        select(Escalation).where(col(Escalation.resolution).like("%复诊%"))
    select(Person).where(Person.phone.is_(None))  # type: ignore[union-attr]
    select(Person).where(Person.phone == None)  # noqa: E711


# --- keys -------------------------------------------------------------------------------


async def _snapshot(db: Database) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """Every encrypted value, decrypted by the app's column types, by table and primary key."""
    found: dict[str, dict[Any, tuple[Any, ...]]] = {}
    async with db.engine.connect() as conn:
        for table, pk, cols in encrypted_columns(storage_metadata()):
            if table.name not in TABLES_0004:
                continue
            rows = (await conn.execute(sa.select(pk, *cols))).all()
            found[table.name] = {row[0]: tuple(row[1:]) for row in rows}
    return found


def _ring(*keys: bytes) -> KeyRing:
    return KeyRing.from_keys(list(keys))


def _cli_env(url: str, keys: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
    env["XINQIAO_DATABASE_URL"] = url
    if keys is not None:
        env["XINQIAO_DATA_KEYS"] = keys
    return env


async def _xinqiao(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(subprocess.run, [*XQ, *args], env=env, capture_output=True,
                                   text=True, timeout=120)


async def test_rotation_to_a_new_key_then_dropping_the_old_one(
    db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
    db_a = Database(db_url, keys=_ring(key_a))
    world = await make_world(db_a, clock, settings, start=START)
    await _drive_traffic(world, tmp_path)
    before = await _snapshot(db_a)
    async with db_a.engine.begin() as conn:  # a row from before encryption, still plaintext
        await conn.execute(sa.text("UPDATE escalation SET resolution = 'legacy note'"))
    before["escalation"] = {k: ("legacy note",) for k in before["escalation"]}
    await db_a.dispose()

    # new key in front, service restarted, then rotate (the CLI, as an operator runs it)
    both = f"{key_b.decode()},{key_a.decode()}"
    first = await _xinqiao(_cli_env(db_url, both), "keys", "rotate", "--batch", "3")
    assert first.returncode == 0, first.stderr
    assert key_a.decode() not in first.stdout + first.stderr
    assert key_b.decode() not in first.stdout + first.stderr
    assert "escalation.resolution: 0 re-encrypted, 1 plaintext encrypted" in first.stdout
    total = first.stdout.strip().splitlines()[-1]
    assert total.startswith("total: ") and not total.startswith("total: 0 re-encrypted")
    again = await _xinqiao(_cli_env(db_url, both), "keys", "rotate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().splitlines()[-1].startswith(
        "total: 0 re-encrypted, 0 plaintext encrypted")

    # the old key dropped: everything still reads
    db_b = Database(db_url, keys=_ring(key_b))
    try:
        assert await _snapshot(db_b) == before
    finally:
        await db_b.dispose()
    # and the old key alone opens nothing any more
    db_old = Database(db_url, keys=_ring(key_a))
    try:
        async with db_old.session() as s:
            with pytest.raises(UndecryptableError, match=r"cannot decrypt person\.phone"):
                await s.exec(select(Person).where(Person.external_id == "S555"))
    finally:
        await db_old.dispose()


async def test_rotation_while_the_service_writes(
    db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
    db_a = Database(db_url, keys=_ring(key_a))
    world = await make_world(db_a, clock, settings, start=START)
    await _drive_traffic(world, tmp_path)
    await db_a.dispose()
    # the service restarted with B first keeps answering while the rotation runs
    service = Database(db_url, keys=_ring(key_b, key_a))
    rotator = Database(db_url, keys=_ring(key_b, key_a))
    world.db = service
    chat = world.chat("k1")
    texts = ("宿舍情况", "返回", "我的信息", "帮助", "我的信息")
    keys = [f"wx-rotation-{n}" for n in range(len(texts))]  # each message's MsgId

    async def talk() -> int:
        return sum([await _as_wechat(chat, text, key) for text, key in zip(texts, keys,
                                                                             strict=True)])

    try:
        results, refused = await asyncio.gather(
            rotate_all(rotator.engine, rotator.keys, batch=1), talk())
        assert all(not r.unreadable for r in results)
        later = await rotate_all(rotator.engine, rotator.keys)
        assert sum(r.rotated + r.encrypted for r in later) == 0
    finally:
        await service.dispose()
        await rotator.dispose()
    db_b = Database(db_url, keys=_ring(key_b))
    try:
        await _snapshot(db_b)  # every value opens with the new key alone
        async with db_b.session() as s:
            inbox = (await s.exec(select(InboxMessage))).all()
        stored = Counter(m.dedupe_key for m in inbox)
        assert [stored[key] for key in keys] == [1] * len(texts), refused  # each exactly once
        assert sum(m.payload["inbound"]["text"] == "我的信息" for m in inbox) == 2
        assert all(m.status == InboxStatus.done for m in inbox if m.dedupe_key in keys)
    finally:
        await db_b.dispose()
    print(f"\nrotation beside the service: {refused} deliveries refused and sent again")


async def _as_wechat(chat: Dialog, text: str, key: str) -> int:
    """Send ``text`` as WeChat sends it: a delivery the service refuses because the database
    is unavailable (its callback answers 503) comes again under the same MsgId, up to three
    tries a second apart. How many tries were refused."""
    for refused in range(3):
        try:
            await chat.send(text, key=key)
            return refused
        except Exception as exc:
            if not database_unavailable(exc):
                raise  # a 500: a bug, not a refusal
            await asyncio.sleep(1.0)  # real time: the rotation moves on meanwhile
    raise AssertionError(f"{text} refused three times: WeChat gives up, the message is lost")


async def test_a_value_under_an_unknown_key_fails_loudly(
    db_url: str, clock: FakeClock, settings: Settings
) -> None:
    db_a = Database(db_url, keys=_ring(Fernet.generate_key()))
    world = await make_world(db_a, clock, settings, start=START)
    await world.chat("s1").say(CHAT)
    await db_a.dispose()
    stranger = Database(db_url, keys=_ring(Fernet.generate_key()))
    try:
        async with stranger.session() as s:
            with pytest.raises(UndecryptableError,
                               match=r"cannot decrypt inbox_message\.(payload|reply)"):
                (await s.exec(select(InboxMessage))).all()
    finally:
        await stranger.dispose()


def test_malformed_keys_are_refused_without_echoing_them(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    good = Fernet.generate_key().decode()
    monkeypatch.setenv("XINQIAO_DATA_KEYS", f"{good}, not-a-key-but-secret")
    with pytest.raises(DataKeyError, match="key #2 in XINQIAO_DATA_KEYS") as caught:
        Database("postgresql+asyncpg://x@127.0.0.1:1/none")
    assert "not-a-key-but-secret" not in str(caught.value) and good not in str(caught.value)


async def test_sqlite_without_keys_gets_a_private_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    key_file = tmp_path / "fresh.db.key"
    caplog.set_level(logging.INFO)
    db = Database(url)
    await upgrade(db)
    assert not key_file.exists()  # made on first use, not on open
    from tests.factories import add_person, make_campus

    campus = await make_campus(db, START)
    pid = await add_person(db, campus, "S1", "小林", now=START)
    async with db.session() as s:
        person = await s.get(Person, pid)
        assert person is not None
        person.phone = PHONE
    await db.dispose()
    assert key_file.exists()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text().strip()
    Fernet(key.encode())
    created = [r for r in caplog.records if "created data key file" in r.getMessage()]
    assert len(created) == 1 and str(key_file) in created[0].getMessage()
    assert key not in caplog.text
    # a second process (a fresh Database) reads the same file
    again = Database(url)
    try:
        async with again.session() as s:
            person = await s.get(Person, pid)
        assert person is not None and person.phone == PHONE
    finally:
        await again.dispose()
    assert len([r for r in caplog.records if "created data key file" in r.getMessage()]) == 1
    assert PHONE.encode() not in _sqlite_bytes(url)


@pytest.mark.postgres_only
async def test_postgresql_without_keys_refuses_to_start(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("XINQIAO_DATA_KEYS", raising=False)
    with pytest.raises(DataKeyError, match="XINQIAO_DATA_KEYS is not set"):
        Database(db_url)
    serve = await _xinqiao(_cli_env(db_url, None), "serve", "--port", "1")
    assert serve.returncode != 0
    assert "XINQIAO_DATA_KEYS is not set" in serve.stderr
    assert "Traceback" not in serve.stderr


def test_keys_new_prints_a_fresh_key() -> None:
    one = subprocess.run([*XQ, "keys", "new"], capture_output=True, text=True, timeout=60)
    two = subprocess.run([*XQ, "keys", "new"], capture_output=True, text=True, timeout=60)
    assert one.returncode == 0 and two.returncode == 0
    Fernet(one.stdout.strip().encode())
    assert one.stdout != two.stdout


# --- migration 0004 ---------------------------------------------------------------------


async def _downgrade(db: Database, revision: str) -> None:
    def run(conn: Connection) -> None:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


LEGACY = "旧版本写入的一条明文记录"


async def test_migration_encrypts_existing_rows_and_downgrade_decrypts_them(
    db_url: str, clock: FakeClock, settings: Settings, tmp_path: Path
) -> None:
    db = Database(db_url)
    world = await make_world(db, clock, settings, start=START)
    answers = await _drive_traffic(world, tmp_path)
    before = await _snapshot(db)

    await _downgrade(db, "0003")
    plain = await _raw_values(db_url)
    assert all(v is None or not str(v).startswith("f1:") for vs in plain.values() for v in vs)
    assert any(OBSERVED in str(v) for v in plain["report.answers"])
    assert PHONE in plain["person.phone"]
    # a row written the way the code before 0004 wrote it
    legacy = sa.table("audit_entry", sa.column("at", UTCDateTime()), sa.column("action"),
                      sa.column("allowed"), sa.column("detail", sa.JSON()))
    async with db.engine.begin() as conn:
        await conn.execute(sa.insert(legacy).values(
            at=START, action="legacy", allowed=True,
            detail={"note": LEGACY, "n": 5}))
    await db.dispose()

    db = Database(db_url)
    await upgrade(db)
    try:
        after = await _snapshot(db)
        async with db.session() as s:
            old = (await s.exec(select(AuditEntry).where(AuditEntry.action == "legacy"))).one()
        assert old.detail == {"note": LEGACY, "n": 5}
        del after["audit_entry"][old.id]
        assert after == before
        await _assert_app_reads_everything(db, answers)
    finally:
        await db.dispose()  # on SQLite the last connection checkpoints and removes the WAL
    raw = await _raw(db_url)
    for text in [*_forbidden(answers), LEGACY.encode()]:
        assert text not in raw, text.decode()


# --- crisis cases -------------------------------------------------------------------------

PLAN = "每周二下午由孙老师面谈并请室友留意夜间情况"
FOLLOW_UP = "今天主动说起了和父亲争吵的事情后哭了很久"
DECISION = "连续四周情绪平稳同意转为重点关注继续观察"


async def test_case_plans_notes_and_decisions_are_ciphertext_on_disk(
    db: Database, db_url: str, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings, start=START)
    await world.chat("s1").say("我不想活了")
    async with db.session() as s:
        case = (await s.exec(select(Case))).one()
    staff = world.chat("c1")
    await staff.say("个案")
    await staff.say(f"查看 #{case.id}")
    await staff.say("我来负责")
    await staff.say("写计划")
    await staff.say(PLAN)
    await staff.say(f"查看 #{case.id}")
    await staff.say("记录随访")
    await staff.say(FOLLOW_UP)
    await staff.say(f"查看 #{case.id}")
    await staff.say("结案")
    await staff.say(DECISION)
    assert "已结案" in await staff.say("重点关注")
    async with db.session() as s:
        stored = await s.get(Case, case.id)
        notes = (await s.exec(select(CaseNote.text).where(CaseNote.case_id == case.id))).all()
    assert stored is not None and (stored.plan, stored.decision) == (PLAN, DECISION)
    assert FOLLOW_UP in notes
    await db.dispose()  # on SQLite the last connection checkpoints the WAL into the file
    raw = await _raw(db_url)
    for sentence in (PLAN, FOLLOW_UP, DECISION):
        assert sentence.encode() not in raw, sentence
