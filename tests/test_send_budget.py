"""``serve --workers N``: the account's send rate is one budget for all workers, not one each."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime

from sqlmodel import select

from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import Notifier
from xinqiao.bot.send_budget import SharedBudget
from xinqiao.clock import FakeClock
from xinqiao.messages import Reply
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage, OutboxStatus

RATE, BURST = 4.0, 6.0  # the account's pushes per second and burst
PUSHES = 60


def _within_rate(times: list[datetime]) -> list[tuple[int, float]]:
    """Windows that break the bucket: n sends in t seconds must be <= burst + rate * t."""
    broken = []
    for i in range(len(times)):
        for j in range(i, len(times)):
            span = (times[j] - times[i]).total_seconds()
            if j - i + 1 > BURST + RATE * span + 1e-6:
                broken.append((j - i + 1, span))
    return broken


async def test_two_workers_together_keep_to_the_accounts_send_rate(
    db: Database, db_url: str, clock: FakeClock, settings: Settings, stub: WeChatStub
) -> None:
    cfg = settings.model_copy(update={
        "wechat_api_base": stub.url, "wechat_api_timeout_seconds": 2.0,
        "wechat_send_rate": RATE, "wechat_send_burst": BURST})
    async with db.session() as s:  # a weekly tip to 60 students, queued at once
        for i in range(PUSHES):
            await enqueue(s, key=f"tip:{i}", channel="wechat", address=f"o-s{i}", kind="bulk",
                          payload={"reply": Reply(f"本周小贴士 {i}").to_json()},
                          now=clock.now(), priority=Priority.bulk)
    other_db = Database(db_url)  # the second worker: its own process, its own pool
    handled: Counter[int] = Counter()
    try:
        async with WeChatAPI(db, cfg, clock) as one, WeChatAPI(other_db, cfg, clock) as two:
            workers = [Notifier(db, clock, cfg, {"wechat": WeChatSender(one, cfg)}),
                       Notifier(other_db, clock, cfg, {"wechat": WeChatSender(two, cfg)})]

            async def drain(i: int) -> None:
                while count := await workers[i].drain_once(limit=10):
                    handled[i] += count

            for _ in range(200):  # 20 s of the fake clock, both workers draining meanwhile
                await asyncio.gather(drain(0), drain(1))
                clock.advance(seconds=0.1)
    finally:
        await other_db.dispose()

    async with db.session() as s:
        rows = (await s.exec(select(OutboxMessage))).all()
    assert {r.status for r in rows} == {OutboxStatus.sent}
    per_user = Counter(m.touser for m in stub.sent)
    assert len(per_user) == PUSHES and set(per_user.values()) == {1}  # each once
    assert handled[0] > 0 and handled[1] > 0  # both workers sent
    times = sorted(m.at for m in stub.sent if m.at is not None)
    assert len(times) == PUSHES
    assert _within_rate(times) == []  # together, not each, within 4/s (burst 6)
    drain_seconds = (times[-1] - times[0]).total_seconds()
    assert drain_seconds >= (PUSHES - BURST) / RATE - 0.2  # and no faster than that allows
    print(f"\n2 workers, {PUSHES} pushes: {handled[0]} + {handled[1]} sent in "
          f"{drain_seconds:.1f} s of fake time at {RATE:.0f}/s (burst {BURST:.0f})")


async def test_the_budget_is_one_bucket_for_every_process(
    db: Database, db_url: str, clock: FakeClock
) -> None:
    other_db = Database(db_url)
    try:
        a = SharedBudget(db, clock, "wechat", rate=2, burst=3)
        b = SharedBudget(other_db, clock, "wechat", rate=2, burst=3)
        assert [await a.take(), await b.take(), await a.take()] == [0.0, 0.0, 0.0]
        assert await b.take() == 0.5  # the burst is spent, by both together
        assert await a.take() == 0.5  # and asking took nothing
        clock.advance(seconds=0.5)
        assert await b.take() == 0.0
        assert await a.take() == 0.5
        other = SharedBudget(db, clock, "telegram", rate=2, burst=3)  # another channel's own
        assert await other.take() == 0.0
    finally:
        await other_db.dispose()
