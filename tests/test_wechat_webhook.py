"""The WeChat callback over real HTTP: protocol.md §7.1 W1–W26 and a whole conversation."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import xmltodict
from aiohttp.test_utils import TestClient
from sqlalchemy import func
from sqlmodel import col, select

from tests.factories import add_person, make_campus
from tests.wechat_server import ACCOUNT, WeChatServer, event_xml, reply_content, text_xml
from xinqiao.bot import channels
from xinqiao.bot.app import SERVICES, build_app
from xinqiao.bot.channels.wechat import cdata, text_reply_xml
from xinqiao.bot.inbox import inbound_payload, store
from xinqiao.clock import FakeClock
from xinqiao.handlers.flow import Context
from xinqiao.messages import Inbound, Reply
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import ConversationState, InboxMessage, InboxStatus, OutboxMessage

# Official vectors (protocol.md §1.1 and §2.2)
GET_TOKEN, GET_TS, GET_NONCE = "AAAAA", "1714036504", "1514711492"
GET_ECHO, GET_SIG = "4375120948345356249", "f464b24fc39322e44b38aa78f5edd27bd1441696"
SAMPLE_TOKEN, SAMPLE_KEY = "spamtest", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_APPID, SAMPLE_TS, SAMPLE_NONCE = "wx2c2769f8efd9abc2", "1409735669", "1320562132"
SAMPLE_MSG_SIG = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PG"
    "HQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6"
    "tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp"
    "3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhv"
    "Ql+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
)
SAMPLE_SAFE_BODY = (
    f"<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    f"<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt></xml>"
)
SAMPLE_COMPAT_BODY = (
    "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
    "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>"
    "<CreateTime>1409735668</CreateTime><MsgType><![CDATA[text]]></MsgType>"
    "<Content><![CDATA[abcdteT]]></Content><MsgId>6054768590064713728</MsgId>"
    f"<Encrypt><![CDATA[{SAMPLE_ENCRYPT}]]></Encrypt></xml>"
)
SAMPLE_QUERY = {"timestamp": SAMPLE_TS, "nonce": SAMPLE_NONCE, "encrypt_type": "aes",
                "msg_signature": SAMPLE_MSG_SIG,
                "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a"}
OTHER_KEY = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvut"

MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]


def at_vector_time(clock: FakeClock, timestamp: str) -> None:
    """Move the fake clock to an official vector's timestamp: callbacks must be fresh."""
    clock.set(datetime.fromtimestamp(int(timestamp), UTC))


@pytest.fixture
def make_client(aiohttp_client: Any, settings: Settings, clock: FakeClock) -> MakeClient:
    """Start the real app (no background loops) with some settings changed."""

    async def make(**changes: Any) -> TestClient[Any, Any]:
        app = build_app(settings.model_copy(update=changes), clock, background=False)
        client: TestClient[Any, Any] = await aiohttp_client(app)
        return client

    return make


async def _count(db: Database, model: Any, *where: Any) -> int:
    async with db.session() as s:
        return int((await s.exec(select(func.count()).select_from(model).where(*where))).one())


async def _drain(client: TestClient[Any, Any]) -> None:
    """Wait for background processing spawned by the webhook."""
    from xinqiao.bot.app import RUNTIME

    runtime = client.app[RUNTIME]
    while runtime.tasks:
        await asyncio.wait(set(runtime.tasks))


# --- GET verification -------------------------------------------------------------------


async def test_w1_get_echoes_official_vector_byte_exact(
    make_client: MakeClient, clock: FakeClock
) -> None:
    at_vector_time(clock, GET_TS)
    client = await make_client(wechat_token=GET_TOKEN)
    resp = await client.get("/wechat", params={"signature": GET_SIG, "timestamp": GET_TS,
                                               "nonce": GET_NONCE, "echostr": GET_ECHO})
    assert resp.status == 200
    assert await resp.read() == GET_ECHO.encode()
    assert resp.content_type == "text/plain"


@pytest.mark.parametrize("params", [
    {"signature": "0" * 40, "timestamp": GET_TS, "nonce": GET_NONCE, "echostr": GET_ECHO},
    {"signature": GET_SIG, "timestamp": "1714036505", "nonce": GET_NONCE, "echostr": GET_ECHO},
    {"timestamp": GET_TS, "nonce": GET_NONCE, "echostr": GET_ECHO},
    {},
])
async def test_w2_get_with_bad_or_missing_signature(
    make_client: MakeClient, params: dict[str, str]
) -> None:
    client = await make_client(wechat_token=GET_TOKEN)
    resp = await client.get("/wechat", params=params)
    assert resp.status in (400, 403)
    assert GET_ECHO not in await resp.text()


async def test_w3_get_in_safe_mode_uses_the_plain_signature(
    make_client: MakeClient, clock: FakeClock
) -> None:
    at_vector_time(clock, GET_TS)
    client = await make_client(wechat_token=GET_TOKEN, wechat_aes_key=SAMPLE_KEY)
    resp = await client.get("/wechat", params={"signature": GET_SIG, "timestamp": GET_TS,
                                               "nonce": GET_NONCE, "echostr": GET_ECHO})
    assert await resp.text() == GET_ECHO


# --- plaintext --------------------------------------------------------------------------


async def test_w4_plaintext_text_message_is_stored_and_answered(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    status, body = await server.post(text_xml("o-user", "你好", msg_id=1234567890123456))
    assert status == 200
    reply = xmltodict.parse(body)["xml"]
    assert reply["ToUserName"] == "o-user" and reply["FromUserName"] == ACCOUNT
    assert reply["MsgType"] == "text" and "绑定" in reply["Content"]
    key = "msg:o-user|1234567890123456"  # a message id is scoped by its sender
    assert await _count(db, InboxMessage, InboxMessage.dedupe_key == key) == 1


async def test_w5_plaintext_bad_signature_is_refused_and_not_stored(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    resp = await client.post("/wechat", params={"signature": "bad", "timestamp": "1",
                                                "nonce": "2"},
                             data=text_xml("o-user", "你好").encode())
    assert resp.status == 403
    assert await _count(db, InboxMessage) == 0


# --- safe and compatible modes ----------------------------------------------------------


async def test_w6_safe_mode_official_vector_and_encrypted_reply(
    make_client: MakeClient, clock: FakeClock, db: Database
) -> None:
    from wechatpy.crypto import WeChatCrypto

    at_vector_time(clock, SAMPLE_TS)
    client = await make_client(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                               wechat_appid=SAMPLE_APPID)
    resp = await client.post("/wechat", params=SAMPLE_QUERY, data=SAMPLE_SAFE_BODY.encode())
    assert resp.status == 200
    body = await resp.text()
    env = xmltodict.parse(body)["xml"]
    assert set(env) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
    plain = WeChatCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APPID).decrypt_message(
        body, env["MsgSignature"], env["TimeStamp"], env["Nonce"])
    assert xmltodict.parse(plain)["xml"]["ToUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage))).one()
    assert row.dedupe_key == "msg:oyORnuP8q7ou2gfYjqLzSIWZf0rs|6054768590064713728"
    assert row.payload["inbound"]["text"] == "abcdteT"


async def test_w7_compatible_mode_uses_the_decrypted_payload(
    make_client: MakeClient, clock: FakeClock, db: Database
) -> None:
    at_vector_time(clock, SAMPLE_TS)
    client = await make_client(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                               wechat_appid=SAMPLE_APPID)
    resp = await client.post("/wechat", params=SAMPLE_QUERY, data=SAMPLE_COMPAT_BODY.encode())
    assert resp.status == 200
    assert set(xmltodict.parse(await resp.text())["xml"]) == {
        "Encrypt", "MsgSignature", "TimeStamp", "Nonce"}  # answered in ciphertext
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage))).one()
    assert row.payload["inbound"]["text"] == "abcdteT"
    # The same body without encrypt_type would be taken on the plain signature alone, which
    # covers no body: on an account with an AES key it is refused (issue 15).
    plain_query = {"timestamp": SAMPLE_TS, "nonce": SAMPLE_NONCE,
                   "signature": SAMPLE_QUERY["signature"]}
    body = SAMPLE_COMPAT_BODY.replace("6054768590064713728", "6054768590064713729")
    resp = await client.post("/wechat", params=plain_query, data=body.encode())
    assert resp.status == 403
    assert await _count(db, InboxMessage) == 1


@pytest.mark.parametrize("tamper", ["signature", "ciphertext"])
async def test_w8_tampered_safe_mode_is_refused(
    make_client: MakeClient, clock: FakeClock, db: Database, tamper: str
) -> None:
    at_vector_time(clock, SAMPLE_TS)
    client = await make_client(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                               wechat_appid=SAMPLE_APPID)
    query, body = dict(SAMPLE_QUERY), SAMPLE_SAFE_BODY
    if tamper == "signature":
        query["msg_signature"] = "0" + SAMPLE_MSG_SIG[1:]
    else:
        body = body.replace("hyzAe4", "hyzAe5")
    resp = await client.post("/wechat", params=query, data=body.encode())
    assert resp.status == 403
    assert await _count(db, InboxMessage) == 0


async def test_w9_wrong_appid_is_refused(
    make_client: MakeClient, clock: FakeClock, db: Database
) -> None:
    at_vector_time(clock, SAMPLE_TS)
    client = await make_client(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                               wechat_appid="wxWRONG")
    resp = await client.post("/wechat", params=SAMPLE_QUERY, data=SAMPLE_SAFE_BODY.encode())
    assert resp.status == 403
    assert await _count(db, InboxMessage) == 0


async def test_w10_block_aligned_garbage_is_refused_without_500(
    make_client: MakeClient, clock: FakeClock, db: Database
) -> None:
    import base64

    from xinqiao.bot.channels.wechat import sign

    at_vector_time(clock, SAMPLE_TS)
    client = await make_client(wechat_token=SAMPLE_TOKEN, wechat_aes_key=SAMPLE_KEY,
                               wechat_appid=SAMPLE_APPID)
    garbage = base64.b64encode(bytes(range(64))).decode()
    query = dict(SAMPLE_QUERY, msg_signature=sign(SAMPLE_TOKEN, SAMPLE_TS, SAMPLE_NONCE,
                                                  garbage))
    body = f"<xml><ToUserName>x</ToUserName><Encrypt>{garbage}</Encrypt></xml>"
    resp = await client.post("/wechat", params=query, data=body.encode())
    assert resp.status == 403
    assert await _count(db, InboxMessage) == 0


async def test_w11_previous_key_accepted_during_rotation(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client(wechat_aes_key=OTHER_KEY, wechat_aes_key_previous=SAMPLE_KEY)
    # the platform still encrypts with the previous key; the reply must use that key too
    server = WeChatServer(client, "testtoken", appid="wx2c2769f8efd9abc2", sender_key=SAMPLE_KEY)
    answer = await server.say("o-rot", "你好")
    assert "绑定" in answer


# --- dedupe -----------------------------------------------------------------------------


async def test_w12_retries_with_new_signatures_are_processed_once(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    xml = text_xml("o-dup", "你好", msg_id=777)
    results = [await server.post(xml) for _ in range(3)]
    assert [status for status, _ in results] == [200, 200, 200]
    assert await _count(db, InboxMessage) == 1
    async with db.session() as s:
        state = (await s.exec(select(ConversationState))).one()
    assert state.version == 1  # the engine ran once


async def test_w13_concurrent_duplicates_are_processed_once(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    xml = text_xml("o-conc", "你好", msg_id=778)
    results = await asyncio.gather(*(server.post(xml) for _ in range(3)))
    assert all(status == 200 for status, _ in results)
    assert sum(1 for _, body in results if body.startswith("<xml>")) == 1
    async with db.session() as s:
        state = (await s.exec(select(ConversationState))).one()
    assert state.version == 1


async def test_w14_w15_events_dedupe_on_sender_time_event_and_key(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    posts = [
        event_xml("o-a", "subscribe", "", created=1500000000),
        event_xml("o-a", "SCAN", "123", created=1500000000),
        event_xml("o-b", "subscribe", "", created=1500000000),
        event_xml("o-a", "subscribe", "", created=1500000000),  # a retry of the first
    ]
    for xml in posts:
        status, _ = await server.post(xml)
        assert status == 200
    await _drain(client)
    assert await _count(db, InboxMessage) == 3
    keys = {"evt:o-a|1500000000|subscribe|", "evt:o-a|1500000000|scan|123",
            "evt:o-b|1500000000|subscribe|"}
    async with db.session() as s:
        stored = set((await s.exec(select(InboxMessage.dedupe_key))).all())
    assert stored == keys


async def test_subscribe_greets_with_how_to_bind(make_client: MakeClient) -> None:
    client = await make_client()
    status, body = await WeChatServer(client, "testtoken").post(
        event_xml("o-new", "subscribe", ""))
    assert status == 200 and "学号" in reply_content(body)


# --- slow handling, outages, crashes -------------------------------------------------------


async def test_w17_slow_handling_answers_success_in_time_then_pushes(
    make_client: MakeClient, db: Database
) -> None:
    client = await make_client(wechat_reply_budget_seconds=0.2)
    services = client.app[SERVICES]

    handled = asyncio.Event()  # the handling takes until the test lets it finish

    async def slow(ctx: Context) -> tuple[Reply, ...] | None:
        await handled.wait()
        return None

    services.engine.interceptors = (slow,)
    server = WeChatServer(client, "testtoken")
    xml = text_xml("o-slow", "你好", msg_id=901)
    loop = asyncio.get_running_loop()
    started = loop.time()
    # a callback that waited for the handling would never be answered: fail, not hang
    status, body = await asyncio.wait_for(server.post(xml), timeout=10)
    assert status == 200 and body == "success"
    # answered at the 0.2 s budget while the handling still runs (wide margin: shared CI cores)
    assert loop.time() - started < 2.5
    retry = asyncio.create_task(server.post(xml))  # WeChat's retry meanwhile
    await asyncio.sleep(0.3)  # the retry arrives while the first delivery is still handled
    handled.set()
    assert await retry == (200, "success")
    await _drain(client)
    async with db.session() as s:
        pushed = (await s.exec(select(OutboxMessage))).all()
        state = (await s.exec(select(ConversationState))).one()
    assert len(pushed) == 1 and pushed[0].address == "o-slow" and pushed[0].kind == "reply"
    assert "绑定" in pushed[0].payload["reply"]["text"]
    assert state.version == 1


async def test_w18_database_down_answers_503_fast(
    make_client: MakeClient, tmp_path: Path
) -> None:
    client = await make_client(
        database_url=f"sqlite+aiosqlite:///{tmp_path}/missing-dir/none.db")
    server = WeChatServer(client, "testtoken")
    status, _ = await server.post(text_xml("o-x", "你好"))
    assert status == 503
    health = await client.get("/healthz")
    assert health.status == 503


async def test_w19_row_stored_before_a_crash_is_processed_once_on_recovery(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    client = await make_client()
    services = client.app[SERVICES]
    inbound = Inbound("wechat", "o-crash", text="你好")
    # the process died after storing the message and before handling it
    await store(db, channel="wechat", dedupe_key="msg:o-crash|4242", address="o-crash",
                kind="message", payload=inbound_payload(inbound), now=clock.now())
    clock.advance(seconds=30)
    assert await services.processor.recover(older_than=__import__("datetime").timedelta(
        seconds=10)) == 1
    status, body = await WeChatServer(client, "testtoken").post(
        text_xml("o-crash", "你好", msg_id=4242))
    assert (status, body) == (200, "success")  # WeChat's retry is a duplicate now
    async with db.session() as s:
        pushed = (await s.exec(select(OutboxMessage))).all()
        row = (await s.exec(select(InboxMessage))).one()
    assert row.status == InboxStatus.done and len(pushed) == 1
    assert await services.processor.recover(older_than=__import__("datetime").timedelta(0)) == 0


# --- bad input --------------------------------------------------------------------------


@pytest.mark.parametrize("body", [
    "", "not xml at all", "<root><a>1</a></root>", "<xml><FromUserName>x</FromUserName></xml>",
    "<xml><MsgType>text</MsgType></xml>", "<xml>", "\x00\x01\x02",
])
async def test_w20_malformed_bodies_are_400_without_traceback(
    make_client: MakeClient, db: Database, body: str
) -> None:
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    resp = await client.post("/wechat", params=server.query(), data=body.encode())
    assert resp.status == 400
    assert "Traceback" not in await resp.text()
    assert await _count(db, InboxMessage) == 0


async def test_w20_safe_mode_without_encrypt_element(make_client: MakeClient) -> None:
    client = await make_client(wechat_aes_key=SAMPLE_KEY)
    server = WeChatServer(client, "testtoken")
    query = server.query(encrypt="")
    body = b"<xml><ToUserName>a</ToUserName></xml>"
    resp = await client.post("/wechat", params=query, data=body)
    assert resp.status == 400


@pytest.mark.parametrize("payload", [
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType>"
    "<Content>&lol3;</Content><MsgId>1</MsgId></xml>",
    '<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    "<xml><ToUserName>a</ToUserName><FromUserName>b</FromUserName><MsgType>text</MsgType>"
    "<Content>&xxe;</Content><MsgId>2</MsgId></xml>",
])
async def test_w21_entity_tricks_are_refused(
    make_client: MakeClient, db: Database, payload: str
) -> None:
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    resp = await client.post("/wechat", params=server.query(), data=payload.encode())
    assert resp.status == 400
    assert "root:" not in await resp.text()
    assert await _count(db, InboxMessage) == 0


async def test_w22_oversized_body_is_413(make_client: MakeClient, db: Database) -> None:
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    huge = text_xml("o-big", "大" * 200_000)
    resp = await client.post("/wechat", params=server.query(), data=huge.encode())
    assert resp.status == 413
    assert await _count(db, InboxMessage) == 0


@pytest.mark.parametrize("xml", [
    "<xml><ToUserName>a</ToUserName><FromUserName>o-u</FromUserName><CreateTime>1</CreateTime>"
    "<MsgType>hologram</MsgType><MsgId>55</MsgId></xml>",
    event_xml("o-u", "subscribe_msg_popup_event", None, extra=(
        "<SubscribeMsgPopupEvent><List><TemplateId>t</TemplateId>"
        "<SubscribeStatusString>accept</SubscribeStatusString><PopupScene>0</PopupScene>"
        "</List></SubscribeMsgPopupEvent>")),
])
async def test_w23_unknown_types_are_kept_and_acknowledged(
    make_client: MakeClient, db: Database, xml: str
) -> None:
    client = await make_client()
    status, body = await WeChatServer(client, "testtoken").post(xml)
    assert (status, body) == (200, "success")
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage))).one()
    assert row.status == InboxStatus.ignored and row.payload["raw"]["FromUserName"] == "o-u"


async def test_images_get_a_gentle_text_only_answer(make_client: MakeClient) -> None:
    client = await make_client()
    xml = ("<xml><ToUserName>a</ToUserName><FromUserName>o-img</FromUserName><CreateTime>1"
           "</CreateTime><MsgType>image</MsgType><PicUrl>http://x</PicUrl><MediaId>m</MediaId>"
           "<MsgId>66</MsgId></xml>")
    status, body = await WeChatServer(client, "testtoken").post(xml)
    assert status == 200 and "只能看懂文字" in reply_content(body)


def test_w24_reply_xml_stays_well_formed_whatever_the_text() -> None:
    nasty = "a]]>b<c>&d]]]]>e</Content></xml>"
    xml = text_reply_xml("o-u", ACCOUNT, nasty, 1)
    assert xmltodict.parse(xml)["xml"]["Content"] == nasty
    assert xmltodict.parse(f"<x>{cdata(nasty)}</x>")["x"] == nasty


async def test_w24_user_text_echoed_in_a_reply_stays_well_formed(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023001", "李]]>明<", code="K7M2Q9TX", now=clock.now())
    client = await make_client()
    answer = await WeChatServer(client, "testtoken").say("o-x", "绑定 2023001 K7M2Q9TX")
    assert "李]]>明<" in answer


def test_w25_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert channels.wechat.signature_ok((GET_TOKEN, GET_TS, GET_NONCE), GET_SIG)
    assert not channels.wechat.signature_ok((GET_TOKEN, GET_TS, GET_NONCE), "x")
    assert len(calls) == 2


@pytest.mark.parametrize("key", [SAMPLE_KEY[:42], SAMPLE_KEY + "A", SAMPLE_KEY[:42] + "!"])
def test_w26_bad_aes_key_fails_start_up_even_under_python_O(key: str) -> None:
    code = ("from xinqiao.settings import Settings\n"
            f"Settings(wechat_aes_key={key!r}, _env_file=None)\n")
    for flags in ([], ["-O"]):
        done = subprocess.run([sys.executable, *flags, "-c", code], capture_output=True,
                              text=True, timeout=60)
        assert done.returncode != 0 and "EncodingAESKey" in done.stderr


# --- a whole conversation over HTTP -----------------------------------------------------


async def test_whole_conversation_over_signed_encrypted_http(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023001", "李明", code="K7M2Q9TX", now=clock.now())
    client = await make_client(wechat_aes_key=SAMPLE_KEY)
    server = WeChatServer(client, "testtoken", aes_key=SAMPLE_KEY, appid="wx2c2769f8efd9abc2")
    assert "学号" in await server.say("o-li", "你好")
    assert "激活码" in await server.say("o-li", "2023001")
    menu = await server.say("o-li", "K7M2Q9TX")
    assert "绑定成功" in menu and "我的信息" in menu
    number = next(line.split(".")[0] for line in menu.splitlines() if "我的信息" in line)
    info = await server.say("o-li", number)
    assert "软件2301" in info
    assert "12356" in await server.say("o-li", "求助")
    metrics = await (await client.get("/metrics")).text()
    assert 'xinqiao_inbound_total{channel="wechat",type="text"} 5.0' in metrics
    assert 'xinqiao_replies_total{channel="wechat",mode="passive"} 5.0' in metrics
    assert "xinqiao_outbox_depth" in metrics


# --- delivery reports -------------------------------------------------------------------


def _job_finish(msgid: str, status: str) -> str:
    return event_xml("o-staff", "TEMPLATESENDJOBFINISH", None, created=1395658920,
                     extra=f"<MsgID>{msgid}</MsgID><Status>{cdata(status)}</Status>")


@pytest.mark.parametrize(("status", "outcome", "fallbacks"), [
    ("success", "delivered", 0),
    ("failed:user block", "failed", 1),
    ("failed: system failed", "failed", 1),
])
async def test_w16_template_job_finish_updates_delivery_and_falls_back(
    make_client: MakeClient, db: Database, clock: FakeClock, status: str, outcome: str,
    fallbacks: int,
) -> None:
    from tests.factories import bind
    from xinqiao.services.outbox import Priority, enqueue
    from xinqiao.storage.models import OutboxStatus

    campus = await make_campus(db, clock.now())
    staff = await add_person(db, campus, "T1", "值班老师", now=clock.now())
    await bind(db, staff, "wechat", "o-staff", clock.now())
    await bind(db, staff, "telegram", "tg-staff", clock.now())
    async with db.session() as s:
        row = await enqueue(s, key="alert:1", channel="wechat", address="o-staff", kind="alert",
                            payload={"reply": {"text": "有一条紧急上报"}}, now=clock.now(),
                            person_id=staff, priority=Priority.crisis)
        row.status, row.provider_msg_id = OutboxStatus.sent, "200163836"
        s.add(row)
    client = await make_client()
    server = WeChatServer(client, "testtoken")
    for _ in range(2):  # the report, and WeChat's retry of it
        assert await server.post(_job_finish("200163836", status)) == (200, "success")
        await _drain(client)
    async with db.session() as s:
        rows = (await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert rows[0].status == outcome
    assert [r.channel for r in rows[1:]] == ["telegram"] * fallbacks
    assert await _count(db, InboxMessage) == 1


async def test_a_report_that_overtakes_its_send_is_retried_not_lost(
    make_client: MakeClient, db: Database, clock: FakeClock
) -> None:
    from datetime import timedelta

    from xinqiao.services.outbox import enqueue
    from xinqiao.storage.models import OutboxStatus

    client = await make_client()
    services = client.app[SERVICES]
    await WeChatServer(client, "testtoken").post(_job_finish("300", "success"))
    await _drain(client)
    async with db.session() as s:  # only now is the send recorded
        row = await enqueue(s, key="alert:2", channel="wechat", address="o-staff", kind="alert",
                            payload={"reply": {"text": "x"}}, now=clock.now())
        row.status, row.provider_msg_id = OutboxStatus.sent, "300"
        s.add(row)
    clock.advance(seconds=30)
    await services.processor.recover(older_than=timedelta(seconds=10))
    async with db.session() as s:
        stored = (await s.exec(select(OutboxMessage))).one()
        report = (await s.exec(select(InboxMessage))).one()
    assert stored.status == OutboxStatus.delivered and report.status == InboxStatus.done
