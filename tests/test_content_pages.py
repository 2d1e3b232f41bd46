"""Article pages: safe HTML, strict headers, 404s, and a phone-sized real browser."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import MakeClient
from tests.headless import phone
from xinqiao.bot.content_pages import add_article_routes
from xinqiao.clock import FakeClock
from xinqiao.services.content.service import Content

NOW = datetime(2026, 10, 8, 4, 0, tzinfo=UTC)
HOSTILE = """+++
title = "<script>alert(1)</script>深夜的自我对话"
topic = "mood"
tags = ["情绪"]
summary = "写给深夜睡不着的你 <b>别怕</b>"
+++

## 一段很长的链接

https://example.edu.cn/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa

<script>document.title = "pwned"</script>
<img src="http://tracker.example/pixel.png">

![外链图片](http://tracker.example/cover.png)

[点我](javascript:alert(1))

| 时间 | 做什么 | 备注 |
|---|---|---|
| 22:30 | 放下手机，调暗灯光，洗个热水澡 | 一个很长很长很长很长很长很长很长很长的备注 |
"""


@pytest.fixture
def content(tmp_path: Path) -> Content:
    """The packaged library plus a centre article written to try to break the page."""
    articles = tmp_path / "content" / "articles"
    articles.mkdir(parents=True)
    (articles / "late-night.md").write_text(HOSTILE, encoding="utf-8")
    return Content(tmp_path / "content", "https://xinqiao.example.edu.cn")


def _app(content: Content) -> web.Application:
    app = web.Application()
    add_article_routes(app, content, FakeClock(NOW), "示例大学心理健康教育中心")
    return app


async def test_an_article_page_is_complete_safe_and_strict(
    aiohttp_client: Any, content: Content
) -> None:
    client = await aiohttp_client(_app(content))
    resp = await client.get("/articles/sleep-basics")
    assert resp.status == 200 and resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'unsafe-inline'" in csp
    assert "script-src" not in csp and "Set-Cookie" not in resp.headers
    html = await resp.text()
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert "<h1>睡不着的夜晚：给失眠的你几个小办法</h1>" in html
    assert "<h2>可以试试这样做</h2>" in html and "<strong>固定起床时间</strong>" in html
    assert "12356" in html  # the help box on every page
    assert "http" not in html.split("<main>")[0]  # nothing loaded from anywhere
    hostile = await (await client.get("/articles/late-night")).text()
    assert "<script" not in hostile and "<img" not in hostile and "<b>别怕" not in hostile
    assert "&lt;b&gt;别怕&lt;/b&gt;" in hostile
    assert "&lt;script&gt;alert(1)&lt;/script&gt;深夜的自我对话" in hostile
    assert 'href="javascript' not in hostile
    assert "&lt;img src=&quot;http://tracker.example/pixel.png&quot;&gt;" in hostile


async def test_unknown_and_unpublished_slugs_are_404(
    aiohttp_client: Any, content: Content
) -> None:
    client = await aiohttp_client(_app(content))
    for path in ("/articles/no-such-thing", "/articles/festival-525", "/articles/..%2Fetc",
                 "/articles/SLEEP-BASICS"):
        resp = await client.get(path)
        assert resp.status == 404, path
        assert "没有找到这篇文章" in await resp.text()
        assert "default-src 'none'" in resp.headers["Content-Security-Policy"]
    index = await client.get("/articles/")
    text = await index.text()
    assert index.status == 200 and "睡眠与作息" in text and 'href="sleep-basics"' in text
    assert "festival-525" not in text and "late-night" in text
    moved = await client.get("/articles", allow_redirects=False)
    assert moved.status == 308 and moved.headers["Location"] == "/articles/"


async def test_the_service_serves_the_pages(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.get("/articles/crisis-lines")
    assert resp.status == 200 and "400-161-9995" in await resp.text()


@pytest.mark.provisioned
async def test_pages_render_on_a_phone_in_a_real_browser_with_no_other_requests(
    aiohttp_server: Any, content: Content, tmp_path: Path
) -> None:
    server = await aiohttp_server(_app(content))
    urls = [str(server.make_url(p)) for p in
            ("/articles/sleep-basics", "/articles/late-night", "/articles/")]
    async with phone(tmp_path / "profile") as page:
        for url in urls:
            await page.open(url)
            assert await page.evaluate("window.innerWidth") == 375
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 375, f"{url} overflows horizontally: {width}px"
            assert await page.evaluate("document.cookie") == ""
        await page.open(urls[0])
        assert await page.evaluate("document.title") == \
            "睡不着的夜晚：给失眠的你几个小办法 · 示例大学心理健康教育中心"
        text = await page.evaluate("document.body.innerText")
        assert "固定起床时间" in text and "12356" in text
        shot = await page.call("Page.captureScreenshot", format="png")
        await page.open(urls[1])
        assert await page.evaluate("document.title") != "pwned"  # the script never ran
        assert await page.evaluate("document.images.length") == 0
        requested = page.requested()
    assert requested == [*urls, urls[0], urls[1]]  # each page itself, nothing else
    png = tmp_path / "sleep-basics-375.png"
    png.write_bytes(base64.b64decode(shot["data"]))
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000
