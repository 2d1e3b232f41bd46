"""The content capability's wording: browsing, tips, exercises, the centre's push desk, pushes.

Everything a student or the centre reads about content is built here from the services' plain
results. The pushes sent on timers (weekly tips, campaigns) are worded here too: the wiring hands
``article_payload`` to the services that send them, so the services stay free of wording and
never import a handler.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from xinqiao.clock import local
from xinqiao.handlers.flow import flow_choice
from xinqiao.messages import NAV_PREFIX, Choice, Link, Reply
from xinqiao.services.content.article import Article
from xinqiao.services.content.campaigns import CampaignError, CampaignSummary, Reach
from xinqiao.services.content.push import ArticlePush
from xinqiao.services.content.service import Content
from xinqiao.services.zh_when import EXAMPLES

MENU = Choice("menu", "主菜单")
TIPS_ON, TIPS_OFF = "tips_on", "tips_off"

# --- reading: cards and what follows a screening result ---


def link(content: Content, article: Article) -> Link:
    """A card for the article: title, summary, page and cover picture."""
    return _card_link(article, content.url(article.slug))


def _card_link(article: Article, url: str) -> Link:
    return Link(article.title, url, article.meta.summary, article.meta.cover or "")


def card(content: Content, article: Article) -> Reply:
    """The article as one reply: a WeChat news card, a formatted text with a link elsewhere."""
    return Reply(article.meta.summary, links=(link(content, article),))


def reading_after(content: Content, instrument: str, band: str, now: datetime) -> Reply | None:
    """What to read after a screening result, or None when nothing is mapped or published."""
    found = content.recommended(instrument, band, now)
    if not found:
        return None
    return Reply("这些内容也许对你有帮助，点开就能阅读：",
                 links=tuple(link(content, a) for a in found[:3]))


# --- browsing and search (心理科普与练习) ---

BACK = Choice("home", "返回主题")
# Under a card only words fit (a WeChat news message shows no choices): navigation, unnumbered.
CARD_NAV = (Choice(NAV_PREFIX + "home", "返回主题"), MENU)
SUBSCRIBED = "订阅好了！每周会给你发一条心理小贴士，不想再收到时回复「退订」即可。"
SEARCH_HINT = "也可以直接发关键词搜索，比如「失眠」「室友」「考试周」。"
BIND_FIRST = "绑定身份后才能订阅每周小贴士。"
UNSUBSCRIBED_NOTE = "已退订每周小贴士。想再收到的话，随时回来订阅。"


def home(topics: Sequence[tuple[str, str]], subscribed: bool | None, note: str = "") -> Reply:
    """The topics (id, label), the tip subscription switch when bound (``subscribed`` not None)."""
    choices = [Choice(f"topic:{key}", label) for key, label in topics]
    if subscribed is not None:
        choices.append(Choice(TIPS_OFF, "退订每周小贴士") if subscribed
                       else Choice(TIPS_ON, "订阅每周小贴士"))
    choices.append(MENU)
    text = "\n".join(p for p in (note, "想了解哪方面？点一个主题看看。", SEARCH_HINT) if p)
    return Reply(text, tuple(choices))


def empty_topic() -> Reply:
    """A topic with nothing published."""
    return Reply(f"这个主题暂时没有内容。{SEARCH_HINT}", (BACK, MENU))


def topic_head(label: str) -> str:
    """The line above a topic's articles."""
    return f"【{label}】点一篇阅读："


def listing(head: str, articles: Sequence[Article]) -> Reply:
    """Articles to tap, under ``head``."""
    return Reply(head, (*(Choice(f"article:{a.slug}", a.title) for a in articles), BACK, MENU))


def gone() -> Reply:
    """An article taken down since it was listed."""
    return Reply("这篇内容已经下线了，看看别的吧。", (BACK, MENU))


def exercise_article(article: Article, card_reply: Reply) -> Reply:
    """An exercise's article: its summary, 开始练习 beside the link (text, not a lone card)."""
    assert article.meta.exercise is not None
    return Reply(f"{article.meta.summary}\n也可以现在就在这里跟着做。",
                 (flow_choice(article.meta.exercise, "开始练习"), BACK, MENU), card_reply.links)


def nothing_found(query: str) -> Reply:
    """A search without results."""
    return Reply(f"没有找到和「{query[:20]}」相关的内容。换个说法试试，或者按主题看看。",
                 (BACK, MENU))


def results_head(query: str) -> str:
    """The line above search results."""
    return f"和「{query[:20]}」相关的内容，最相关的在前："


# --- 订阅 / 退订 ---


def tips_changed(on: bool, changed: bool) -> Reply:
    """The answer to 订阅 or 退订."""
    if on:
        return Reply(SUBSCRIBED if changed else "你已经订阅了每周小贴士。", (MENU,))
    if changed:
        return Reply("已退订，之后不会再收到每周小贴士。想再收到时回复「订阅」即可。",
                     (Choice(f"flow:{TIPS_ON}", "重新订阅"), MENU))
    return Reply("你现在没有订阅每周小贴士。", (MENU,))


# --- exercises ---

def exercise_page(title: str, intro: str) -> str:
    """An exercise's intro page."""
    return f"【{title}】\n{intro}"


def exercise_hint(intro: str) -> str:
    """The intro page again after something not understood."""
    return "准备好了就点「下一步」，想停下来就点「结束」。\n" + intro


def exercise_done(flow_id: str, done: str) -> Reply:
    """The closing words, with 再做一遍."""
    return Reply(done, (flow_choice(flow_id, "再做一遍"), MENU))


def exercise_stopped(again: str) -> Reply:
    """Stopped early; ``again`` is the word that restarts it (may be empty)."""
    return Reply(f"好的，练习先到这里。想再做时，回复「{again}」就可以。" if again
                 else "好的，练习先到这里。", (MENU,))


# --- the centre's push desk (内容推送) ---

_STATUS = {"planned": "待推送", "sending": "推送中", "sent": "已推送", "cancelled": "已取消",
           "failed": "未推送，文章不在发布期"}
_TARGETS = (Choice("all", "全校学生"), Choice("college", "按学院"), Choice("year", "按年级"), MENU)


def status_words(c: CampaignSummary) -> str:
    """``已推送 8 人``, ``推送中，已推送 3 人``, ``待推送``: the count said once."""
    if c.status == "sent":
        return f"已推送 {c.pushed} 人"
    if c.pushed:
        return f"{_STATUS[c.status]}，已推送 {c.pushed} 人"
    return _STATUS[c.status]


def desk(recent: Sequence[CampaignSummary]) -> Reply:
    """Recent campaigns, then the question for the article."""
    lines = [f"· {local(c.send_at):%m-%d %H:%M} {c.name}（{status_words(c)}）" for c in recent]
    head = ("最近的推送：\n" + "\n".join(lines) + "\n\n") if lines else ""
    return Reply(head + "要推送哪篇文章？请发送关键词（如「心理健康节」），或文章编号。", (MENU,))


def ask_target(title: str) -> Reply:
    """Whom to push the article to."""
    return Reply(f"推送《{title}》给谁？", _TARGETS)


def target_again() -> Reply:
    """The target question after something not understood."""
    return Reply("请选择推送对象：", _TARGETS)


def pick_article(found: Sequence[Article]) -> Reply:
    """Articles matching the keyword, or a request for another keyword."""
    if not found:
        return Reply("没有找到，请换个关键词。", (MENU,))
    return Reply("选一篇：", (*(Choice(f"article:{a.slug}", a.title) for a in found[:8]), MENU))


def pick_college(colleges: Sequence[tuple[int, str]]) -> Reply:
    """The colleges to choose from."""
    return Reply("选择学院：", (*(Choice(str(i), name) for i, name in colleges[:20]), MENU))


def pick_year(years: Sequence[int]) -> Reply:
    """The enrolment years to choose from."""
    return Reply("选择年级（或回复入学年份，如 2025）：", (
        *(Choice(str(y), f"{y}级") for y in years[:8]), MENU))


def ask_when(note: str = "") -> Reply:
    """When to push."""
    text = f"什么时候推送？可以回复时间，如 {EXAMPLES}。"
    return Reply("\n".join(p for p in (note, text) if p), (Choice("now", "立即推送"), MENU))


def unreadable_time(text: str) -> str:
    """A time that could not be read."""
    return f"没有看懂“{text.strip()[:20]}”这个时间。"


def past_time(at: datetime) -> str:
    """A time already past."""
    return f"{local(at):%Y-%m-%d %H:%M} 已经过去了，请换一个时间。"


def target_words(reach: Reach) -> str:
    """The target in words: 全校学生, 信息工程学院 2025级学生 …"""
    parts = []
    if reach.target.college_id is not None:
        parts.append(reach.college or f"学院#{reach.target.college_id}")
    if reach.target.enrolment_year is not None:
        parts.append(f"{reach.target.enrolment_year}级")
    return (" ".join(parts) or "全校") + "学生"


def reach_words(people: int, reachable: int) -> str:
    """``目前 20 人，其中 8 人能收到，12 人还没绑定聊天账号``."""
    if reachable >= people:
        return f"目前 {people} 人，都能收到"
    return (f"目前 {people} 人，其中 {reachable} 人能收到，"
            f"{people - reachable} 人还没绑定聊天账号、收不到")


def confirm(title: str, reach: Reach, at: datetime | None) -> Reply:
    """The campaign to confirm (``at`` None: at once)."""
    when = "立即" if at is None else f"{local(at):%Y-%m-%d %H:%M}"
    return Reply(
        f"确认推送：\n文章：《{title}》\n对象：{target_words(reach)}"
        f"（{reach_words(reach.people, reach.reachable)}）\n"
        f"时间：{when}\n推送以低优先级发送，不会影响预警消息。",
        (Choice("yes", "确认"), Choice("no", "取消")))


def not_scheduled() -> Reply:
    """确认 not tapped."""
    return Reply("好的，没有安排推送。", (MENU,))


def refusal(exc: CampaignError) -> str:
    """Why a campaign cannot be scheduled, for the person scheduling it."""
    if exc.reason == CampaignError.NO_ARTICLE:
        return f"没有找到文章 {exc.slug}"
    if exc.reason == CampaignError.NOT_PUBLISHED:
        return f"《{exc.title}》在推送时间不在发布期内，推送出去的链接会打不开"
    return "没有这个学院"


def refused(exc: CampaignError) -> Reply:
    """A campaign the service would not schedule."""
    return Reply(f"没有安排：{refusal(exc)}。", (MENU,))


def scheduled(c: CampaignSummary) -> Reply:
    """A campaign scheduled."""
    return Reply(f"已安排推送 #{c.id}，{local(c.send_at):%Y-%m-%d %H:%M} 开始发送。"
                 "可以回复「内容推送」查看进度。", (MENU,))


# --- pushes (built for the services that send them on timers) ---

TIP_HEADING = "本周心理小贴士"
UNSUBSCRIBE = Choice(f"flow:{TIPS_OFF}", "退订")


def campaign_heading(name: str, title: str) -> str:
    """A campaign push's first line: its name, or a lead-in when it would repeat the title."""
    name = name.strip()
    repeats = not name or name in (title, f"《{title}》")
    return "心理中心给你推荐一篇文章" if repeats else name


def article_payload(push: ArticlePush, channel: str) -> dict[str, Any]:
    """One push of an article for ``channel``: a card on WeChat, text, link and 退订 elsewhere."""
    page, tip = _card_link(push.article, push.url), push.campaign is None
    heading = TIP_HEADING if push.campaign is None else campaign_heading(push.campaign,
                                                                         page.title)
    note = "不想再收到？回复「退订」即可。" if tip else ""
    if channel == "wechat":  # a lone card: the news message has no buttons, so say it in words
        summary = "\n".join(p for p in (page.summary, note) if p)
        reply = Reply(heading, links=(Link(page.title, page.url, summary, page.image),))
    else:
        reply = Reply(heading, (UNSUBSCRIBE,) if tip else (), (page,))
    fields = {"内容": page.title[:20], **({"退订": "回复「退订」"} if tip else {})}
    return {"reply": reply.to_json(), "alert": {"title": heading[:20], "fields": fields,
                                                  "url": page.url}}
