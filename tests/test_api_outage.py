"""The WeChat API is down for an hour (system busy and 503) while pushes of every urgency queue.

A fake clock drives the real notifier, the real WeChat client against the WeChat stand-in and
the real aiogram client against the Telegram stand-in, ten seconds at a time, for the hour.
Promises: nothing is dead-lettered for a one-hour outage; crisis alerts for a person who also
uses Telegram reach them there during the outage, once, and never again on WeChat; the
platform is only probed meanwhile; when it is back every push goes out exactly once, crisis
before alerts before reminders before bulk, at no more than the account's send rate.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlmodel import col, select

from tests.telegram_stub import TOKEN, TelegramStub
from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.telegram import make_bot
from xinqiao.bot.channels.telegram_sender import TelegramSender, limiter_for
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import Notifier
from xinqiao.clock import FakeClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, OutboxMessage, OutboxStatus, Person, School

SEND, TEMPLATE = "message/custom/send", "message/template/send"
HOUR = timedelta(hours=1)
TG_CHAT = 4242  # the counsellor on duty who also uses Telegram


@dataclass
class Queued:
    """What was queued, by idempotency key: its priority and the recipient's openid."""

    priority: dict[str, int]
    openid: dict[str, str]


@pytest.fixture
async def notifier(
    db: Database, clock: FakeClock, settings: Settings, stub: WeChatStub, tg: TelegramStub
) -> AsyncIterator[Notifier]:
    """The notifier on WeChat (alerts as templates) and Telegram, as ``serve`` builds it."""
    cfg = settings.model_copy(update={
        "wechat_api_base": stub.url, "wechat_api_timeout_seconds": 2.0,
        "wechat_alert_template_id": "TPL-ALERT", "telegram_token": TOKEN,
        "telegram_api_base": tg.url, "telegram_webhook_secret": "s"})
    bot = make_bot(cfg)
    async with WeChatAPI(db, cfg, clock) as api:
        yield Notifier(db, clock, cfg, {"wechat": WeChatSender(api, cfg),
                                        "telegram": TelegramSender(bot, limiter_for(cfg, clock))})
    await bot.session.close()


async def _people(db: Database, now: datetime, students: int) -> dict[str, int]:
    """Staff and students, bound on WeChat; the duty counsellor on Telegram too."""
    ids: dict[str, int] = {}
    async with db.session() as s:
        school = School(code="xq", name="心桥学院")
        s.add(school)
        await s.flush()
        assert school.id is not None
        for n, key in enumerate(["duty", "lead", "advisor",
                                 *(f"s{i}" for i in range(students))]):
            who = Person(school_id=school.id, external_id=f"P{n:04d}", name=key,
                         activation_code=f"A{n}", created_at=now, updated_at=now)
            s.add(who)
            await s.flush()
            assert who.id is not None
            ids[key] = who.id
            s.add(ChannelIdentity(channel="wechat", address=f"o-{key}", person_id=who.id,
                                  bound_at=now, created_at=now, preferred=True))
            if key == "duty":
                s.add(ChannelIdentity(channel="telegram", address=str(TG_CHAT),
                                      person_id=who.id, bound_at=now, created_at=now))
    return ids


async def _queue(db: Database, clock: FakeClock, ids: dict[str, int], queued: Queued,
                 tag: str, students: range) -> None:
    """Crisis alerts, escalation notices, booking reminders and a weekly bulk push."""
    pushes: list[tuple[str, str, int]] = [
        ("crisis", "duty", Priority.crisis), ("crisis", "lead", Priority.crisis),
        ("alert", "lead", Priority.alert), ("alert", "advisor", Priority.alert),
        ("alert", "duty", Priority.alert),
        *(("reminder", f"s{i}", Priority.reminder) for i in students),
        *(("bulk", f"s{i}", Priority.bulk) for i in students),
    ]
    async with db.session() as s:
        for kind, who, priority in pushes:
            key = f"{tag}:{kind}:{who}"
            alert = {"title": f"#{tag} 危机预警", "fields": {"事项": key}}
            payload = {"reply": Reply(f"{key} 通知").to_json(),
                       **({"alert": alert} if kind in ("crisis", "alert") else {})}
            await enqueue(s, key=key, channel="wechat", address=f"o-{who}", kind=kind,
                          payload=payload, now=clock.now(), person_id=ids[who],
                          priority=priority)
            queued.priority[key], queued.openid[key] = priority, f"o-{who}"


async def _run(notifier: Notifier, clock: FakeClock, span: timedelta, step: float) -> None:
    end = clock.now() + span
    while clock.now() < end:
        while await notifier.drain_once():
            pass
        clock.advance(seconds=step)


async def _rows(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))))


def _key(body: dict[str, object]) -> str:
    """The idempotency key a WeChat send carries (template client_msg_id, or text prefix)."""
    if "client_msg_id" in body:
        return str(body["client_msg_id"])
    text = body["text"]
    assert isinstance(text, dict)
    return str(text["content"]).split(" ")[0]


async def test_an_hour_long_wechat_outage_loses_nothing_and_drains_by_urgency(
    db: Database, clock: FakeClock, stub: WeChatStub, tg: TelegramStub, notifier: Notifier
) -> None:
    ids = await _people(db, clock.now(), students=60)
    queued = Queued({}, {})
    stub.fail(SEND, -1, times=None)  # system busy, for every text
    stub.fail_http(TEMPLATE, 503, times=None)  # and a 503 for every template
    await _queue(db, clock, ids, queued, "t0", range(0, 40))
    await _run(notifier, clock, timedelta(minutes=20), step=10)
    await _queue(db, clock, ids, queued, "t20", range(40, 60))  # more arrive meanwhile
    await _run(notifier, clock, HOUR - timedelta(minutes=20), step=10)

    rows = await _rows(db)
    statuses = Counter(r.status for r in rows)
    assert OutboxStatus.dead not in statuses and OutboxStatus.failed not in statuses
    assert stub.sent == []
    probes = stub.calls[SEND] + stub.calls[TEMPLATE]
    assert probes <= 90, probes  # about one a minute, not one per push per retry
    # the duty counsellor's crisis alerts and notices came on Telegram during the outage
    on_telegram = [m.text for m in tg.chat(TG_CHAT)]
    assert sorted(t.split(" ")[0] for t in on_telegram) == [
        "t0:alert:duty", "t0:crisis:duty", "t20:alert:duty", "t20:crisis:duty"]
    first = tg.times(chat=TG_CHAT)[0] - rows[0].created_at
    assert first <= timedelta(minutes=3), first

    stub.clear_faults()  # WeChat is back
    await _run(notifier, clock, timedelta(minutes=3), step=0.5)
    rows = await _rows(db)
    assert {r.status for r in rows} <= {OutboxStatus.sent, OutboxStatus.superseded}
    assert {r.idempotency_key for r in rows if r.status == OutboxStatus.superseded} == {
        "t0:alert:duty", "t0:crisis:duty", "t20:alert:duty", "t20:crisis:duty"}
    delivered = [_key(m.body) for m in stub.sent]
    expected = [k for k in queued.priority if not k.endswith(":duty")]
    assert sorted(delivered) == sorted(expected)  # each exactly once, none to the duty openid
    assert len(tg.chat(TG_CHAT)) == 4  # and nothing twice on Telegram
    order = [queued.priority[k] for k in delivered]
    assert order == sorted(order), order  # crisis, alerts, reminders, bulk
    times = [m.at for m in stub.sent if m.at is not None]
    cfg = notifier.settings
    for i in range(len(times)):  # a token bucket: n sends in t seconds <= burst + rate * t
        for j in range(i, len(times)):
            span = (times[j] - times[i]).total_seconds()
            assert j - i + 1 <= cfg.wechat_send_burst + cfg.wechat_send_rate * span + 1e-6
    drain = (times[-1] - times[0]).total_seconds()
    print(f"\n1 h WeChat outage: {len(rows)} pushes queued, {probes} probes, 0 dead; "
          f"{len(on_telegram)} alerts on Telegram meanwhile; backlog of {len(delivered)} "
          f"drained in {drain:.1f} s (fake clock) by urgency within "
          f"{cfg.wechat_send_rate:.0f}/s")
