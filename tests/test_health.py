"""/healthz says when pushes cannot go out: missing credentials, a channel paused (issue 13.6)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from tests.conftest import MakeClient
from tests.factories import add_person, bind, make_campus
from tests.wechat_stub import WeChatStub
from xinqiao.bot.app import SERVICES, build_app
from xinqiao.clock import FakeClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import Role

SEND = "message/custom/send"


async def _health(client: Any) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/healthz")
    return resp.status, await resp.json()


async def test_missing_push_credentials_make_health_degraded(
    make_client: MakeClient, aiohttp_client: Any, settings: Settings, db: Database,
    clock: FakeClock,
) -> None:
    client = await make_client(wechat_appid="", wechat_secret="",
                               wechat_alert_template_id="TPL-ALERT")
    status, body = await _health(client)
    assert status == 200  # still serving: the webhook and the database work
    assert body["status"] == "degraded" and body["database"] == "ok"
    assert body["reasons"] == [
        "wechat: XINQIAO_WECHAT_APPID and XINQIAO_WECHAT_SECRET not set: no push (alerts, "
        "reminders, late replies) can be sent on WeChat"]
    # Telegram without its token, while a counsellor is bound there; no alert template
    campus = await make_campus(db, clock.now())
    pid = await add_person(db, campus, "T900", "值班老师", Role.centre_staff, now=clock.now())
    await bind(db, pid, "telegram", "4242", clock.now())
    client = await aiohttp_client(build_app(settings, clock, background=False))
    status, body = await _health(client)
    assert status == 200 and body["status"] == "degraded"
    assert body["reasons"] == ["telegram: XINQIAO_TELEGRAM_TOKEN not set but people are bound "
                               "on Telegram: their pushes wait unsent"]
    assert body["warnings"] == ["wechat: XINQIAO_WECHAT_ALERT_TEMPLATE_ID not set: alerts "
                                "reach staff only within 48 h of their last message"]


async def test_health_is_degraded_while_wechat_is_down_and_ok_once_it_is_back(
    make_client: MakeClient, stub: WeChatStub, db: Database, clock: FakeClock
) -> None:
    client = await make_client(wechat_api_base=stub.url, wechat_api_timeout_seconds=2.0,
                               wechat_alert_template_id="TPL-ALERT")
    assert await _health(client) == (200, {"status": "ok", "database": "ok"})
    async with db.session() as s:
        await enqueue(s, key="alert-1", channel="wechat", address="o-lead", kind="reminder",
                      payload={"reply": Reply("请查看待办").to_json()}, now=clock.now(),
                      priority=Priority.reminder)
    notifier = client.app[SERVICES].notifier
    stub.fail(SEND, -1, times=None)  # "system busy": the platform is down
    await notifier.drain_once()
    clock.advance(seconds=30)
    status, body = await _health(client)
    assert status == 200 and body["status"] == "degraded"
    assert body["reasons"] == ["wechat: platform down for 30 s (probing)"]
    stub.clear_faults()
    clock.advance(seconds=60)
    await notifier.drain_once()  # the probe goes through
    assert await _health(client) == (200, {"status": "ok", "database": "ok"})


async def test_health_asks_the_database_in_one_transaction(
    aiohttp_client: Any, settings: Settings, clock: FakeClock
) -> None:
    # Telegram off: the check also asks whether anyone is bound there, in the same transaction.
    cfg = settings.model_copy(update={"wechat_alert_template_id": "TPL-ALERT"})
    client = await aiohttp_client(build_app(cfg, clock, background=False))
    engine = client.app[SERVICES].db.engine.sync_engine
    begun: list[object] = []

    def count(conn: object) -> None:
        begun.append(conn)

    event.listen(engine, "begin", count)
    try:
        assert await _health(client) == (200, {"status": "ok", "database": "ok"})
    finally:
        event.remove(engine, "begin", count)
    assert len(begun) == 1  # a probe every few seconds: one short transaction, not two
