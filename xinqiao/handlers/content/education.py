"""心理科普与练习: browse articles by topic, search by keyword, opt in to the weekly tip.

States: ``home`` (topics) → ``list`` (a topic's articles, or search results) → an article card.
After a card the flow keeps listening, so a typed word is a new search; 主菜单 leaves it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from xinqiao.handlers.content import texts
from xinqiao.handlers.content.texts import BACK, CARD_NAV, TIPS_OFF, TIPS_ON
from xinqiao.handlers.flow import Context, OneShotFlow, Turn
from xinqiao.services.content.article import Article
from xinqiao.services.content.push import set_subscription, subscribed
from xinqiao.services.content.service import Content
from xinqiao.vocabulary import Member, Role

HOME, LIST = "home", "list"
MAX_LISTED = 8
_HOME_WORDS = frozenset({"返回", "返回主题", "主题", "目录", "科普"})
_FULLWIDTH = str.maketrans("０１２３４５６７８９", "0123456789")


class EducationFlow:
    """Topics, article cards and keyword search over the content library."""

    id = "education"
    title = "心理科普与练习"
    triggers: tuple[str, ...] = ("心理科普", "科普", "搜索", "搜", "找文章", "/articles")

    def __init__(self, content: Content) -> None:
        self.content = content

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Everyone: the articles are public pages anyway."""
        return True

    async def start(self, ctx: Context, argument: str) -> Turn:
        """The topics, or straight to results when a keyword came with the trigger."""
        if argument.strip():
            return await self._search(ctx, argument.strip())
        return await self._home(ctx)

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """A tapped topic, article or subscription choice; anything typed is a search."""
        choice = ctx.inbound.choice
        text = ctx.inbound.text.strip()
        if choice in (BACK.key, CARD_NAV[0].key) or (choice is None and text in _HOME_WORDS):
            return await self._home(ctx)
        if choice in (TIPS_ON, TIPS_OFF):
            return await self._subscription(ctx, choice == TIPS_ON)
        if choice is not None and choice.startswith("topic:"):
            return self._topic(ctx, choice[6:])
        if choice is not None and choice.startswith("article:"):
            return self._article(ctx, choice[8:], data)
        if not text:
            return await self._home(ctx)
        if choice is None and text.translate(_FULLWIDTH).isdecimal():
            return Turn.pass_on()  # a number not on this list: the main menu's, never a search
        other = ctx.flows.by_trigger(text) if choice is None else None
        if other is not None and other[0].id != self.id:
            return Turn.pass_on()  # 预约, 测评 … typed while browsing start what they name
        return await self._search(ctx, text)

    async def _home(self, ctx: Context, note: str = "") -> Turn:
        topics = [(t.id, t.label) for t in self.content.library.topics
                  if self._in_topic(ctx, t.id)]
        on = None
        if ctx.person is not None and ctx.person.id is not None:
            on = await ctx.run(subscribed, ctx.person.id)
        return Turn.ask(HOME, {}, texts.home(topics, on, note))

    def _in_topic(self, ctx: Context, topic: str) -> list[Article]:
        now = ctx.clock.now()
        return [a for a in self.content.library.published(now, ctx.roles)
                if a.meta.topic == topic]

    def _topic(self, ctx: Context, topic: str) -> Turn:
        articles = self._in_topic(ctx, topic)
        if not articles:
            return Turn.ask(LIST, {}, texts.empty_topic())
        label = self.content.library.topic_label(topic)
        return self._listing(texts.topic_head(label), articles, {"topic": topic})

    def _listing(self, head: str, articles: list[Article], data: dict[str, Any]) -> Turn:
        return Turn.ask(LIST, data, texts.listing(head, articles[:MAX_LISTED]))

    def _article(self, ctx: Context, slug: str, data: dict[str, Any]) -> Turn:
        article = self.content.library.get(slug, ctx.clock.now())
        if article is None:
            return Turn.ask(LIST, data, texts.gone())
        card = texts.card(self.content, article)
        if article.meta.exercise and article.meta.exercise in ctx.flows:
            # An exercise also runs in chat: offer it beside the link (text, not a lone card).
            return Turn.ask(LIST, data, texts.exercise_article(article, card))
        # A lone card (a WeChat news message); a typed word afterwards is a new search.
        return Turn.ask(LIST, data, replace(card, choices=CARD_NAV))

    async def _search(self, ctx: Context, query: str) -> Turn:
        for word in ("搜索", "搜", "查找", "查"):  # "搜 失眠" typed while already browsing
            if query.startswith(word) and query[len(word):].strip():
                query = query[len(word):].strip()
                break
        await self.content.ready()  # the index off the loop, if a search comes this early
        found = self.content.search(query[:50], ctx.clock.now(), ctx.roles)
        if not found:
            return Turn.ask(LIST, {"query": query}, texts.nothing_found(query))
        if len(found) == 1:
            return self._article(ctx, found[0].slug, {"query": query})
        return self._listing(texts.results_head(query), found, {"query": query})

    async def _subscription(self, ctx: Context, on: bool) -> Turn:
        if ctx.person is None or ctx.person.id is None:
            return await self._home(ctx, texts.BIND_FIRST)
        await ctx.run(set_subscription, ctx.person.id, on, ctx.clock.now())
        return await self._home(ctx, texts.SUBSCRIBED if on else texts.UNSUBSCRIBED_NOTE)


class TipsFlow(OneShotFlow):
    """订阅 / 退订: one tap (or word) to opt in to or out of the weekly tip."""

    triggers: tuple[str, ...] = ()

    def __init__(self, on: bool) -> None:
        self.on = on
        self.id = TIPS_ON if on else TIPS_OFF
        self.title = "订阅每周小贴士" if on else "退订每周小贴士"
        self.triggers = (("订阅小贴士", "订阅", "/subscribe") if on
                         else ("退订小贴士", "退订", "取消订阅", "/unsubscribe"))

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Change the subscription and say so."""
        assert ctx.person is not None and ctx.person.id is not None
        changed = await ctx.run(set_subscription, ctx.person.id, self.on, ctx.clock.now())
        return Turn.end(texts.tips_changed(self.on, changed))
