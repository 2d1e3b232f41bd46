"""Nobody speaks as someone else through /wechat (issue 15 item 1): with an AES key only signed
ciphertext is taken, timestamps must be fresh, a (timestamp, nonce) carries one message only,
and what a caller writes never becomes a metric label."""

from __future__ import annotations

from typing import Any

import xmltodict
from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import select
from wechatpy.crypto import WeChatCrypto

from tests.conftest import MakeClient
from tests.factories import add_person, bind, make_campus
from tests.wechat_server import WeChatServer, reply_content, text_xml
from xinqiao.bot.channels.wechat import cdata, sign
from xinqiao.clock import FakeClock
from xinqiao.storage.callbacks import CallbackNonce, forget_expired
from xinqiao.storage.db import Database
from xinqiao.storage.models import InboxMessage, Role

KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
APPID = "wx2c2769f8efd9abc2"  # the test settings' appid
TOKEN = "testtoken"


async def _count(db: Database, model: Any) -> int:
    async with db.session() as s:
        return int((await s.exec(select(func.count()).select_from(model))).one())


async def _centre_lead(db: Database, clock: FakeClock) -> None:
    """钱主任 (centre lead) bound on WeChat as o-lead, who may read the audit log."""
    campus = await make_campus(db, clock.now())
    lead = await add_person(db, campus, "T900", "钱主任", Role.centre_lead, now=clock.now())
    await bind(db, lead, "wechat", "o-lead", clock.now())


def _query(clock: FakeClock, nonce: str, *, age: int = 0, encrypt: str | None = None
           ) -> dict[str, str]:
    ts = str(int(clock.now().timestamp()) - age)
    q = {"timestamp": ts, "nonce": nonce, "signature": sign(TOKEN, ts, nonce)}
    if encrypt is not None:
        q.update(encrypt_type="aes", msg_signature=sign(TOKEN, ts, nonce, encrypt))
    return q


async def test_forged_plaintext_as_the_centre_lead_is_refused_on_an_aes_account(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    await _centre_lead(db, clock)
    client = await make_client(wechat_aes_key=KEY)
    # The genuine platform, in safe mode: the lead reads the audit log.
    genuine = WeChatServer(client, TOKEN, aes_key=KEY, appid=APPID)
    assert "审计记录" in await genuine.say("o-lead", "审计记录")
    # Someone who saw a callback URL in a log re-signs a plaintext body as the lead.
    forger = WeChatServer(client, TOKEN)
    status, body = await forger.post(text_xml("o-lead", "审计记录"))
    assert status == 403 and "审计记录" not in body
    assert await _count(db, InboxMessage) == 1  # only the genuine message


async def test_plaintext_is_taken_on_an_aes_account_only_while_explicitly_allowed(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client(wechat_aes_key=KEY, wechat_allow_plaintext=True)
    status, body = await WeChatServer(client, TOKEN).post(text_xml("o-new", "你好"))
    assert status == 200 and "绑定" in reply_content(body)


async def test_compatible_mode_plaintext_fields_beside_the_ciphertext_are_ignored(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    await _centre_lead(db, clock)
    client = await make_client(wechat_aes_key=KEY)
    crypto = WeChatCrypto(TOKEN, KEY, APPID)
    inner = text_xml("o-student", "你好")
    encrypted = xmltodict.parse(crypto.encrypt_message(inner, "0", "0"))["xml"]["Encrypt"]
    # The plaintext half claims to be the lead asking for the audit log.
    body = (f"<xml><ToUserName>gh</ToUserName><FromUserName>{cdata('o-lead')}</FromUserName>"
            "<CreateTime>1</CreateTime><MsgType>text</MsgType>"
            f"<Content>{cdata('审计记录')}</Content><MsgId>1</MsgId>"
            f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>")
    resp = await client.post("/wechat", params=_query(clock, "5001", encrypt=encrypted),
                             data=body.encode())
    assert resp.status == 200
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage))).one()
    assert row.address == "o-student" and row.payload["inbound"]["text"] == "你好"


async def test_a_used_timestamp_and_nonce_with_another_body_is_refused(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    await _centre_lead(db, clock)
    client = await make_client()  # a plaintext account: the signature covers no body
    query = _query(clock, "424242")
    genuine = text_xml("o-student", "你好", msg_id=9001)
    first = await client.post("/wechat", params=query, data=genuine.encode())
    assert first.status == 200
    # Replayed URL, new body: the lead's identity and the audit log.
    forged = await client.post("/wechat", params=query,
                               data=text_xml("o-lead", "审计记录", msg_id=9002).encode())
    assert forged.status == 403 and "审计记录" not in await forged.text()
    # The identical request again is WeChat's retry: acknowledged, not processed twice.
    retry = await client.post("/wechat", params=query, data=genuine.encode())
    assert (retry.status, await retry.text()) == (200, "success")
    assert await _count(db, InboxMessage) == 1


async def test_stale_or_future_timestamps_are_refused_on_get_and_post(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    client = await make_client(wechat_aes_key=KEY)
    crypto = WeChatCrypto(TOKEN, KEY, APPID)
    inner = text_xml("o-late", "你好")
    encrypted = xmltodict.parse(crypto.encrypt_message(inner, "0", "0"))["xml"]["Encrypt"]
    body = f"<xml><ToUserName>gh</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"
    for age, nonce in ((301, "71"), (-301, "72")):
        resp = await client.post("/wechat", params=_query(clock, nonce, age=age,
                                                          encrypt=encrypted),
                                 data=body.encode())
        assert resp.status == 403
        echo = await client.get("/wechat", params={**_query(clock, nonce, age=age),
                                                   "echostr": "e123"})
        assert echo.status == 403 and "e123" not in await echo.text()
    assert await _count(db, InboxMessage) == 0
    fresh = await client.post("/wechat", params=_query(clock, "73", age=299, encrypt=encrypted),
                              data=body.encode())
    assert fresh.status == 200
    echo = await client.get("/wechat", params={**_query(clock, "74", age=299), "echostr": "e1"})
    assert await echo.text() == "e1"


async def test_the_window_is_a_setting_and_old_nonces_are_forgotten(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    client = await make_client(wechat_callback_window_seconds=60)
    server = WeChatServer(client, TOKEN)
    stale = await client.post("/wechat", params=_query(clock, "81", age=61),
                              data=text_xml("o-a", "你好").encode())
    assert stale.status == 403
    assert (await server.post(text_xml("o-a", "你好")))[0] == 200
    assert await _count(db, CallbackNonce) == 1
    clock.advance(minutes=5)  # the first pair's window has long passed
    assert (await server.post(text_xml("o-b", "你好")))[0] == 200
    assert await _count(db, CallbackNonce) == 2  # callbacks only insert; the loop forgets
    assert await forget_expired(db, clock.now()) == 1
    async with db.session() as s:
        kept = (await s.exec(select(CallbackNonce))).all()
    assert [int(n.timestamp) for n in kept] == [int(clock.now().timestamp())]


async def test_message_ids_are_scoped_by_sender(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    server = WeChatServer(client, TOKEN)
    # Another account's message under the same MsgId must not swallow this one as a duplicate.
    assert (await server.post(text_xml("o-other", "随便", msg_id=31337)))[0] == 200
    status, body = await server.post(text_xml("o-me", "你好", msg_id=31337))
    assert status == 200 and "绑定" in reply_content(body)
    assert await _count(db, InboxMessage) == 2


async def test_what_a_caller_writes_never_becomes_a_metric_label(
    make_client: MakeClient, db: Database
) -> None:
    client: TestClient[Any, Any] = await make_client()
    server = WeChatServer(client, TOKEN)
    for n, (msg_type, event) in enumerate((("hologram-a1", None), ("hologram-b2", None),
                                           ("event", "evil_x1"), ("event", "evil_y2"))):
        event_xml = f"<Event>{event}</Event>" if event else ""
        xml = (f"<xml><ToUserName>a</ToUserName><FromUserName>o-m{n}</FromUserName>"
               f"<CreateTime>1</CreateTime><MsgType>{msg_type}</MsgType>{event_xml}"
               f"<MsgId>{700 + n}</MsgId></xml>")
        assert (await server.post(xml))[0] == 200
    bad = await client.post("/wechat", params=server.query(), data=b"<xml><a>\x01</a></xml>")
    assert bad.status == 400
    metrics = await (await client.get("/metrics")).text()
    assert "hologram" not in metrics and "evil" not in metrics
    assert 'xinqiao_inbound_total{channel="wechat",type="other"} 2.0' in metrics
    assert 'xinqiao_inbound_total{channel="wechat",type="event:other"} 2.0' in metrics
    assert "ExpatError" not in metrics  # the parser's error class stays in the log
