"""A stand-in for the WeChat server calling our callback: signed, optionally encrypted XML."""

from __future__ import annotations

import itertools
import time
from typing import Any

import xmltodict
from aiohttp.test_utils import TestClient
from wechatpy.crypto import WeChatCrypto

from xinqiao.bot.app import SERVICES
from xinqiao.bot.channels.wechat import cdata, sign

ACCOUNT = "gh_10f6c3c3ac5a"
_msg_ids = itertools.count(6054768590064713728)
_nonces = itertools.count(1320562132)


def text_xml(sender: str, content: str, msg_id: int | None = None, created: int | None = None
             ) -> str:
    """A text message as WeChat sends it."""
    return (
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><FromUserName>{cdata(sender)}"
        f"</FromUserName><CreateTime>{created or int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content>{cdata(content)}</Content>"
        f"<MsgId>{msg_id or next(_msg_ids)}</MsgId></xml>"
    )


def event_xml(sender: str, event: str, key: str | None = None, created: int = 1348831860,
              extra: str = "") -> str:
    """An event push (subscribe, SCAN, CLICK, TEMPLATESENDJOBFINISH ...)."""
    key_xml = f"<EventKey>{cdata(key)}</EventKey>" if key is not None else ""
    return (
        f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><FromUserName>{cdata(sender)}"
        f"</FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA[event]]>"
        f"</MsgType><Event>{cdata(event)}</Event>{key_xml}{extra}</xml>"
    )


class WeChatServer:
    """Posts to ``/wechat`` the way the platform does, in plaintext or safe mode."""

    def __init__(
        self, client: TestClient[Any, Any], token: str, aes_key: str | None = None,
        appid: str = "", sender_key: str | None = None,
    ) -> None:
        self.client, self.token, self.appid = client, token, appid
        # sender_key: the key the platform encrypts with (differs from ours during rotation)
        self.key = sender_key or aes_key
        self.crypto = WeChatCrypto(token, self.key, appid) if self.key else None

    def query(self, encrypt: str | None = None) -> dict[str, str]:
        """Signed query parameters for one request, timestamped by the app's (fake) clock."""
        ts = str(int(self.client.app[SERVICES].clock.now().timestamp()))
        nonce = str(next(_nonces))
        q = {"timestamp": ts, "nonce": nonce, "signature": sign(self.token, ts, nonce),
             "openid": "o"}
        if encrypt is not None:
            q.update(encrypt_type="aes", msg_signature=sign(self.token, ts, nonce, encrypt))
        return q

    async def post(self, xml: str) -> tuple[int, str]:
        """Send a message; return the status and the (decrypted) reply body."""
        if self.crypto is None:
            resp = await self.client.post("/wechat", params=self.query(), data=xml.encode())
            return resp.status, await resp.text()
        envelope = self.crypto.encrypt_message(xml, "0", "0")
        encrypted = xmltodict.parse(envelope)["xml"]["Encrypt"]
        body = f"<xml><ToUserName>{cdata(ACCOUNT)}</ToUserName><Encrypt>{cdata(encrypted)}"
        body += "</Encrypt></xml>"
        resp = await self.client.post("/wechat", params=self.query(encrypted), data=body.encode())
        text = await resp.text()
        if resp.status == 200 and text.startswith("<xml>"):
            reply = xmltodict.parse(text)["xml"]
            text = self.crypto.decrypt_message(
                text, reply["MsgSignature"], reply["TimeStamp"], reply["Nonce"]
            )
        return resp.status, text

    async def say(self, sender: str, content: str) -> str:
        """Send text; return the reply's Content (empty for ``success``)."""
        status, body = await self.post(text_xml(sender, content))
        assert status == 200, body
        return reply_content(body)


def reply_content(body: str) -> str:
    """The text of a passive reply, or '' when the answer was ``success``."""
    if body in ("success", ""):
        return ""
    return str(xmltodict.parse(body)["xml"]["Content"])
