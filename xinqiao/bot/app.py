"""The aiohttp application: routes, background work and their lifecycle. No logic here."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import threading
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func
from sqlmodel import select

from xinqiao.bot.channels.wechat import TEMPLATE_FINISH, WeChatWebhook
from xinqiao.bot.channels.wecom import WeComWebhook
from xinqiao.bot.channels.wecom_login import WeComLogin
from xinqiao.bot.console_web import add_console_routes
from xinqiao.bot.content_pages import add_article_routes
from xinqiao.bot.engine import Engine
from xinqiao.bot.inbox_processor import InboxProcessor
from xinqiao.bot.metrics import Metrics
from xinqiao.bot.readiness import database_problems, paused
from xinqiao.bot.wiring import Services, build_services
from xinqiao.clock import Clock, SystemClock
from xinqiao.scheduler.runner import JobScheduler
from xinqiao.settings import Settings
from xinqiao.storage.callbacks import forget_expired
from xinqiao.storage.models import InboxMessage, InboxStatus, OutboxMessage
from xinqiao.storage.wal import CHECK_SECONDS as WAL_CHECK_SECONDS

if TYPE_CHECKING:  # aiogram takes seconds to import: only when Telegram is on
    from xinqiao.bot.channels.telegram import TelegramIntake
    from xinqiao.bot.channels.telegram_poll import TelegramPoller

log = logging.getLogger(__name__)
# A stop waits this long for work in progress (the process's own deadline is a little longer,
# see ``bot.shutdown``).
STOP_WAIT_SECONDS = 6.0
# Imported by the warm-up, not before the first /healthz: the first message and the first
# article page need them (wechatpy pulls in requests), start-up does not (issue 18).
PRELOAD = ("wechatpy.crypto", "wechatpy.enterprise.crypto", "markdown_it")
SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
RUNTIME: web.AppKey[Runtime] = web.AppKey("runtime", object)  # type: ignore[arg-type]
TELEGRAM: web.AppKey[Telegram] = web.AppKey("telegram", object)  # type: ignore[arg-type]
WECHAT: web.AppKey[WeChatWebhook] = web.AppKey("wechat", WeChatWebhook)


@dataclass(frozen=True)
class Telegram:
    """The Telegram side when a token is set: the intake, and the poller in polling mode."""

    intake: TelegramIntake
    poller: TelegramPoller | None


@dataclass
class Runtime:
    """Background tasks owned by the app: in-flight processing and the periodic loops."""

    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background, keeping a reference until it ends."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


def build_app(
    settings: Settings, clock: Clock | None = None, *, background: bool = True,
    telegram_polling: bool = True,
) -> web.Application:
    """The service as an aiohttp app; ``background=False`` leaves loops to the caller (tests).

    ``telegram_polling=False`` keeps this process from polling Telegram in polling mode (with
    several workers only one may call getUpdates).
    """
    clock = clock or SystemClock()
    # A little over our own limit, so an oversized body gets our 413 and not a reset.
    app = web.Application(client_max_size=settings.wechat_max_body_bytes + 1024)
    runtime = Runtime()
    services = build_services(settings, clock, spawn=runtime.spawn)
    app[SERVICES] = services
    app[RUNTIME] = runtime
    wechat = services.wechat
    app[WECHAT] = wechat
    app.router.add_get("/wechat", wechat.verify)
    app.router.add_post("/wechat", wechat.receive)
    if settings.wecom_enabled:
        wecom = WeComWebhook(settings, services.feed, clock, services.metrics)
        app.router.add_get("/wecom", wecom.verify)
        app.router.add_post("/wecom", wecom.receive)
        assert services.wecom_api is not None
        login = WeComLogin(settings, services.db, clock, services.wecom_api)
        app.router.add_get("/wecom/login", login.start)
        app.router.add_get("/wecom/login/done", login.done)
    intake = services.telegram
    if services.telegram_bot is not None and intake is not None:
        from xinqiao.bot.channels.telegram import TelegramWebhook
        from xinqiao.bot.channels.telegram_poll import TelegramPoller

        poller = None
        if settings.telegram_mode == "polling" and telegram_polling:
            poller = TelegramPoller(services.telegram_bot, intake,
                                    settings.telegram_poll_timeout_seconds)
        elif settings.telegram_mode == "webhook":
            app.router.add_post("/telegram", TelegramWebhook(settings, intake,
                                                             services.metrics).receive)
        app[TELEGRAM] = Telegram(intake, poller)
    add_article_routes(app, services.content, clock, settings.centre_name)
    add_console_routes(app, services)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/metrics", _metrics)
    app.cleanup_ctx.append(_lifecycle(background))
    return app


def _lifecycle(background: bool) -> Any:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services, runtime = app[SERVICES], app[RUNTIME]
        scheduler = JobScheduler(services.jobs)
        await services.start()
        if background:
            # jieba's dictionaries and the crisis model take about a second each to load: in
            # threads at start-up, so neither the event loop nor the first message waits.
            # Not runtime tasks: a stop does not wait for them. A message meanwhile waits for
            # them before its transaction (the processor's readiness).
            services.processor.readiness.begin()
            if services.crisis_detector is not None:
                _warm(services.crisis_detector.warm_up)
            _warm(services.content.warm_up)  # search's jieba
            _warm(_preload)
            runtime.spawn(services.notifier.run(runtime.stop))
            telegram = app.get(TELEGRAM)
            if telegram is not None and telegram.poller is not None:
                runtime.spawn(telegram.poller.run(runtime.stop))
            # Calendar jobs on cron, the missed ones caught up, inbox recovery every few
            # seconds, expired nonces forgotten off the callbacks' path; the sweeper keeps its
            # own loop (it sleeps until the earliest deadline).
            scheduler.start()
            scheduler.every("inbox recovery", services.settings.inbox_recovery_seconds,
                            _recover(services.processor))
            scheduler.every("nonce clean-up", 60, _forget_nonces(services))
            if services.db.wal is not None:  # SQLite's log kept bounded under steady writes
                scheduler.every("WAL checkpoint", WAL_CHECK_SECONDS, services.db.wal.keep)
            runtime.spawn(services.sweeper.run(runtime.stop, services.settings.sweep_seconds))
        yield
        # Loops end at the stop event; a job or message in progress finishes (or rolls back)
        # within the bound. Whatever is left is cancelled: its row stays for the next start.
        loop = asyncio.get_running_loop()
        give_up = loop.time() + STOP_WAIT_SECONDS
        runtime.stop.set()
        await scheduler.stop(STOP_WAIT_SECONDS)
        if runtime.tasks:
            await asyncio.wait(set(runtime.tasks), timeout=max(0.0, give_up - loop.time()))
        for task in list(runtime.tasks):
            task.cancel()
        await services.stop()

    return ctx


def _warm(load: Callable[[], object]) -> None:
    """Run ``load`` in a thread of its own; a failure is logged (the first use retries).

    A daemon thread: a stop neither waits for it nor joins it at exit (a second of jieba
    would otherwise hold up a stop that came early).
    """
    def run() -> None:
        try:
            load()
        except Exception:
            log.exception("warming up %s failed", getattr(load, "__qualname__", load))
        # jieba's dictionaries are millions of objects that live as long as the process:
        # left to the collector, every full collection walks them all (a pause of the loop,
        # and seconds at exit). Frozen, it skips them; reference counting still frees them.
        gc.freeze()

    threading.Thread(target=run, name="warm-up", daemon=True).start()


def _preload() -> None:
    for name in PRELOAD:
        importlib.import_module(name)


def _forget_nonces(services: Services) -> Any:
    async def run() -> int:  # off the callbacks' path: they only insert
        return await forget_expired(services.db, services.clock.now())

    return run


def _recover(processor: InboxProcessor) -> Any:
    async def run() -> int:
        return await processor.recover(older_than=timedelta(seconds=10))

    return run


async def _healthz(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    try:
        problems = await asyncio.wait_for(
            database_problems(services.db, services.settings), timeout=2)
    except Exception as exc:
        return web.json_response({"status": "unavailable", "database": type(exc).__name__},
                                 status=503)
    # Still serving (200), but pushes do not go out or stored rows wait: say so, and why.
    # 200 keeps the callbacks storing messages (nothing is lost meanwhile); monitoring reads
    # the body.
    reasons = [str(p) for p in problems if p.blocking]
    reasons += paused(services.notifier, services.clock.now())
    body: dict[str, object] = {"status": "ok", "database": "ok"}
    unopened = services.db.keys.undecryptable
    if unopened:
        reasons.append(f"{unopened} stored rows no data key opens (restore the key)")
        body["undecryptable"] = unopened
        body["held_messages"] = len(services.processor.held_for_key)
    if reasons:
        body["status"], body["reasons"] = "degraded", reasons
    warnings = [str(p) for p in problems if not p.blocking]
    if warnings:
        body["warnings"] = warnings
    return web.json_response(body)


async def _metrics(request: web.Request) -> web.StreamResponse:
    services = request.app[SERVICES]
    metrics: Metrics = services.metrics
    try:
        async with services.db.session() as s:
            counts = (
                await s.exec(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
            ).all()
            pending = (
                await s.exec(
                    select(func.count()).select_from(InboxMessage)
                    .where(InboxMessage.status == InboxStatus.pending)
                )
            ).one()
        for status in ("pending", "sent", "delivered", "failed", "dead", "superseded"):
            metrics.outbox_depth.labels(status).set(0)
        for status, count in counts:
            metrics.outbox_depth.labels(str(status)).set(count)
        metrics.inbox_pending.set(pending)
    except Exception:  # metrics must still answer when the database does not
        log.warning("metrics: database counts unavailable")
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


__all__ = [
    "RUNTIME",
    "SERVICES",
    "TELEGRAM",
    "TEMPLATE_FINISH",
    "WECHAT",
    "Engine",
    "Runtime",
    "Telegram",
    "build_app",
]
