"""WeChat choices are tappable menu links; a tap comes back as the choice, numbers still work."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from tests.conftest import MakeClient
from tests.wechat_server import WeChatServer, reply_content, text_xml
from tests.wechat_stub import WeChatStub
from xinqiao.bot.channels.wechat_api import WeChatAPI
from xinqiao.bot.channels.wechat_render import MAX_TEXT_BYTES, render_text
from xinqiao.bot.channels.wechat_sender import WeChatSender
from xinqiao.bot.notify import Notifier
from xinqiao.clock import FakeClock
from xinqiao.messages import Choice, Reply
from xinqiao.services.outbox import enqueue_replies
from xinqiao.settings import Settings
from xinqiao.storage.db import Database

BASE = "https://bot.example.edu.cn"
LINK = re.compile(r'(\d+)\. <a href="weixin://bizmsgmenu\?msgmenucontent=([^&"]+)'
                  r'&msgmenuid=([^"]+)">([^<]+)</a>')


def tapped_xml(sender: str, content: str, menu_id: str | None) -> str:
    """What WeChat posts when a menu link is tapped: a text message, plus bizmsgmenuid on a
    verified account (a test account sends the text alone)."""
    xml = text_xml(sender, content)
    if menu_id is None:
        return xml
    return xml.replace("</xml>", f"<bizmsgmenuid>{menu_id}</bizmsgmenuid></xml>")


async def _post(wechat: WeChatServer, xml: str) -> str:
    status, body = await wechat.post(xml)
    assert status == 200, body
    return body


async def test_choices_are_links_and_a_tap_picks_the_choice(make_client: MakeClient) -> None:
    client = await make_client(public_base_url=BASE)
    wechat = WeChatServer(client, "testtoken")
    listing = reply_content(await _post(wechat, text_xml("o-1", "搜索 紧张")))
    links = LINK.findall(listing)
    assert [n for n, *_ in links] == [str(i) for i in range(1, len(links) + 1)]
    assert links[0][1] == links[0][3] == "焦虑来袭怎么办"  # a tap sends the label back
    assert "msgmenucontent=主菜单&msgmenuid=menu" in listing  # 主菜单 tappable, unnumbered
    assert "（点选项，或回复序号）" in listing and "回复序号即可" not in listing
    # Tap the second article on a verified account: the id names the choice.
    _, content, menu_id, _ = links[1]
    card = await _post(wechat, tapped_xml("o-1", content, menu_id))
    assert "<MsgType><![CDATA[news]]></MsgType>" in card and "在人前说话就紧张" in card
    # The first link of that old list is stale now: said so, never applied to something else.
    stale = reply_content(await _post(wechat, tapped_xml("o-1", links[0][1], links[0][2])))
    assert "按钮已经过期" in stale
    # A test account sends only the label: it still picks the choice of the current list.
    again = reply_content(await _post(wechat, text_xml("o-1", "搜索 紧张")))
    first = LINK.findall(again)[0]
    card = await _post(wechat, tapped_xml("o-1", first[1], None))
    assert "焦虑来袭怎么办" in card
    # And typing a number still works.
    await _post(wechat, text_xml("o-1", "搜索 紧张"))
    assert "在人前说话就紧张" in await _post(wechat, text_xml("o-1", "2"))


def test_a_list_too_long_for_links_falls_back_to_numbered_lines() -> None:
    people = tuple(Choice(f"person:{i}", f"同学{i:02d}号（计算机2301班）") for i in range(30))
    text = render_text(Reply("涉及哪位同学？", (*people, Choice("menu", "主菜单"))), True)
    assert len(text.encode("utf-8")) <= MAX_TEXT_BYTES
    assert "<a " not in text and "30. 同学29号" in text  # whole lines, no cut-off markup
    odd = render_text(Reply("选吧", (Choice("slot:1", "09-08 周二 09:00 老师 · 线下"),)), True)
    assert "msgmenucontent=1&" in odd  # a label with spaces travels as its number


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


async def test_a_pushed_reply_carries_tappable_choices(
    db: Database, clock: FakeClock, wsettings: Settings, api: WeChatAPI, stub: WeChatStub
) -> None:
    reply = Reply("有一个新的咨询时间空出来了，要约吗？",
                  (Choice("take", "就约这个"), Choice("pass", "先不用"), Choice("menu", "主菜单")))
    async with db.session() as s:
        await enqueue_replies(s, key_prefix="late:1", channel="wechat", address="o-2",
                              replies=[reply], now=clock.now())
    assert await Notifier(db, clock, wsettings, {"wechat": WeChatSender(api, wsettings)}
                          ).drain_once() == 1
    (sent,) = stub.sent
    content = sent.body["text"]["content"]
    assert 'msgmenucontent=就约这个&msgmenuid=xq' in content and "1. <a" in content
    assert "msgmenuid=menu" in content
