"""What one console page costs the database: the per-request plumbing and 关注名单 at scale.

The list pages (待办, 关注名单) show no free text, so they read no encrypted column: every
one read is a decryption for nothing (a phone, a case's plan, a no-show's note).

关注名单 lists every student with a signal the reader was sent; their number must not turn
into a statement binding one parameter per student (PostgreSQL spent more on a thousand bound
ids than on the lookups), and a look within a minute of the last one writes nothing but its
own audit entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col, select

from tests.console_world import MONDAY_9, sign_in_client
from tests.factories import add_person
from tests.network_world import World, make_world
from xinqiao.bot.app import build_app
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.booking import Appointment, AppointmentStatus
from xinqiao.storage.cases import Case, CaseMember
from xinqiao.storage.console import ConsoleSession
from xinqiao.storage.crypto import is_encrypted_column
from xinqiao.storage.db import Database
from xinqiao.storage.models import Person, Role, Tier
from xinqiao.storage.reports import (
    Escalation,
    EscalationRecipient,
    EscalationStatus,
    Severity,
)
from xinqiao.storage.screening import TierChange

STUDENTS = 70  # more than a page of 50, so the list's length shows in a bound id list
CHAIN = [{"notify": ["class_advisor"], "ack_within_s": 86400.0, "working_hours": False}]


@contextmanager
def statements() -> Iterator[list[tuple[str, int]]]:
    """Every statement any engine runs meanwhile, with how many parameters it binds."""
    seen: list[tuple[str, int]] = []

    def note(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        seen.append((sql, 0 if many or params is None else len(params)))

    event.listen(Engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", note)


async def _advisor_sent_reports(world: World) -> None:
    """Seventy students of 软件2301, one report each, all sent to their advisor t1."""
    now = world.clock.now()
    students = [await add_person(world.db, world.campus, f"b{n:03d}", f"同学{n}", Role.student,
                                 code=f"Q{n:07d}", now=now) for n in range(STUDENTS)]
    async with world.db.session() as s:
        items = [Escalation(subject=f"report:{n}", kind="dorm", subject_person_id=pid,
                            college_id=world.campus.college_id, klass_id=world.campus.klass_id,
                            severity=Severity.soon, chain=CHAIN, level=0, repeats=0, token=1,
                            status=EscalationStatus.open, due_at=now + timedelta(hours=1),
                            opened_at=now)
                 for n, pid in enumerate(students)]
        s.add_all(items)
        await s.flush()
        s.add_all(EscalationRecipient(escalation_id=e.id or 0, person_id=world.ids["t1"],
                                      level=0, notified_at=now) for e in items)


async def _signed_in(db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any,
                     who: str = "t1") -> tuple[World, TestClient[Any, Any]]:
    world = await make_world(db, clock, settings, start=MONDAY_9)
    client = await aiohttp_client(build_app(settings, clock, background=False))
    await sign_in_client(world, client, who)
    return world, client


async def test_a_long_watch_list_binds_no_id_per_student(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _signed_in(db, clock, settings, aiohttp_client)
    await _advisor_sent_reports(world)
    with statements() as seen:
        page = await client.get("/console/watch?colour=yellow")
        body = await page.text()
    assert page.status == 200
    assert "同学0" in body and "反映 1" in body and "第 1 / 2 页" in body  # 70 listed, 50 shown
    widest = max(seen, key=lambda s: s[1])
    assert widest[1] <= 55, widest[0][:200]  # a page's worth (50 ids) at most, not all 70
    # the session, its person and their roles are read once: two statements, not five
    heads = [m.group(1) for sql, _ in seen if (m := re.search(r"\bFROM\s+(\w+)", sql))]
    assert heads.count("role_assignment") == 1 and heads.count("console_session") == 1


async def test_looks_within_a_minute_leave_the_session_unwritten(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _signed_in(db, clock, settings, aiohttp_client)
    signed_in_at = clock.now()
    clock.advance(seconds=40)
    with statements() as seen:
        assert (await client.get("/console/checkins")).status == 200
    assert not [sql for sql, _ in seen if sql.lstrip().upper().startswith(("UPDATE", "INSERT"))]
    async with db.session() as s:
        session = (await s.exec(select(ConsoleSession).where(
            ConsoleSession.person_id == world.ids["t1"]).order_by(
            col(ConsoleSession.id).desc()))).first()
        assert session is not None and session.last_seen_at == signed_in_at
    clock.advance(seconds=30)  # 70 s after the last write: the idle clock moves on
    assert (await client.get("/console/checkins")).status == 200
    async with db.session() as s:
        session = await s.get(ConsoleSession, session.id)
        assert session is not None and session.last_seen_at == clock.now()


ENCRYPTED = sorted(f"{table.name}.{column.name}" for table in SQLModel.metadata.tables.values()
                   for column in table.columns if is_encrypted_column(column))


async def _s1_with_sealed_records(world: World) -> None:
    """室友小吴 on the key tier with everything sealed about them a list might touch."""
    now, ids = world.clock.now(), world.ids
    async with world.db.session() as s:
        student = await s.get(Person, ids["s1"])
        assert student is not None
        student.phone, student.tier = "13800000000", Tier.key
        s.add(TierChange(person_id=ids["s1"], old="routine", new="key", reason="室友反映情绪低落",
                         decided_by=ids["l2"], at=now))
        case = Case(person_id=ids["s1"], opened_at=now, source="test", plan="每天联系一次")
        s.add(case)
        await s.flush()
        s.add(CaseMember(case_id=case.id or 0, person_id=ids["d1"], added_at=now))
        s.add(Appointment(student_id=ids["s1"], counsellor_id=ids["c1"],
                          start_at=now - timedelta(days=1), end_at=now - timedelta(hours=23),
                          status=AppointmentStatus.no_show, requested_at=now, created_at=now,
                          note="未到，电话未接"))
        item = Escalation(subject="report:s1", kind="dorm", subject_person_id=ids["s1"],
                          college_id=world.campus.college_id, klass_id=world.campus.klass_id,
                          severity=Severity.soon, chain=CHAIN, level=0, repeats=0, token=1,
                          status=EscalationStatus.open, due_at=now + timedelta(hours=1),
                          opened_at=now)
        s.add(item)
        await s.flush()
        s.add(EscalationRecipient(escalation_id=item.id or 0, person_id=ids["d1"], level=0,
                                  notified_at=now))


async def test_the_list_pages_decrypt_nothing_they_do_not_show(
    db: Database, clock: FakeClock, settings: Settings, aiohttp_client: Any
) -> None:
    world, client = await _signed_in(db, clock, settings, aiohttp_client, who="d1")
    await _s1_with_sealed_records(world)
    with statements() as seen:
        queue = await (await client.get("/console/")).text()
        watch = await (await client.get("/console/watch")).text()
    assert "宿舍" in queue and "室友小吴" in watch  # the item, and the student with their signals
    assert "个案 G" in watch and "爽约 1" in watch and "反映 1" in watch
    assert "13800000000" not in watch + queue and "每天联系一次" not in watch
    assert "person.phone" in ENCRYPTED and "crisis_case.plan" in ENCRYPTED
    # The gate reads the signed-in person whole (their own phone, once): not the list's reads.
    lists = [sql for sql, _ in seen if "FROM console_session" not in sql]
    assert sorted({name for sql in lists for name in ENCRYPTED if name in sql}) == []
