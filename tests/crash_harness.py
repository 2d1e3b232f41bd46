"""Kill the real server mid-burst and prove nothing was lost (used by a test and by bench/).

The server is a real ``xinqiao serve`` process; the WeChat platform is played by this module
(signed callbacks, retries of unacknowledged messages, some redeliveries of acknowledged ones)
and the WeChat API by ``tests/wechat_stub.py``, which counts every push it receives.

Traffic: students take the GAD-7 one message at a time, committee members file a check-in,
an informant files a dorm report, a student writes a crisis message; deadlines seeded before the
crash fall due while the server is down. The server gets ``kill -9`` once a share of the
messages has been acknowledged, stays down ``downtime`` seconds, and starts again.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import func, update
from sqlmodel import col, select

from tests.factories import Campus, add_person, bind, make_campus
from tests.wechat_server import text_xml
from tests.wechat_stub import APPID, SECRET, WeChatStub
from xinqiao.bot.channels.wechat import sign
from xinqiao.bot.notify import ALERT_KINDS, payload_text
from xinqiao.clock import SystemClock
from xinqiao.policy.policy import load_policy
from xinqiao.services.escalation.engine import DEADLINE, Subject
from xinqiao.services.network import Network
from xinqiao.storage.db import Database
from xinqiao.storage.migrate import upgrade
from xinqiao.storage.models import InboxMessage, InboxStatus, OutboxMessage, OutboxStatus, Role
from xinqiao.storage.reports import (
    CheckIn,
    Escalation,
    EscalationReport,
    EscalationStep,
    Report,
    Severity,
    Timer,
)
from xinqiao.storage.screening import ScreeningResult

TOKEN = "crashtoken"
GAD7 = ["心理测评", "我已了解，同意开始", "GAD-7 焦虑状况筛查（广泛性焦虑量表）", *["1"] * 7]
CHECKIN = ["晴雨表", "1"]
DORM = ["宿舍情况", "室友小吴", "这几天他上课总迟到，作业也没交", "7", "不急，近期关注即可"]
CRISIS = ["我真的撑不下去了，不想活了"]
_msg_ids = itertools.count(7_100_000_000_000_000_000)


@dataclass
class CrashReport:
    """What the run measured; ``problems`` lists every broken promise (empty = all kept)."""

    messages: int = 0
    acknowledged: int = 0
    resent_unacknowledged: int = 0
    redelivered_duplicates: int = 0
    acknowledged_before_kill: int = 0
    deadlines_seeded: int = 0
    pushes: int = 0
    push_duplicates: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The real service process, started and killed at will."""

    def __init__(self, db_url: str, stub_url: str, workdir: Path) -> None:
        self.port = _free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("XINQIAO_")}
        self.env.update(
            XINQIAO_DATABASE_URL=db_url, XINQIAO_PORT=str(self.port), XINQIAO_WECHAT_TOKEN=TOKEN,
            XINQIAO_WECHAT_APPID=APPID, XINQIAO_WECHAT_SECRET=SECRET,
            XINQIAO_WECHAT_API_BASE=stub_url, XINQIAO_WECHAT_ALERT_TEMPLATE_ID="TPL-ALERT",
            XINQIAO_OUTBOX_POLL_SECONDS="0.2", XINQIAO_SWEEP_SECONDS="0.5",
            XINQIAO_INBOX_RECOVERY_SECONDS="1", XINQIAO_OUTBOX_LEASE_SECONDS="15")
        if "XINQIAO_DATA_KEYS" in os.environ:
            self.env["XINQIAO_DATA_KEYS"] = os.environ["XINQIAO_DATA_KEYS"]
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "server.log"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "xinqiao", "serve"],
                                         env=self.env, cwd=self.workdir, stdout=out,
                                         stderr=subprocess.STDOUT)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/wechat"


class Platform:
    """Plays WeChat: sends each user's messages in order, retrying until acknowledged."""

    def __init__(self, server: Server, session: aiohttp.ClientSession) -> None:
        self.server, self.session = server, session
        self.sent: dict[int, str] = {}  # msg id → sender
        self.acked: set[int] = set()
        self.retried: set[int] = set()
        self.bodies: dict[int, str] = {}

    async def post(self, msg_id: int) -> bool:
        """Deliver one message; True when the callback acknowledged it."""
        return await self.status(msg_id) == 200

    async def status(self, msg_id: int) -> int:
        """Deliver one message; the HTTP status, 0 when there was no answer within 5 s."""
        ts, nonce = str(int(time.time())), str(msg_id % 1_000_000_000)
        params = {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce),
                  "openid": self.sent[msg_id]}
        try:
            async with self.session.post(self.server.url, params=params,
                                         data=self.bodies[msg_id].encode(),
                                         timeout=aiohttp.ClientTimeout(total=5)) as resp:
                await resp.read()
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    def start(self, scripts: dict[str, list[str]]) -> list[asyncio.Task[None]]:
        """Every user starts their script at once."""
        return [asyncio.create_task(self.conversation(o, t)) for o, t in scripts.items()]

    async def until_acknowledged(self, count: float) -> None:
        """Wait until ``count`` messages have been acknowledged."""
        while len(self.acked) < count:  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def conversation(self, openid: str, texts: list[str]) -> None:
        for text in texts:
            msg_id = next(_msg_ids)
            self.sent[msg_id] = openid
            self.bodies[msg_id] = text_xml(openid, text, msg_id=msg_id)
            while not await self.post(msg_id):  # unacknowledged: WeChat sends it again
                self.retried.add(msg_id)
                await asyncio.sleep(0.5)
            self.acked.add(msg_id)


async def _world(db: Database, students: int) -> tuple[dict[str, list[str]], list[int]]:
    """Bound people and their scripts (openid → messages); the seeded escalations' ids."""
    now = SystemClock().now()
    campus = await make_campus(db, now)
    scripts: dict[str, list[str]] = {}

    async def person(ext: str, name: str, *roles: Role, **units: object) -> str:
        pid = await add_person(db, campus, ext, name, *roles, now=now, **units)  # type: ignore[arg-type]
        await bind(db, pid, "wechat", f"o-{ext}", now)
        return f"o-{ext}"

    for i in range(students):
        scripts[await person(f"s{i:03d}", f"学生{i}", Role.student)] = list(GAD7)
    await person("s1", "室友小吴", Role.student)
    scripts[await person("k1", "委员小郑", Role.student, Role.committee)] = list(CHECKIN)
    scripts[await person("i1", "信息员小周", Role.student, Role.informant)] = list(DORM)
    scripts[await person("x1", "小林", Role.student)] = list(CRISIS)
    await add_staff_chain(db, campus, now)
    return scripts, await seed_escalations(db, campus, 10, "crash", now)


async def add_staff_chain(db: Database, campus: Campus, now: datetime) -> None:
    """A class advisor, a college lead and a centre staff member for ``campus``'s first
    class, bound on WeChat as o-t1, o-l1 and o-c1: the chain the seeded deadlines climb."""
    staff = {"t1": Role.class_advisor, "l1": Role.college_lead, "c1": Role.centre_staff}
    for ext, role in staff.items():
        units: dict[str, object] = {"dorm_id": None}
        if role is not Role.class_advisor:
            units["klass_id"] = None
        if role is Role.centre_staff:
            units["college_id"] = None
        pid = await add_person(db, campus, ext, f"老师{ext}", role, now=now,
                               **units)  # type: ignore[arg-type]
        await bind(db, pid, "wechat", f"o-{ext}", now)


async def seed_escalations(db: Database, campus: Campus, count: int, prefix: str,
                           now: datetime) -> list[int]:
    """``count`` open dorm escalations in ``campus``'s first class; their ids."""
    network = Network(load_policy())
    seeded = []
    async with db.session() as s:
        for n in range(count):
            esc = await network.escalations.open(s, Subject(
                key=f"{prefix}:{n}", kind="dorm", title="压测", college_id=campus.college_id,
                klass_id=campus.klass_id), Severity.soon, now)
            assert esc is not None and esc.id is not None
            seeded.append(esc.id)
    return seeded


async def _due_soon(db: Database, seeded: list[int], seconds: float) -> None:
    """Bring the seeded deadlines forward so they fall due while the server is down."""
    at = SystemClock().now() + timedelta(seconds=seconds)
    async with db.session() as s:
        await s.exec(update(Timer).where(col(Timer.kind) == DEADLINE,
                                         col(Timer.fired_at).is_(None)).values(due_at=at))


async def settle(db: Database, within: float) -> None:
    """Wait until no message, push or due deadline is pending; fail after ``within`` s."""
    deadline = time.monotonic() + within
    inbox = outbox = due = -1
    while time.monotonic() < deadline:
        async with db.session() as s:
            inbox = (await s.exec(select(func.count()).select_from(InboxMessage).where(
                InboxMessage.status == InboxStatus.pending))).one()
            outbox = (await s.exec(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.status == OutboxStatus.pending))).one()
            due = (await s.exec(select(func.count()).select_from(Timer).where(
                col(Timer.fired_at).is_(None), col(Timer.due_at) <= SystemClock().now()))).one()
        if inbox == 0 and outbox == 0 and due == 0:
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"the service did not settle: {inbox} messages, {outbox} pushes, "
                         f"{due} deadlines pending")


async def run(db_url: str, workdir: Path, *, students: int = 20, kill_at: float = 0.4,
              downtime: float = 4.0, redeliver: float = 0.1) -> CrashReport:
    """The whole scenario; returns the figures and any broken promise."""
    report = CrashReport()
    started = time.monotonic()
    db = Database(db_url)
    await upgrade(db)
    scripts, seeded = await _world(db, students)
    report.deadlines_seeded = len(seeded)
    report.messages = sum(len(t) for t in scripts.values())
    async with WeChatStub() as stub, aiohttp.ClientSession() as session:
        server = Server(db_url, stub.url, workdir)
        server.start()
        platform = Platform(server, session)
        try:
            users = platform.start(scripts)
            await platform.until_acknowledged(report.messages * kill_at)
            await _due_soon(db, seeded, downtime / 2)
            server.kill()  # mid-burst: requests in flight get no answer
            report.acknowledged_before_kill = len(platform.acked)
            await asyncio.sleep(downtime)
            server.start()
            await asyncio.gather(*users)
            # WeChat also redelivers some messages that were acknowledged (lost responses)
            again = sorted(platform.acked)[:: max(1, int(1 / redeliver))]
            for msg_id in again:
                assert await platform.post(msg_id)
            report.redelivered_duplicates = len(again)
            await settle(db, within=90)
        finally:
            server.stop()
        report.acknowledged = len(platform.acked)
        report.resent_unacknowledged = len(platform.retried)
        await _check(db, platform, scripts, seeded, stub, report)
    await db.dispose()
    report.seconds = time.monotonic() - started
    return report


async def _check(db: Database, platform: Platform, scripts: dict[str, list[str]],
                 seeded: list[int], stub: WeChatStub, report: CrashReport) -> None:
    problems = report.problems
    async with db.session() as s:
        inbox = (await s.exec(select(InboxMessage).where(InboxMessage.kind == "message"))).all()
        results = (await s.exec(select(ScreeningResult.person_id))).all()
        checkins = (await s.exec(select(CheckIn))).all()
        reports = (await s.exec(select(Report))).all()
        escalations = (await s.exec(select(Escalation))).all()
        joined = (await s.exec(select(EscalationReport.report_id))).all()
        steps = (await s.exec(select(EscalationStep))).all()
        outbox = (await s.exec(select(OutboxMessage))).all()
    keys = Counter(m.dedupe_key for m in inbox)
    for msg_id in platform.acked:
        key = f"msg:{platform.sent[msg_id]}|{msg_id}"  # message ids are scoped by sender
        if keys[key] != 1:
            problems.append(f"message {msg_id} stored {keys[key]} times")
    if any(m.status != InboxStatus.done for m in inbox):
        problems.append("an inbound message was not handled")
    students = sum(1 for t in scripts.values() if t == GAD7)
    per_student = Counter(results)
    if len(per_student) != students or any(n != 1 for n in per_student.values()):
        problems.append(f"screening results {sorted(per_student.values())} for {students} "
                        "students: a conversation was lost or doubled")
    if len(checkins) != 1:
        problems.append(f"{len(checkins)} check-ins instead of 1")
    by_report = Counter(e.report_id for e in escalations if e.report_id is not None)
    by_report.update(joined)  # a report about a student with an open item joins it
    for r in reports:  # a check-in with nothing to report needs nobody; the others do
        if r.kind != "checkin" and by_report[r.id or 0] != 1:
            problems.append(f"report {r.id} ({r.kind}) has {by_report[r.id or 0]} escalations")
    if sorted(str(r.kind) for r in reports) != ["checkin", "crisis", "dorm"]:
        problems.append(f"reports {sorted(str(r.kind) for r in reports)}")
    climbs = Counter((st.escalation_id, st.level) for st in steps if st.action == "notified")
    for esc_id in seeded:
        if climbs[(esc_id, 1)] != 1:
            problems.append(f"seeded deadline of escalation {esc_id} fired "
                            f"{climbs[(esc_id, 1)]} times")
    if any(o.status not in (OutboxStatus.sent, OutboxStatus.delivered) for o in outbox):
        problems.append("a push was not delivered")
    _check_pushes(list(outbox), stub, report)


def _check_pushes(outbox: list[OutboxMessage], stub: WeChatStub, report: CrashReport) -> None:
    """Every push reached the stand-in; templates exactly once (client_msg_id), text at most
    twice (a kill between WeChat's accepting a text and our recording it resends it)."""
    templates = Counter(s.touser for s in stub.sent if s.endpoint.endswith("template/send"))
    texts = Counter((s.touser, s.body["text"]["content"]) for s in stub.sent
                    if s.endpoint.endswith("custom/send"))
    report.pushes = len(outbox)
    alerts: Counter[str] = Counter()
    expected_texts: Counter[tuple[str, str]] = Counter()
    for row in outbox:
        if row.channel != "wechat":
            continue
        if "alert" in row.payload and row.kind in ALERT_KINDS:
            alerts[row.address] += 1
        else:
            expected_texts[(row.address, payload_text(row.payload, tappable=True) or "")] += 1
    # The stand-in, like WeChat, drops a template resent with the same client_msg_id.
    if templates != alerts:
        report.problems.append(f"template alerts {dict(templates)} != alert rows {dict(alerts)}")
    for key, wanted in expected_texts.items():
        got = texts[key]
        if got < wanted:
            report.problems.append(f"a push to {key[0]} was lost")
        report.push_duplicates += max(0, got - wanted)
