"""An alert burst on Telegram with two workers: a 429 from the Bot API holds that chat for every
worker (the hold is kept in the outbox, not in one process's memory), so nothing is lost and the
chat's alerts arrive in the order they were raised, after exactly ``retry_after``."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import col, select

from tests.telegram_stub import TOKEN, TelegramStub
from tests.telegram_user import SECRET
from xinqiao.bot.channels.telegram import make_bot
from xinqiao.bot.channels.telegram_sender import TelegramSender, limiter_for
from xinqiao.bot.notify import Notifier
from xinqiao.clock import FakeClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, OutboxStatus

ADVISOR, OTHER = 990001, 990002


async def test_a_429_holds_the_chat_for_every_worker_and_keeps_its_alerts_in_order(
    db: Database, db_url: str, clock: FakeClock, settings: Settings, tg: TelegramStub
) -> None:
    cfg = settings.model_copy(update={
        "telegram_token": TOKEN, "telegram_api_base": tg.url, "telegram_webhook_secret": SECRET,
        "telegram_api_timeout_seconds": 2.0, "telegram_chat_burst": 10.0})
    async with db.session() as s:  # five students' crisis words in one minute: D1 … D5
        for n in range(1, 6):
            await enqueue(s, key=f"esc:{n}", channel="telegram", address=str(ADVISOR),
                          kind="crisis", priority=Priority.crisis, now=clock.now(),
                          payload={"reply": Reply(f"【心桥】D{n} 危机预警").to_json()})
        await enqueue(s, key="other", channel="telegram", address=str(OTHER), kind="crisis",
                      priority=Priority.crisis, now=clock.now(),
                      payload={"reply": Reply("【心桥】D9 危机预警").to_json()})
    other_db = Database(db_url)  # the second worker: its own process, pool and rate limiter
    bots = [make_bot(cfg), make_bot(cfg)]
    try:
        workers = [Notifier(db, clock, cfg, {"telegram": TelegramSender(
                       bots[0], limiter_for(cfg, clock, db))}),
                   Notifier(other_db, clock, cfg, {"telegram": TelegramSender(
                       bots[1], limiter_for(cfg, clock, other_db))})]
        tg.fail("sendMessage", 429, "Too Many Requests: retry after 5", retry_after=5,
                chat=ADVISOR)
        started = clock.now()
        assert await workers[0].drain_once(limit=1) == 1  # D1 is refused with retry_after 5
        for _ in range(60):  # both workers drain, a tenth of a second at a time
            for worker in workers:
                while await worker.drain_once(limit=2):
                    pass
            clock.advance(seconds=0.1)
            await asyncio.sleep(0)
    finally:
        for bot in bots:
            await bot.session.close()
        await other_db.dispose()
    sent = tg.chat(ADVISOR)
    assert [m.text for m in sent] == [f"【心桥】D{n} 危机预警" for n in range(1, 6)]
    assert all(m.at >= started + timedelta(seconds=5) for m in sent)  # nobody jumped the wait
    assert tg.times(chat=OTHER) == [started]  # another chat was never held
    async with db.session() as s:
        rows = (await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert {r.status for r in rows} == {OutboxStatus.sent}
    assert [r.attempts for r in rows] == [2, 1, 1, 1, 1, 1]  # the hold spent no attempts
