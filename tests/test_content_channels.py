"""Content on each channel: a WeChat news card (passive and pushed), formatted text on Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import xmltodict
from sqlmodel import col, select

from tests.conftest import MakeClient
from tests.wechat_server import WeChatServer, text_xml
from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.telegram_render import render_payload, render_reply
from xinqiao.bot.channels.wechat import news_reply_xml
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import Notifier
from xinqiao.clock import FakeClock
from xinqiao.handlers.content.texts import article_payload, card
from xinqiao.messages import Choice, Link, Reply
from xinqiao.services.content.push import article_push
from xinqiao.services.content.service import Content
from xinqiao.services.outbox import Priority, enqueue
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.models import OutboxMessage

BASE = "https://bot.example.edu.cn"
CONTENT = Content(None, BASE)
SEND = "message/custom/send"


async def test_a_single_article_answers_as_a_wechat_news_card(make_client: MakeClient) -> None:
    client = await make_client(public_base_url=BASE)
    wechat = WeChatServer(client, "testtoken")
    status, body = await wechat.post(text_xml("o-student", "搜索 考试周压力大"))
    assert status == 200
    reply = xmltodict.parse(body)["xml"]
    assert reply["MsgType"] == "news" and reply["ArticleCount"] == "1"
    item = reply["Articles"]["item"]
    assert item["Title"] == "考试周压力大？试试这样安排"
    assert item["Url"] == f"{BASE}/articles/exam-stress"
    assert "考前紧张是正常的" in item["Description"]
    status, body = await wechat.post(text_xml("o-student", "紧张"))  # several: a text list
    listing = xmltodict.parse(body)["xml"]
    assert listing["MsgType"] == "text"
    # Tappable: each choice a menu link that sends its label back; numbers still work.
    assert ('1. <a href="weixin://bizmsgmenu?msgmenucontent=焦虑来袭怎么办&msgmenuid=xq'
            in listing["Content"])
    assert "（点选项，或回复序号）" in listing["Content"]


@pytest.fixture
def wsettings(settings: Settings, stub: WeChatStub) -> Settings:
    """Settings pointing at the WeChat stand-in."""
    return settings.model_copy(update={"wechat_api_base": stub.url,
                                       "wechat_api_timeout_seconds": 2.0})


@pytest.fixture
async def api(db: Database, wsettings: Settings, clock: FakeClock) -> AsyncIterator[WeChatAPI]:
    """A started WeChat client."""
    async with WeChatAPI(db, wsettings, clock) as client:
        yield client


async def _push_tip(db: Database, clock: FakeClock, channel: str) -> None:
    article = CONTENT.library.articles()["tip-pause"]
    async with db.session() as s:
        await enqueue(s, key=f"tip:test:{channel}", channel="wechat", address="openid-a",
                      kind="notice", now=clock.now(), priority=Priority.bulk,
                      payload=article_payload(article_push(CONTENT, article), channel))


async def test_a_pushed_tip_goes_out_as_a_news_card_or_a_notice_template(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    await _push_tip(db, clock, "wechat")
    assert await Notifier(db, clock, wsettings, {"wechat": WeChatSender(api, wsettings)}
                          ).drain_once() == 1
    (sent,) = stub.sent
    assert sent.endpoint == SEND and sent.body["msgtype"] == "news"
    (article,) = sent.body["news"]["articles"]
    assert article["title"] == "每周小贴士：给自己按下暂停键"
    assert article["url"] == f"{BASE}/articles/tip-pause"
    assert "回复「退订」" in article["description"]
    # With a notice template configured the tip reaches people outside the 48-hour window.
    templated = wsettings.model_copy(update={"wechat_notice_template_id": "TPL-NOTICE"})
    async with db.session() as s:
        row = (await s.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).one()
        payload = row.payload
    async with db.session() as s:
        await enqueue(s, key="tip:test:template", channel="wechat", address="openid-a",
                      kind="notice", now=clock.now(), payload=payload)
    assert await Notifier(db, clock, templated, {"wechat": WeChatSender(api, templated)}
                          ).drain_once() == 1
    template = stub.sent[-1]
    assert template.endpoint == "message/template/send"
    assert template.body["url"] == f"{BASE}/articles/tip-pause"
    assert template.body["data"]["thing1"]["value"] == "本周心理小贴士"


def test_telegram_shows_a_card_as_formatted_text_with_the_link() -> None:
    article = CONTENT.library.articles()["sleep-basics"]
    (part,) = render_reply(card(CONTENT, article))
    lines = part.text.splitlines()
    assert lines[0] == "偶尔失眠很常见。规律作息、睡前放松、别在床上硬撑，往往比数羊更有用。"
    assert "📖 睡不着的夜晚：给失眠的你几个小办法" in lines
    assert lines[-1] == f"{BASE}/articles/sleep-basics"
    tip = article_payload(article_push(CONTENT, CONTENT.library.articles()["tip-pause"]),
                          "telegram")
    parts = render_payload({**tip, "turn": 7})
    assert parts is not None
    assert parts[-1].buttons == (("退订", "7|flow:tips_off"),)
    assert parts[-1].text.startswith("本周心理小贴士\n\n📖 每周小贴士：给自己按下暂停键")


def test_replies_with_links_still_round_trip_through_storage() -> None:
    reply = Reply("看看这篇", (Choice("menu", "主菜单"),), card(
        CONTENT, CONTENT.library.articles()["seek-help"]).links)
    assert Reply.from_json(reply.to_json()) == reply
    old = {"text": "旧", "choices": [], "links": [["标题", "https://a/b", "摘要"]]}
    assert Reply.from_json(old).links[0].image == ""  # rows stored before covers existed



def test_a_news_card_stays_well_formed_whatever_the_title() -> None:
    nasty = Link("a]]>b<c>&d", "https://x/articles/a?b=1&c=2", "摘要]]>", "")
    item = xmltodict.parse(news_reply_xml("o-u", "gh", nasty, 1))["xml"]["Articles"]["item"]
    assert (item["Title"], item["Url"], item["Description"]) == (
        nasty.title, nasty.url, nasty.summary)


async def test_an_alert_overtakes_a_backlog_of_tips(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    article = CONTENT.library.articles()["tip-pause"]
    async with db.session() as s:
        for n in range(5):
            await enqueue(s, key=f"tip:w:{n}", channel="wechat", address=f"o-{n}",
                          kind="notice", now=clock.now(), priority=Priority.bulk,
                          payload=article_payload(article_push(CONTENT, article), "wechat"))
        await enqueue(s, key="crisis:1", channel="wechat", address="o-staff", kind="crisis",
                      now=clock.now(), priority=Priority.crisis,
                      payload={"reply": Reply("危机预警：请立即处理").to_json()})
    notifier = Notifier(db, clock, wsettings, {"wechat": WeChatSender(api, wsettings)})
    assert await notifier.drain_once(limit=1) == 1
    assert stub.sent[0].touser == "o-staff"  # enqueued last, sent first
