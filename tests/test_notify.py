"""The notifier draining the outbox into the WeChat stub: outcomes, backoff, fallback, leases."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import (
    ConsoleSender,
    Notifier,
    SendOutcome,
    SendStatus,
    reconcile_template_delivery,
)
from xinqiao.clock import FakeClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import (
    ChannelIdentity,
    OutboxMessage,
    OutboxStatus,
    Person,
    School,
)

SEND = "message/custom/send"
TEMPLATE = "message/template/send"
ALERT = {"alert": {"title": "危机预警", "fields": {"学生": "张三", "级别": "危机"}},
         "reply": Reply("紧急：张三需要关注").to_json()}


@pytest.fixture
def wsettings(settings: Settings, stub: WeChatStub) -> Settings:
    """Settings pointing at the stub, with a short attempt budget."""
    return settings.model_copy(update={
        "wechat_api_base": stub.url, "wechat_api_timeout_seconds": 2.0,
        "outbox_max_attempts": 6,
    })


@pytest.fixture
def tsettings(wsettings: Settings) -> Settings:
    """The same with an alert template configured."""
    return wsettings.model_copy(update={"wechat_alert_template_id": "TPL-ALERT"})


@pytest.fixture
async def api(db: Database, wsettings: Settings, clock: FakeClock) -> AsyncIterator[WeChatAPI]:
    """A started WeChat client."""
    async with WeChatAPI(db, wsettings, clock) as client:
        yield client


@pytest.fixture
def telegram() -> list[str]:
    """Texts 'sent' on the Telegram stand-in."""
    return []


def notifier(db: Database, clock: FakeClock, cfg: Settings, api: WeChatAPI,
             telegram: list[str] | None = None, **extra: Any) -> Notifier:
    """A notifier with WeChat (on ``cfg``) and a Telegram stand-in."""
    senders: dict[str, Any] = {"wechat": WeChatSender(api, cfg)}
    if telegram is not None:
        senders["telegram"] = ConsoleSender(telegram.append, channel="telegram")
    return Notifier(db, clock, cfg, senders, **extra)


async def push(db: Database, clock: FakeClock, key: str, *, kind: str = "reminder",
               address: str = "openid-a", payload: dict[str, Any] | None = None,
               priority: int = Priority.reminder, person_id: int | None = None,
               channel: str = "wechat") -> int:
    """Enqueue one push; return its id."""
    async with db.session() as s:
        row = await enqueue(
            s, key=key, channel=channel, address=address, kind=kind, now=clock.now(),
            payload=payload or {"reply": Reply(f"提醒 {key}").to_json()},
            priority=priority, person_id=person_id,
        )
    assert row.id is not None
    return row.id


async def person(db: Database, clock: FakeClock, **addresses: str) -> int:
    """A bound person with one identity per ``channel=address``."""
    now = clock.now()
    async with db.session() as s:
        school = School(code="xq", name="心桥学院")
        s.add(school)
        await s.flush()
        assert school.id is not None
        who = Person(school_id=school.id, external_id="2026001", name="张三",
                     activation_code="A1", created_at=now, updated_at=now)
        s.add(who)
        await s.flush()
        for channel, address in addresses.items():
            s.add(ChannelIdentity(channel=channel, address=address, person_id=who.id,
                                  bound_at=now, created_at=now))
    assert who.id is not None
    return who.id


async def outbox(db: Database) -> list[OutboxMessage]:
    """Every outbox row, oldest first."""
    async with db.session() as s:
        return list(await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


async def row(db: Database, row_id: int) -> OutboxMessage:
    """One outbox row, fresh."""
    async with db.session() as s:
        found = await s.get(OutboxMessage, row_id)
        assert found is not None
        return found


async def test_reply_goes_out_as_custom_text(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    rid = await push(db, clock, "r1", kind="reply", payload={"reply": Reply(
        "请选择", choices=(), links=()).to_json()})
    assert await notifier(db, clock, wsettings, api).drain_once() == 1
    assert [(m.touser, m.body["text"]["content"]) for m in stub.sent] == [("openid-a", "请选择")]
    sent = await row(db, rid)
    assert sent.status == OutboxStatus.sent and sent.sent_at == clock.now()
    assert await notifier(db, clock, wsettings, api).drain_once() == 0


@pytest.mark.parametrize("code", [45015, 45047])
async def test_o10_closed_window_falls_back_to_telegram(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub,
    telegram: list[str], code: int,
) -> None:
    pid = await person(db, clock, wechat="openid-a", telegram="777")
    rid = await push(db, clock, "alert:1", kind="alert", payload=ALERT, person_id=pid,
                     priority=Priority.alert)
    stub.fail(SEND, code)
    n = notifier(db, clock, wsettings, api, telegram)
    await n.drain_once()
    failed = await row(db, rid)
    assert failed.status == OutboxStatus.failed and str(code) in (failed.last_error or "")
    copy = (await outbox(db))[-1]
    assert (copy.channel, copy.address, copy.fallback_of) == ("telegram", "777", rid)
    assert copy.idempotency_key == "alert:1:fallback:telegram"
    assert copy.priority == Priority.alert
    await n.drain_once()
    assert telegram == ["紧急：张三需要关注"]
    clock.advance(hours=1)
    await n.drain_once()
    assert stub.calls[SEND] == 1  # never retried on WeChat


async def test_o10_without_another_channel_the_failure_is_logged(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub,
    telegram: list[str], caplog: pytest.LogCaptureFixture,
) -> None:
    pid = await person(db, clock, wechat="openid-a")
    rid = await push(db, clock, "alert:2", kind="crisis", payload=ALERT, person_id=pid)
    stub.fail(SEND, 45015)
    await notifier(db, clock, wsettings, api, telegram).drain_once()
    assert (await row(db, rid)).status == OutboxStatus.failed
    assert len(await outbox(db)) == 1 and telegram == []
    assert any(r.levelno == logging.ERROR and "no other reachable channel" in r.getMessage()
               for r in caplog.records)


@pytest.mark.parametrize("code", [43004, 40003, 43101])
async def test_o11_recipient_refusals_are_permanent(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub,
    telegram: list[str], code: int,
) -> None:
    pid = await person(db, clock, wechat="openid-a", telegram="777")
    rid = await push(db, clock, "remind:1", person_id=pid)
    stub.fail(SEND, code)
    n = notifier(db, clock, wsettings, api, telegram)
    await n.drain_once()
    clock.advance(hours=2)
    await n.drain_once()
    failed = await row(db, rid)
    assert failed.status == OutboxStatus.failed and failed.attempts == 1
    assert stub.calls[SEND] == 1
    assert len(await outbox(db)) == 1  # a reminder refused for good is not copied elsewhere


@pytest.mark.parametrize("code", [40037, 47003])
async def test_o12_developer_errors_fail_with_an_alert_and_the_alert_still_arrives(
    db: Database, clock: FakeClock, tsettings: Settings, api: WeChatAPI, stub: WeChatStub,
    telegram: list[str], caplog: pytest.LogCaptureFixture, code: int,
) -> None:
    pid = await person(db, clock, wechat="openid-a", telegram="777")
    rid = await push(db, clock, "alert:3", kind="alert", payload=ALERT, person_id=pid)
    stub.fail(TEMPLATE, code)
    n = notifier(db, clock, tsettings, api, telegram)
    await n.drain_once()
    assert (await row(db, rid)).status == OutboxStatus.failed
    assert any(r.levelno == logging.ERROR and f"errcode {code}" in r.getMessage()
               for r in caplog.records)
    await n.drain_once()
    assert telegram == ["紧急：张三需要关注"] and stub.calls[TEMPLATE] == 1


async def test_o13_template_accepted_then_blocked_falls_back_once(
    db: Database, clock: FakeClock, tsettings: Settings, api: WeChatAPI, stub: WeChatStub,
    telegram: list[str],
) -> None:
    pid = await person(db, clock, wechat="openid-a", telegram="777")
    rid = await push(db, clock, "alert:4", kind="crisis", payload=ALERT, person_id=pid)
    n = notifier(db, clock, tsettings, api, telegram)
    await n.drain_once()
    sent = await row(db, rid)
    assert sent.status == OutboxStatus.sent  # accepted, not yet delivered
    assert stub.sent[0].body["data"] == {"thing1": {"value": "危机预警"},
                                         "thing2": {"value": "张三"}, "thing3": {"value": "危机"}}
    assert stub.sent[0].body["client_msg_id"] == "alert:4"
    msgid = str(stub.sent[0].msgid)
    assert sent.provider_msg_id == msgid
    for _ in range(2):  # WeChat may repeat the event
        async with db.session() as s:
            await n.reconcile_template_delivery(s, msgid, "failed:user block", clock.now())
    assert (await row(db, rid)).status == OutboxStatus.failed
    assert [r.channel for r in await outbox(db)] == ["wechat", "telegram"]
    await n.drain_once()
    assert telegram == ["紧急：张三需要关注"]


async def test_o13_delivery_report_success_marks_delivered(
    db: Database, clock: FakeClock, tsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    rid = await push(db, clock, "alert:5", kind="alert", payload=ALERT)
    await notifier(db, clock, tsettings, api).drain_once()
    async with db.session() as s:
        assert await reconcile_template_delivery(s, "999", "success", clock.now()) is None
        done = await reconcile_template_delivery(s, str(stub.sent[0].msgid), "success",
                                                 clock.now())
        assert done is not None and done.id == rid
    assert (await row(db, rid)).status == OutboxStatus.delivered


class CrashAfterSend:
    """Sends for real, then the 'process dies' before the outcome is recorded."""

    channel = "wechat"

    def __init__(self, inner: WeChatSender) -> None:
        self.inner = inner
        self.done = asyncio.Event()

    async def send(self, row: OutboxMessage) -> SendOutcome:
        outcome = await self.inner.send(row)
        self.done.set()
        await asyncio.Event().wait()
        return outcome


async def test_o14_crash_mid_send_is_resent_after_the_lease_exactly_once(
    db: Database, clock: FakeClock, tsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    rid = await push(db, clock, "alert:6", kind="alert", payload=ALERT)
    crashing = CrashAfterSend(WeChatSender(api, tsettings))
    doomed = asyncio.create_task(Notifier(db, clock, tsettings, {"wechat": crashing}).drain_once())
    await crashing.done.wait()
    doomed.cancel()
    with suppress(asyncio.CancelledError):
        await doomed
    assert (await row(db, rid)).status == OutboxStatus.pending
    restarted = notifier(db, clock, tsettings, api)
    assert await restarted.drain_once() == 0  # still leased to the dead process
    clock.advance(seconds=121)
    assert await restarted.drain_once() == 1
    assert await restarted.drain_once() == 0
    assert (await row(db, rid)).status == OutboxStatus.sent
    assert stub.calls[TEMPLATE] == 2 and len(stub.sent) == 1  # client_msg_id deduplicated


async def test_o9_quota_pauses_the_channel_without_a_hot_loop(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for i in range(5):
        await push(db, clock, f"bulk:{i}", address=f"o{i}", priority=Priority.bulk)
    stub.fail(SEND, 45009, times=None)
    n = notifier(db, clock, wsettings, api, concurrency=1)
    await n.drain_once()
    for _ in range(3):
        await n.drain_once()
    assert stub.calls[SEND] == 1
    rows = await outbox(db)
    assert all(r.status == OutboxStatus.pending and r.attempts == 0 for r in rows)
    assert rows[0].next_attempt_at == clock.now() + timedelta(hours=1)
    assert sum("paused" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records) == 1
    stub.clear_faults()
    clock.advance(hours=1, seconds=1)
    while await n.drain_once():
        pass
    assert len(stub.sent) == 5


async def test_o5_token_config_error_pauses_instead_of_looping(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    rid = await push(db, clock, "remind:2")
    stub.fail("stable_token", 40164, times=None)
    n = notifier(db, clock, wsettings, api)
    for _ in range(3):
        await n.drain_once()
    assert stub.calls["stable_token"] == 1
    paused = await row(db, rid)
    assert paused.status == OutboxStatus.pending and paused.next_attempt_at > clock.now()


async def test_o4_persistent_token_rejection_fails_the_push_boundedly(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    rid = await push(db, clock, "remind:3")
    stub.fail(SEND, 40001, times=None)
    await notifier(db, clock, wsettings, api).drain_once()
    assert (await row(db, rid)).status == OutboxStatus.failed
    assert stub.calls[SEND] == 2 and stub.calls["stable_token"] == 2


@pytest.mark.parametrize("fault", ["errcode -1", "http 502", "http 503", "reset", "timeout"])
async def test_o6_o7_transient_failures_back_off(
    db: Database, clock: FakeClock, wsettings: Settings, stub: WeChatStub, fault: str
) -> None:
    cfg = wsettings.model_copy(update={"wechat_api_timeout_seconds": 0.3})
    rid = await push(db, clock, "remind:4")
    {"errcode -1": lambda: stub.fail(SEND, -1), "reset": lambda: stub.reset(SEND),
     "timeout": lambda: stub.stall(SEND, 5), "http 502": lambda: stub.fail_http(SEND, 502),
     "http 503": lambda: stub.fail_http(SEND, 503)}[fault]()
    async with WeChatAPI(db, cfg, clock) as api:
        n = notifier(db, clock, cfg, api)
        await n.drain_once()
        waiting = await row(db, rid)
        assert waiting.status == OutboxStatus.pending and waiting.attempts == 1
        assert timedelta(seconds=7.5) <= waiting.next_attempt_at - clock.now() <= timedelta(
            seconds=15)
        assert await n.drain_once() == 0  # not due yet: no hot loop
        clock.set(waiting.next_attempt_at)
        await n.drain_once()
    assert (await row(db, rid)).status == OutboxStatus.sent and len(stub.sent) == 1


async def test_backoff_grows_then_after_24_hours_the_alert_is_dead_lettered_and_falls_back(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub,
    telegram: list[str], caplog: pytest.LogCaptureFixture,
) -> None:
    pid = await person(db, clock, wechat="openid-a", telegram="777")
    rid = await push(db, clock, "alert:7", kind="alert", payload=ALERT, person_id=pid)
    stub.fail(SEND, -1, times=None)
    n = notifier(db, clock, wsettings, api, telegram)
    delays = []
    for _ in range(wsettings.outbox_max_attempts - 1):
        await n.drain_once()
        waiting = await row(db, rid)
        delays.append((waiting.next_attempt_at - clock.now()).total_seconds())
        clock.set(waiting.next_attempt_at)
    for i, delay in enumerate(delays):
        assert 15 * 2**i / 2 <= delay <= 15 * 2**i
    assert delays == sorted(delays)
    await n.drain_once()
    waiting = await row(db, rid)  # the attempt budget alone does not give up: 24 h do
    assert waiting.status == OutboxStatus.pending
    assert waiting.attempts == wsettings.outbox_max_attempts
    clock.set(waiting.created_at + timedelta(hours=wsettings.outbox_retry_hours))
    await n.drain_once()
    dead = await row(db, rid)
    assert dead.status == OutboxStatus.dead and dead.attempts == wsettings.outbox_max_attempts + 1
    assert stub.calls[SEND] == wsettings.outbox_max_attempts + 1
    assert any(r.levelno == logging.ERROR and "dead after" in r.getMessage()
               for r in caplog.records)
    await n.drain_once()
    assert telegram == ["紧急：张三需要关注"]


async def test_crisis_goes_before_bulk_when_backed_up(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    for i in range(10):
        await push(db, clock, f"bulk:{i}", priority=Priority.bulk)
    clock.advance(seconds=5)
    await push(db, clock, "reply:1", kind="reply", priority=Priority.reply)
    await push(db, clock, "crisis:1", kind="crisis", priority=Priority.crisis)
    await push(db, clock, "alert:1", kind="alert", priority=Priority.alert)
    written: list[str] = []
    n = Notifier(db, clock, settings, {"console": ConsoleSender(written.append)}, concurrency=1)
    async with db.session() as s:  # move them to the console channel
        for r in await s.exec(select(OutboxMessage)):
            r.channel = "console"
            s.add(r)
    assert await n.drain_once(limit=3) == 3
    assert written == ["提醒 crisis:1", "提醒 alert:1", "提醒 reply:1"]


async def test_two_notifiers_deliver_200_pushes_exactly_once(
    db: Database, db_url: str, clock: FakeClock, wsettings: Settings, stub: WeChatStub
) -> None:
    for i in range(200):
        await push(db, clock, f"bulk:{i}", address=f"openid-{i}", priority=Priority.bulk)
    other_db = Database(db_url)  # its own pool: a second process
    handled = Counter[int]()
    try:
        async with WeChatAPI(db, wsettings, clock) as one, \
                WeChatAPI(other_db, wsettings, clock) as two:
            workers = [notifier(db, clock, wsettings, one),
                       notifier(other_db, clock, wsettings, two)]

            async def drain(i: int) -> None:
                while count := await workers[i].drain_once(limit=20):
                    handled[i] += count

            for _ in range(10):
                await asyncio.gather(drain(0), drain(1))
                clock.advance(seconds=5)  # each process keeps to the account's send rate
    finally:
        await other_db.dispose()
    assert all(r.status == OutboxStatus.sent for r in await outbox(db))
    per_user = Counter(m.touser for m in stub.sent)
    assert len(per_user) == 200 and set(per_user.values()) == {1}
    assert handled[0] > 0 and handled[1] > 0 and handled.total() == 200
    assert stub.calls["stable_token"] == 1


@pytest.mark.postgres_only  # SQLite serialises whole transactions; row locks are PostgreSQL's
async def test_claim_skips_rows_another_process_is_claiming(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    busy = await push(db, clock, "c:busy", channel="console", address="me")
    await push(db, clock, "c:free", channel="console", address="me")
    written: list[str] = []
    n = Notifier(db, clock, settings, {"console": ConsoleSender(written.append)})
    async with db.session() as other:  # another notifier, between its SELECT and its COMMIT
        await other.exec(
            select(OutboxMessage).where(OutboxMessage.id == busy).with_for_update()
        )
        assert await asyncio.wait_for(n.drain_once(), 5) == 1  # neither waits nor double-claims
    assert written == ["提醒 c:free"]


class SlowSender:
    """Takes 70 s (of fake time) per send."""

    channel = "console"

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent: list[str] = []

    async def send(self, row: OutboxMessage) -> SendOutcome:
        self.clock.advance(seconds=70)
        self.sent.append(row.idempotency_key)
        return SendOutcome(SendStatus.sent)


async def test_a_send_never_starts_on_a_nearly_expired_lease(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    for key in ("c:1", "c:2"):
        await push(db, clock, key, channel="console", address="me")
    slow = SlowSender(clock)
    n = Notifier(db, clock, settings, {"console": slow}, concurrency=1, lease_seconds=120)
    assert await n.drain_once() == 1  # the second row had < half its lease left: released
    second = (await outbox(db))[1]
    assert second.status == OutboxStatus.pending and second.claimed_until is None
    assert await n.drain_once() == 1
    assert slow.sent == ["c:1", "c:2"]


async def test_run_loop_sends_and_stops(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    written: list[str] = []
    cfg = settings.model_copy(update={"outbox_poll_seconds": 0.02})
    n = Notifier(db, clock, cfg, {"console": ConsoleSender(written.append)})
    stop = asyncio.Event()
    loop = asyncio.create_task(n.run(stop))
    await push(db, clock, "c:1", channel="console", address="me")
    for _ in range(100):
        if written:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(loop, 1)
    assert written == ["提醒 c:1"]


async def test_notices_go_as_templates_when_configured_so_they_reach_beyond_48_hours(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub,
) -> None:
    notice = {"alert": {"title": "测评邀请", "fields": {"批次": "2026秋季学期心理健康测评",
                                                       "截止": "09月21日 10:00"}},
              "reply": Reply("同学你好！学校心理中心邀请你……").to_json()}
    await push(db, clock, "invite:1", kind="notice", payload=notice)
    # without a notice template it is a custom text (reaches only the recently active)
    await notifier(db, clock, wsettings, api).drain_once()
    assert [m.endpoint for m in stub.sent] == [SEND]
    configured = wsettings.model_copy(update={"wechat_notice_template_id": "TPL-NOTICE"})
    await push(db, clock, "invite:2", kind="notice", payload=notice)
    await push(db, clock, "remind:9", kind="reminder", payload=notice)  # not a notice: text
    await notifier(db, clock, configured, api).drain_once()
    template = [m for m in stub.sent if m.endpoint == TEMPLATE]
    assert len(template) == 1 and template[0].body["template_id"] == "TPL-NOTICE"
    assert template[0].body["data"]["thing1"]["value"] == "测评邀请"
    assert len(template[0].body["data"]["thing2"]["value"]) <= 20
    assert [m.endpoint for m in stub.sent].count(SEND) == 2
