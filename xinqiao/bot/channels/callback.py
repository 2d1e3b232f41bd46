"""What every Tencent callback (the Official Account's /wechat, WeCom's /wecom) does around its
own handling: time and answer a refusal, read the body as text, answer a store that failed."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from xinqiao.bot.channels.http_body import BodyRefused, read_body
from xinqiao.bot.channels.wechat_auth import Rejected
from xinqiao.bot.metrics import Metrics
from xinqiao.settings import Settings
from xinqiao.storage.outage import OutageLog

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def answered(channel: str, metrics: Metrics, log: logging.Logger, handle: Handler,
                   request: web.Request) -> web.StreamResponse:
    """Run ``handle``; a :class:`Rejected` becomes its status, and the call is timed."""
    started = time.perf_counter()
    try:
        return await handle(request)
    except Rejected as rej:
        metrics.rejected.labels(channel, rej.reason).inc()
        log.warning("%s callback rejected: %s %s", channel, rej.reason, rej.detail)
        return web.Response(status=rej.status, text=rej.reason)
    finally:
        metrics.webhook_seconds.labels(channel).observe(time.perf_counter() - started)


async def body_text(request: web.Request, settings: Settings) -> str:
    """The callback's body as text, within the size and time limits; Rejected otherwise."""
    try:
        data = await read_body(request, settings.wechat_max_body_bytes,
                               settings.webhook_body_timeout_seconds)
    except BodyRefused as exc:
        raise Rejected(exc.status, exc.reason) from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Rejected(400, "body not utf-8") from exc


def store_failed(channel: str, outage: OutageLog, metrics: Metrics, log: logging.Logger,
                 exc: BaseException) -> web.StreamResponse:
    """A 503 for a message that could not be stored: the platform retries, nothing acknowledged
    is lost. A database outage is logged once, not once per callback."""
    if not outage.failure(exc):
        log.exception("%s: could not store inbound", channel, exc_info=exc)
    metrics.rejected.labels(channel, "store_failed").inc()
    return web.Response(status=503, text="temporarily unavailable")
