"""Reading a webhook body whole: to its end, within a size cap and a time limit.

``request.content.read(n)`` returns whatever is buffered, so a body that arrives in two TCP
segments would be cut short; this reads until the end of the body (Content-Length or the
last chunk), refusing more than ``limit`` bytes (413) and a body that stalls (408).
"""

from __future__ import annotations

import asyncio

from aiohttp import web


class BodyRefused(Exception):
    """The body could not be read: ``status`` is the HTTP answer, ``reason`` a fixed label."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


async def read_body(request: web.Request, limit: int, within: float) -> bytes:
    """The whole body, at most ``limit`` bytes, read within ``within`` seconds."""
    if request.content_length is not None and request.content_length > limit:
        raise BodyRefused(413, "body too large")
    if request.content.is_eof():  # all of it arrived with the headers (the usual case)
        whole = request.content.read_nowait(-1)
        if len(whole) > limit:
            raise BodyRefused(413, "body too large")
        return whole
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(within):
            while True:
                chunk = await request.content.read(limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:  # a chunked body (no Content-Length) that keeps coming
                    raise BodyRefused(413, "body too large")
    except TimeoutError as exc:
        raise BodyRefused(408, "body read timed out") from exc
    except (ConnectionError, asyncio.IncompleteReadError) as exc:
        raise BodyRefused(400, "body incomplete") from exc
    return b"".join(chunks)
