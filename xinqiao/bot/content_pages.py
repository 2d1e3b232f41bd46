"""Public article pages: ``/articles/`` and ``/articles/<slug>``, readable on a phone.

No login, no cookies, no scripts, no external resources and no tracking: one HTML document with
an inline stylesheet, served under a Content-Security-Policy that forbids everything else.
Markdown is rendered by markdown-it with raw HTML disabled, so nothing in an article file can
inject markup; titles and summaries are escaped.
"""

from __future__ import annotations

import functools
from html import escape
from typing import TYPE_CHECKING

from aiohttp import web

from xinqiao.clock import Clock
from xinqiao.services.content.article import SLUG, Article
from xinqiao.services.content.service import Content

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

# "default-src 'none'": not even images or fonts from elsewhere; the one inline style is allowed.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "public, max-age=300",
}
STYLE = """
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#faf8f5;color:#2b2b2b;font:17px/1.75 -apple-system,
"PingFang SC","Hiragino Sans GB","Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",
"WenQuanYi Micro Hei",sans-serif;overflow-wrap:anywhere;word-break:break-word}
main{max-width:40rem;margin:0 auto;padding:1.25rem 1.1rem 3rem}
h1{font-size:1.5rem;line-height:1.4;margin:.5rem 0 .75rem}
h2{font-size:1.15rem;margin:1.75rem 0 .5rem}
p,li{margin:.5rem 0}
ul,ol{padding-left:1.4rem}
a{color:#2f6f8f}
pre,code{white-space:pre-wrap}
table{display:block;max-width:100%;overflow-x:auto}
.summary{color:#666;border-left:3px solid #e0c9a6;padding-left:.75rem}
.help{margin-top:2.5rem;padding:1rem;background:#f1ece4;border-radius:.5rem;font-size:.95rem}
.list a{display:block;padding:.6rem 0;border-bottom:1px solid #eee;text-decoration:none}
.list small{display:block;color:#777}
"""
HELP = ("如果你现在很难受，请拨打心理援助热线 <b>12356</b>；遇到紧急危险请拨 <b>110 / 120</b>。"
        "学校心理中心提供免费、保密的咨询，在公众号菜单里就能预约。")


def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt  # preloaded by the warm-up, not before /healthz

    # "js-default": raw HTML off and only safe link schemes (no javascript:, no data:).
    # Images are off too: a page loads nothing but itself (covers are for chat cards only).
    return MarkdownIt("js-default", {"typographer": False}).enable("table").disable("image")


def _page(title: str, body: str, centre: str) -> str:
    return (
        "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta name=\"referrer\" content=\"no-referrer\">"
        f"<title>{escape(title)} · {escape(centre)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


class ArticlePages:
    """The two page handlers over a content library."""

    def __init__(self, content: Content, clock: Clock, centre: str = "心理健康教育中心") -> None:
        self.content = content
        self.clock = clock
        self.centre = centre

    @functools.cached_property
    def md(self) -> MarkdownIt:
        """The renderer, built on the first page."""
        return _markdown()

    def render_article(self, article: Article) -> str:
        """One article as a complete HTML page."""
        body = (f"<article><h1>{escape(article.title)}</h1>"
                f"<p class=\"summary\">{escape(article.meta.summary)}</p>"
                f"{self.md.render(article.body)}</article>"
                f"<p class=\"help\">{HELP}</p>"
                f"<p><a href=\"./\">更多心理科普</a></p>")
        return _page(article.title, body, self.centre)

    def render_index(self) -> str:
        """Every published article, by topic."""
        parts = [f"<h1>心理科普 · {escape(self.centre)}</h1>"]
        current = None
        for art in self.content.library.published(self.clock.now()):
            if art.meta.topic != current:
                if current is not None:
                    parts.append("</div>")
                current = art.meta.topic
                label = self.content.library.topic_label(current)
                parts.append(f"<h2>{escape(label)}</h2><div class=\"list\">")
            parts.append(f"<a href=\"{escape(art.slug)}\">{escape(art.title)}"
                         f"<small>{escape(art.meta.summary)}</small></a>")
        if current is not None:
            parts.append("</div>")
        parts.append(f"<p class=\"help\">{HELP}</p>")
        return _page("心理科普", "".join(parts), self.centre)

    async def index(self, request: web.Request) -> web.StreamResponse:
        """``GET /articles/``."""
        return web.Response(text=self.render_index(), content_type="text/html",
                            charset="utf-8", headers=HEADERS)

    async def article(self, request: web.Request) -> web.StreamResponse:
        """``GET /articles/<slug>``: 404 for an unknown or unpublished slug."""
        slug = request.match_info["slug"]
        article = self.content.library.get(slug, self.clock.now()) if SLUG.fullmatch(slug) \
            else None
        if article is None:
            body = _page("没有找到", "<h1>没有找到这篇文章</h1><p>它可能已经下线了。"
                         "<a href=\"./\">看看其他内容</a></p>", self.centre)
            return web.Response(status=404, text=body, content_type="text/html",
                                charset="utf-8", headers=HEADERS)
        return web.Response(text=self.render_article(article), content_type="text/html",
                            charset="utf-8", headers=HEADERS)


def add_article_routes(app: web.Application, content: Content, clock: Clock,
                       centre: str = "心理健康教育中心") -> None:
    """Mount the pages on the app."""
    pages = ArticlePages(content, clock, centre)
    app.router.add_get("/articles/", pages.index)
    app.router.add_get("/articles", _to_index)
    app.router.add_get("/articles/{slug}", pages.article)


async def _to_index(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect("/articles/")
