"""The floor: the least work an ordinary WeChat message needs under xinqiao's guarantees.

Not the service. A bare aiohttp handler, hand-written in the plainest Python, that does for a
bound person's 菜单 only what the service must do for it and nothing else: parse the envelope,
check ``msg_signature`` and the timestamp, decrypt, parse the message, remember the
(timestamp, nonce) pair, store the inbox row with its payload and reply encrypted at rest
(Fernet, as XINQIAO_DATA_KEYS does), read the writer's identity, pending messages, state and
roster version in one statement (the service's own SQL), write the state and the identity
back, commit, and answer with an encrypted passive reply. The menu's text is cached per role
set and the person per roster version. No metrics, no logging, no engine, no error paths,
and the cheapest parts that are still correct: expat (C) instead of xmltodict, WeChat's AES
framing on ``cryptography`` directly instead of wechatpy (whose reply pays ~30 µs for
``random.sample``). The data key and Fernet at rest are the service's own.

``bench/webhook.py`` loads it in the same run as the bare handler and the service, so its
CPU per message is the part of the service's cost that no rewrite in CPython could remove;
the rest is the service's own glue. It answers 500 to anything but a bound person's menu.

    python bench/floor_server.py PORT DATABASE_URL
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import sqlite3
import struct
import sys
import time
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree

from aiohttp import web
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from xinqiao.bot.lean_statements import INBOX, NONCE, close, state_save, statements
from xinqiao.storage.keyring import key_ring_for

TOKEN, APPID = "benchtoken", "wxbench000000000"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
MENU = {"菜单", "menu", "帮助", "help", "你好"}
MENU_TEXT = ("你好，这里是心桥。回复数字即可：\n1 预约心理咨询\n2 心理测评\n3 自助内容\n"
             "4 我的信息\n5 求助\n6 我的安全计划")
WRITTEN = ("flow", "step", "choices", "version", "updated_at")
CHOICES = json.dumps(["booking", "screening", "content", "me", "help", "safety_plan"])


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()  # noqa: S324


class Aes:
    """WeChat's message framing: AES-256-CBC, IV = key[:16], 32-byte PKCS#7 blocks."""

    def __init__(self, encoding_key: str) -> None:
        self.key = base64.b64decode(encoding_key + "=")
        self.cipher = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))

    def decrypt(self, text: str) -> str:
        decryptor = self.cipher.decryptor()
        plain = decryptor.update(base64.b64decode(text)) + decryptor.finalize()
        content = plain[16:-plain[-1]]
        length = struct.unpack(">I", content[:4])[0]
        if content[4 + length:].decode() != APPID:
            raise web.HTTPForbidden()
        return content[4:4 + length].decode()

    def encrypt(self, text: str) -> str:
        body = text.encode()
        plain = os.urandom(16) + struct.pack(">I", len(body)) + body + APPID.encode()
        pad = 32 - len(plain) % 32
        encryptor = self.cipher.encryptor()
        return base64.b64encode(encryptor.update(plain + bytes([pad]) * pad)
                                + encryptor.finalize()).decode()


def fields(xml: str) -> dict[str, str]:
    """The <xml> root's children (the service refuses entity declarations too)."""
    if "<!" in xml.replace("<![CDATA[", ""):
        raise web.HTTPBadRequest()
    root = ElementTree.fromstring(xml)  # noqa: S314  (declarations refused just above)
    return {child.tag: child.text or "" for child in root}


class Floor:
    def __init__(self, url: str) -> None:
        self.pg = not url.startswith("sqlite")
        self.url = url
        self.aes = Aes(AES_KEY)
        self.ring = key_ring_for(url)  # the service's own data key
        self.sql = statements(self.pg)
        self.locks: dict[str, asyncio.Lock] = {}
        self.people: dict[int, str] = {}  # person id -> their menu (role set cached)
        self.version: Any = None
        self.empty: set[str] = set()  # state ciphertexts known to hold {}
        self.conn: sqlite3.Connection | None = None
        self.pool: Any = None
        # What a menu changes of the state: the service's own statements for these columns.
        self.save = state_save(WRITTEN)
        self.close = _dollars(close(WRITTEN))

    async def open(self) -> None:
        if self.pg:
            import asyncpg

            dsn = self.url.replace("postgresql+asyncpg", "postgresql")
            self.pool = await asyncpg.create_pool(dsn, min_size=4, max_size=8)
        else:
            self.conn = sqlite3.connect(self.url.split("///", 1)[1], isolation_level=None)
            # serve's own WAL checkpoint may still hold the lock for a moment after its load.
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=500"):
                self.conn.execute(f"PRAGMA {pragma}")

    async def wechat(self, request: web.Request) -> web.Response:
        body = (await request.read()).decode()
        q = request.query
        encrypted = fields(body)["Encrypt"]
        ts, nonce = q["timestamp"], q["nonce"]
        if not hmac.compare_digest(sign(TOKEN, ts, nonce, encrypted).encode(),
                                   q["msg_signature"].encode()):
            raise web.HTTPForbidden()
        if abs(time.time() - int(ts)) > 300:
            raise web.HTTPForbidden()
        xml = self.aes.decrypt(encrypted)
        msg = fields(xml)
        sender, text = msg["FromUserName"], msg["Content"].strip().lower()
        if text not in MENU:
            raise web.HTTPInternalServerError()
        now = datetime.now(UTC)
        digest = hashlib.sha256(xml.encode()).hexdigest()
        payload = self.ring.encrypt(json.dumps(
            {"text": msg["Content"], "msg_id": msg["MsgId"], "raw": msg},
            ensure_ascii=False).encode())
        reply = self.ring.encrypt(json.dumps([{"text": MENU_TEXT}], ensure_ascii=False).encode())
        # One person's messages in order: waited for (the service stores the row instead).
        async with self.locks.setdefault(sender, asyncio.Lock()):
            nonce_row = ("wechat", int(ts), nonce, digest, now)
            inbox_row = ("wechat", f"wechat:{msg['MsgId']}", sender, "message", payload,
                         "done", 1, now, True, now, reply)
            if self.pg:
                await self._pg(sender, nonce_row, inbox_row, now)
            else:
                self._sqlite(sender, nonce_row, inbox_row, now)
        answer = (f"<xml><ToUserName><![CDATA[{sender}]]></ToUserName><FromUserName>"
                  f"<![CDATA[{msg['ToUserName']}]]></FromUserName><CreateTime>{int(time.time())}"
                  f"</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA["
                  f"{MENU_TEXT}]]></Content></xml>")
        sealed = self.aes.encrypt(answer)
        return web.Response(text=(
            f"<xml><Encrypt><![CDATA[{sealed}]]></Encrypt><MsgSignature><![CDATA["
            f"{sign(TOKEN, ts, nonce, sealed)}]]></MsgSignature><TimeStamp>{ts}</TimeStamp>"
            f"<Nonce><![CDATA[{nonce}]]></Nonce></xml>"), content_type="application/xml")

    def _menu(self, person_id: int, version: Any, read: Any) -> str:
        if version != self.version:
            self.people.clear()
            self.version = version
        menu = self.people.get(person_id)
        if menu is None:
            read()
            menu = self.people[person_id] = MENU_TEXT
        return menu

    def _state_data(self, cipher: str | None) -> None:
        if (cipher is not None and cipher not in self.empty
                and json.loads(self.ring.decrypt(cipher)) == {}):
            self.empty.add(cipher)

    def _sqlite(self, sender: str, nonce_row: tuple[Any, ...], inbox_row: tuple[Any, ...],
                now: datetime) -> None:
        conn = self.conn
        assert conn is not None
        stamp = now.replace(tzinfo=None).isoformat(" ")
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute(self.sql["nonce"], (*nonce_row[:4], stamp)).fetchone() is None:
                raise web.HTTPForbidden()
            who = conn.execute(self.sql["who"], ("wechat", sender)).fetchone()
            identity_id, person_id, version = who[0], who[1], who[-1]

            def read() -> None:
                conn.execute(self.sql["person"], (person_id,)).fetchone()
                conn.execute(self.sql["roles"], (person_id,)).fetchall()

            self._menu(person_id, version, read)
            self._state_data(who[5])
            row = list(inbox_row)
            row[7] = row[9] = stamp
            if conn.execute(self.sql["inbox"], row).fetchone() is None:
                raise web.HTTPInternalServerError()
            conn.execute(self.save, (None, None, CHOICES, (who[8] or 0) + 1, stamp,
                                     identity_id))
            conn.execute(self.sql["seen"], (stamp, 1, identity_id))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    async def _pg(self, sender: str, nonce_row: tuple[Any, ...], inbox_row: tuple[Any, ...],
                  now: datetime) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            opened = await conn.fetchrow(_dollars(self.sql["open"]), *nonce_row, "wechat",
                                         sender)
            if not opened[0]:
                raise web.HTTPForbidden()
            who = tuple(opened)[1:]
            identity_id, person_id, version = who[0], who[1], who[-1]
            people: list[Any] = []

            def read() -> None:
                people.append(person_id)

            self._menu(person_id, version, read)
            if people:
                await conn.fetchrow(_dollars(self.sql["person"]), person_id)
                await conn.fetch(_dollars(self.sql["roles"]), person_id)
            self._state_data(who[5])
            stored = await conn.fetchrow(self.close, *inbox_row, None, None, CHOICES,
                                         (who[8] or 0) + 1, now, identity_id, now, True,
                                         identity_id)
            if stored is None:
                raise web.HTTPInternalServerError()


def _dollars(sql: str) -> str:
    parts = sql.split("?")
    return "".join(p + (f"${i + 1}" if i < len(parts) - 1 else "")
                   for i, p in enumerate(parts))


assert len(INBOX) == 11 and len(NONCE) == 5  # the rows above follow these column lists


def main() -> None:
    port, url = int(sys.argv[1]), sys.argv[2]
    floor = Floor(url)
    app = web.Application()
    app.router.add_post("/wechat", floor.wechat)
    app.on_startup.append(lambda _app: floor.open())
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


if __name__ == "__main__":
    main()
