"""WeCom (企业微信) as the staff channel, over real HTTP against the WeCom stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, update
from sqlmodel import col, select

from tests.factories import add_person, bind, make_campus
from tests.wecom_stub import (
    AES_KEY,
    AGENT_ID,
    CORP_ID,
    SECRET,
    TOKEN,
    WeComPlatform,
    WeComStub,
    encrypt,
    text_xml,
)
from xinqiao.bot.app import RUNTIME, SERVICES, build_app
from xinqiao.clock import FakeClock
from xinqiao.settings import Settings
from xinqiao.storage.callbacks import CallbackNonce
from xinqiao.storage.db import Database
from xinqiao.storage.models import ChannelIdentity, InboxMessage, Person, Role

# wechatpy's WeCom vectors (tests/test_crypto.py of wechatpy, token 123456, corp wx49f0…)
VERIFY = {"msg_signature": "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96",
          "timestamp": "1411443780", "nonce": "437374425",
          "echostr": "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7"
                     "hOchLF6p+Q=="}
VERIFY_PLAIN = "5927782489442352469"
MESSAGE = {"msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
           "timestamp": "1411525903", "nonce": "461056294"}
MESSAGE_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
    "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpX"
    "aG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQi"
    "MS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQi"
    "pvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)


@pytest.fixture
async def wecom(clock: FakeClock) -> AsyncIterator[WeComStub]:
    """The WeCom API stand-in on the test's clock."""
    async with WeComStub(clock=clock) as stub:
        yield stub


def wecom_settings(settings: Settings, api_base: str = "http://127.0.0.1:9/cgi-bin/",
                   **more: Any) -> Settings:
    """The test settings with the WeCom app configured (wechatpy's vector credentials)."""
    return settings.model_copy(update={
        "wecom_corp_id": CORP_ID, "wecom_agent_id": AGENT_ID, "wecom_secret": SECRET,
        "wecom_token": TOKEN, "wecom_aes_key": AES_KEY, "wecom_api_base": api_base,
        "wechat_api_timeout_seconds": 2.0, "public_base_url": "https://xq.example.edu",
        **more})


async def app_client(aiohttp_client: Any, cfg: Settings, clock: FakeClock
                     ) -> TestClient[Any, Any]:
    """The real app, background loops off (the test drains the outbox)."""
    client: TestClient[Any, Any] = await aiohttp_client(build_app(cfg, clock, background=False))
    return client


async def settle(client: TestClient[Any, Any], rounds: int = 3) -> None:
    """Let the spawned processing finish, then send what it queued."""
    tasks = set(client.app[RUNTIME].tasks)
    if tasks:
        await asyncio.gather(*tasks)
    for _ in range(rounds):
        await client.app[SERVICES].notifier.drain_once()


async def inbox_count(db: Database) -> int:
    async with db.session() as s:
        return int((await s.exec(select(func.count()).select_from(InboxMessage))).one())


async def set_wecom(db: Database, person_id: int, userid: str) -> None:
    async with db.session() as s:
        await s.exec(update(Person).where(col(Person.id) == person_id)
                     .values(wecom_userid=userid))


async def identity(db: Database, channel: str, address: str) -> ChannelIdentity | None:
    async with db.session() as s:
        return (await s.exec(select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.address == address))).first()


# --- the callback -------------------------------------------------------------------------


async def test_url_verification_answers_the_decrypted_echostr(
    aiohttp_client: Any, settings: Settings, db: Database
) -> None:
    clock = FakeClock(datetime.fromtimestamp(1411443780, UTC))
    client = await app_client(aiohttp_client, wecom_settings(settings), clock)
    resp = await client.get("/wecom", params=VERIFY)
    assert resp.status == 200
    assert await resp.read() == VERIFY_PLAIN.encode()  # byte-exact, no newline
    forged = await client.get("/wecom", params={**VERIFY, "nonce": "437374424"})
    assert forged.status == 403
    assert VERIFY_PLAIN not in await forged.text()
    assert (await client.get("/wecom", params={"echostr": "x"})).status == 400


async def test_wecom_is_off_unless_configured(
    aiohttp_client: Any, settings: Settings, clock: FakeClock
) -> None:
    client = await app_client(aiohttp_client, settings.model_copy(update={
        "wecom_corp_id": CORP_ID, "wecom_token": TOKEN}), clock)  # no secret, key, agent
    assert (await client.get("/wecom", params=VERIFY)).status == 404
    assert "wecom" not in client.app[SERVICES].notifier.senders


async def test_the_known_encrypted_message_is_stored_and_answered_empty_at_once(
    aiohttp_client: Any, settings: Settings, db: Database
) -> None:
    clock = FakeClock(datetime.fromtimestamp(1411525903, UTC))
    client = await app_client(aiohttp_client, wecom_settings(settings), clock)
    body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName>\n<Encrypt><![CDATA["
            f"{MESSAGE_ENCRYPT}]]></Encrypt>\n<AgentID><![CDATA[1]]></AgentID>\n</xml>")
    resp = await client.post("/wecom", params=MESSAGE, data=body.encode())
    assert (resp.status, await resp.text()) == (200, "")
    async with db.session() as s:
        row = (await s.exec(select(InboxMessage))).one()
    assert (row.channel, row.address, row.dedupe_key) == (
        "wecom", "messense", "msg:messense|4363689963896700987")
    assert row.payload["inbound"]["text"] == "test"


@pytest.mark.parametrize("forge", ["signature", "ciphertext", "corp", "agent", "stale",
                                   "not xml"])
async def test_a_forged_or_malformed_callback_is_refused_and_nothing_stored(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, db: Database, forge: str
) -> None:
    client = await app_client(aiohttp_client, wecom_settings(settings), clock)
    platform = WeComPlatform(client)
    xml = text_xml("zhangsan", "你好")
    encrypted = encrypt(xml)
    query = platform.query(encrypted)
    if forge == "signature":
        query["msg_signature"] = "0" * 40
    elif forge == "ciphertext":  # signed, but not our key's
        encrypted = encrypt(xml, aes_key="A" * 43)
        query = platform.query(encrypted)
    elif forge == "corp":
        encrypted = encrypt(xml, corp_id="wwOTHERCORP")
        query = platform.query(encrypted)
    elif forge == "agent":
        encrypted = encrypt(xml.replace(f"<AgentID>{AGENT_ID}<", "<AgentID>7<"))
        query = platform.query(encrypted)
    elif forge == "stale":
        clock.advance(minutes=10)
    if forge == "not xml":
        resp = await client.post("/wecom", params=query, data=b"{\"Encrypt\": 1}")
        status = resp.status
    else:
        status, _ = await platform.post(xml, query, encrypted)
    assert status == (400 if forge == "not xml" else 403)
    assert await inbox_count(db) == 0
    async with db.session() as s:  # not even the nonce is remembered
        assert (await s.exec(select(func.count()).select_from(CallbackNonce))).one() == 0


async def test_a_staff_member_on_the_roster_talks_without_a_code_and_gets_replies(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, db: Database, wecom: WeComStub
) -> None:
    campus = await make_campus(db, clock.now())
    teacher = await add_person(db, campus, "T001", "王老师", Role.class_advisor,
                               now=clock.now(), dorm_id=None)
    await set_wecom(db, teacher, "wanglaoshi")
    client = await app_client(aiohttp_client, wecom_settings(settings, wecom.url), clock)
    platform = WeComPlatform(client)
    xml = text_xml("wanglaoshi", "菜单")
    assert await platform.post(xml) == (200, "")
    # WeCom's retry of the same message (new nonce and timestamp) is answered, not redone
    clock.advance(seconds=5)
    assert await platform.post(xml) == (200, "")
    await settle(client)
    bound = await identity(db, "wecom", "wanglaoshi")
    assert bound is not None and bound.person_id == teacher and bound.preferred
    replies = wecom.texts("wanglaoshi")
    assert len(replies) == 1 and "王老师" in replies[0], replies
    assert "绑定" not in replies[0]
    assert await inbox_count(db) == 1
    # bound now: a menu is still answered by an app message (no passive reply on WeCom)
    await platform.say("wanglaoshi", "菜单")
    await settle(client)
    assert len(wecom.texts("wanglaoshi")) == 2 and await inbox_count(db) == 2


async def test_students_are_sent_to_the_official_account(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, db: Database, wecom: WeComStub
) -> None:
    campus = await make_campus(db, clock.now())
    await add_person(db, campus, "2023001", "小李", now=clock.now(), code="STUD2345")
    client = await app_client(aiohttp_client, wecom_settings(settings, wecom.url), clock)
    platform = WeComPlatform(client)
    await platform.say("xiaoli", "绑定 2023001 STUD2345")
    await settle(client)
    assert "公众号" in wecom.texts("xiaoli")[-1]
    found = await identity(db, "wecom", "xiaoli")
    assert found is not None and found.person_id is None  # not bound, code not spent


# --- console login with WeCom -------------------------------------------------------------


async def _login_people(db: Database, clock: FakeClock) -> None:
    campus = await make_campus(db, clock.now())
    teacher = await add_person(db, campus, "T001", "王老师", Role.class_advisor,
                               now=clock.now(), dorm_id=None)
    await set_wecom(db, teacher, "wanglaoshi")
    student = await add_person(db, campus, "2023001", "小李", now=clock.now())
    await bind(db, student, "wecom", "xiaoli", clock.now())


@pytest.mark.parametrize("inside", [True, False])
async def test_staff_log_into_the_console_with_wecom_and_students_do_not(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, db: Database, wecom: WeComStub,
    inside: bool,
) -> None:
    await _login_people(db, clock)
    client = await app_client(aiohttp_client, wecom_settings(settings, wecom.url), clock)
    agent = "Mozilla/5.0 (iPhone) wxwork/4.1.0 MicroMessenger" if inside else "Mozilla/5.0"
    start = await client.get("/wecom/login", headers={"User-Agent": agent},
                             allow_redirects=False)
    assert start.status == 302
    to = start.headers["Location"]
    if inside:  # OAuth inside WeCom: the member is known without a prompt
        assert to.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?")
        assert "scope=snsapi_base" in to and to.endswith("#wechat_redirect")
    else:  # the scan login on a desktop
        assert to.startswith("https://login.work.weixin.qq.com/wwlogin/sso/login?")
        assert "login_type=CorpApp" in to
    assert f"appid={CORP_ID}" in to and f"agentid={AGENT_ID}" in to
    state = to.split("state=")[1].split("&")[0].split("#")[0]

    wecom.login_codes.update({"C-TEACHER": "wanglaoshi", "C-STUDENT": "xiaoli"})
    done = await client.get("/wecom/login/done", params={"code": "C-TEACHER", "state": state},
                            allow_redirects=False)
    assert done.status == 302
    link = done.headers["Location"]
    assert link.startswith("https://xq.example.edu/console/login?token=")
    page = await client.get("/console/login?" + link.split("?")[1])
    assert page.status == 200  # the console's one-time link, usable

    again = await client.get("/wecom/login", headers={"User-Agent": agent},
                             allow_redirects=False)  # the state works once: start again
    state = again.headers["Location"].split("state=")[1].split("&")[0].split("#")[0]
    refused = await client.get("/wecom/login/done", params={"code": "C-STUDENT",
                                                             "state": state})
    assert refused.status == 403 and "老师和工作人员" in await refused.text()
    client.session.cookie_jar.clear()  # no state cookie: a forged return is refused
    wecom.login_codes["C-AGAIN"] = "wanglaoshi"
    forged = await client.get("/wecom/login/done", params={"code": "C-AGAIN", "state": state})
    assert forged.status == 400 and wecom.login_codes == {"C-AGAIN": "wanglaoshi"}


async def test_staff_not_on_the_roster_bind_with_a_code_and_wecom_becomes_preferred(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, db: Database, wecom: WeComStub
) -> None:
    campus = await make_campus(db, clock.now())
    teacher = await add_person(db, campus, "T002", "陈老师", Role.centre_staff, now=clock.now(),
                               code="TEACH234", klass_id=None, dorm_id=None, college_id=None)
    student = await add_person(db, campus, "2023002", "小张", now=clock.now())
    await set_wecom(db, student, "xiaozhang")  # a mistaken userid: still no WeCom for students
    client = await app_client(aiohttp_client, wecom_settings(settings, wecom.url), clock)
    platform = WeComPlatform(client)
    await platform.say("chenlaoshi", "绑定 T002 TEACH234")
    await platform.say("xiaozhang", "菜单")
    await settle(client)
    assert "绑定成功" in wecom.texts("chenlaoshi")[0]
    bound = await identity(db, "wecom", "chenlaoshi")
    assert bound is not None and bound.person_id == teacher and bound.preferred
    assert "公众号" in wecom.texts("xiaozhang")[0]
    refused = await identity(db, "wecom", "xiaozhang")
    assert refused is not None and refused.person_id is None


async def test_events_are_deduplicated_by_sender_time_and_event(
    aiohttp_client: Any, settings: Settings, clock: FakeClock, db: Database
) -> None:
    client = await app_client(aiohttp_client, wecom_settings(settings), clock)
    platform = WeComPlatform(client)

    def event(sender: str, name: str, created: int = 1788771600) -> str:
        return (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA["
                f"{sender}]]></FromUserName><CreateTime>{created}</CreateTime><MsgType><![CDATA["
                f"event]]></MsgType><Event><![CDATA[{name}]]></Event><AgentID>1</AgentID></xml>")

    for xml in (event("a", "enter_agent"), event("a", "enter_agent"),  # a retry
                event("a", "subscribe"), event("b", "enter_agent"),
                event("a", "enter_agent", 1788771601)):
        assert await platform.post(xml) == (200, "")
    assert await inbox_count(db) == 4
