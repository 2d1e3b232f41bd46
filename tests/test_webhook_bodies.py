"""Webhook bodies over a raw TCP connection (issue 15 item 2): read whole however the segments
fall, within the size cap (413, chunked too) and a read timeout (408); a secret header that is
not ASCII is a plain 401."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import select

from tests.conftest import MakeClient
from tests.telegram_stub import text_update
from tests.telegram_user import SECRET
from tests.wechat_server import WeChatServer, reply_content, text_xml
from xinqiao.bot.channels.telegram import SECRET_HEADER
from xinqiao.storage.db import Database
from xinqiao.storage.models import InboxMessage

CHAT = 880001


async def _send(client: TestClient[Any, Any], head: str, parts: list[bytes],
                pause: float = 0.0) -> tuple[int, bytes]:
    """Write the request head, then each part as its own TCP segment ``pause`` s apart;
    return the response status and body."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(head.encode("latin-1"))
        await writer.drain()
        for part in parts:
            await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        rest = await asyncio.wait_for(reader.read(65536), timeout=10)
        return int(status_line.split()[1]), rest.split(b"\r\n\r\n", 1)[-1]
    finally:
        writer.close()


def _head(path: str, length: int | None, *extra: str) -> str:
    sized = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", sized, "Connection: close", *extra]
    return "\r\n".join(lines) + "\r\n\r\n"


async def _count(db: Database) -> int:
    async with db.session() as s:
        return int((await s.exec(select(func.count()).select_from(InboxMessage))).one())


async def test_a_wechat_callback_in_two_segments_half_a_second_apart_is_taken(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    body = text_xml("o-split", "你好").encode()
    path = "/wechat?" + urlencode(WeChatServer(client, "testtoken").query())
    status, answer = await _send(client, _head(path, len(body)),
                                 [body[:40], body[40:]], pause=0.5)
    assert status == 200 and "绑定" in reply_content(answer.decode())
    assert await _count(db) == 1


async def test_a_telegram_update_in_two_segments_is_taken(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    body = json.dumps(text_update(CHAT, "你好")).encode()
    head = _head("/telegram", len(body), f"{SECRET_HEADER}: {SECRET}",
                 "Content-Type: application/json")
    status, _ = await _send(client, head, [body[:30], body[30:]], pause=0.5)
    assert status == 200
    assert await _count(db) == 1


def _chunked(data: bytes, size: int) -> list[bytes]:
    parts = [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size])
             for i in range(0, len(data), size)]
    return [*parts, b"0\r\n\r\n"]


async def test_an_oversized_chunked_body_is_413_on_both_webhooks(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client(wechat_max_body_bytes=4096)
    xml = text_xml("o-big", "大" * 4000).encode()  # 12 kB, no Content-Length
    path = "/wechat?" + urlencode(WeChatServer(client, "testtoken").query())
    status, _ = await _send(client, _head(path, None), _chunked(xml, 1024), pause=0.02)
    assert status == 413
    update = json.dumps(text_update(CHAT, "x" * 1_100_000)).encode()
    head = _head("/telegram", None, f"{SECRET_HEADER}: {SECRET}",
                 "Content-Type: application/json")
    status, _ = await _send(client, head, _chunked(update, 256 * 1024), pause=0.02)
    assert status == 413
    assert await _count(db) == 0


async def test_a_body_that_stalls_is_408_after_the_read_timeout(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client(webhook_body_timeout_seconds=0.5)
    loop = asyncio.get_running_loop()
    path = "/wechat?" + urlencode(WeChatServer(client, "testtoken").query())
    started = loop.time()
    # Promise 1000 bytes, send 20, then nothing more (slowloris).
    status, _ = await _send(client, _head(path, 1000), [b"<xml><ToUserName>a</"])
    assert status == 408 and loop.time() - started < 3
    head = _head("/telegram", 1000, f"{SECRET_HEADER}: {SECRET}",
                 "Content-Type: application/json")
    status, _ = await _send(client, head, [b'{"update_id": 1'])
    assert status == 408
    assert await _count(db) == 0


async def test_a_secret_header_that_is_not_ascii_is_401(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    body = json.dumps(text_update(CHAT, "你好")).encode()
    # UTF-8 text, Latin-1 bytes (not UTF-8 at all), and the right secret with a byte appended.
    for value in ("密钥".encode(), b"\xe9t\xe9", SECRET.encode() + b"\xff"):
        reader, writer = await asyncio.open_connection(client.host, client.port)
        try:
            head = _head("/telegram", len(body), "Content-Type: application/json")
            raw = (head[:-2].encode("latin-1") + f"{SECRET_HEADER}: ".encode() + value
                   + b"\r\n\r\n")
            writer.write(raw + body)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        finally:
            writer.close()
        assert int(status_line.split()[1]) == 401, value
    assert await _count(db) == 0
