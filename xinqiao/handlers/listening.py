"""Words that are no command (睡不着, 最近和室友吵架了…): a warm answer that reflects the topic
and offers a next step — talking to a counsellor, an exercise, an article — never a shrug.

The reflections are data (``xinqiao/data/listening.toml``); the search synonyms bring the ways
people say a thing together first (睡不着 → 失眠). The flow waits in ``offered`` only so that
the article tapped is the one suggested; anything typed there is routed afresh.
"""

from __future__ import annotations

import functools
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from xinqiao.handlers.content import texts
from xinqiao.handlers.flow import Context, Turn, flow_choice
from xinqiao.messages import Choice, Reply
from xinqiao.services.content.search import Segmenter
from xinqiao.services.content.service import Content
from xinqiao.vocabulary import Member, Role

LISTEN = "listen"
OFFERED = "offered"
READ = "read"
DATA = Path(__file__).resolve().parent.parent / "data" / "listening.toml"
_MENU = Choice("menu", "主菜单")
HOTLINE = "如果难受得撑不住，随时可以打全国心理援助热线 12356，或者点「紧急求助热线」。"
UNHEARD = ("谢谢你愿意跟我说。我是心理中心的小助手，还听不太懂这句话；"
           "如果心里有事，心理中心的老师很愿意听你说，也可以先做个小练习放松一下。")


class Reflection(BaseModel):
    """One topic people bring up: the words that name it and what the bot answers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    words: tuple[str, ...] = ()
    # A place or a bare verb (宿舍, 睡) names the topic only beside one of ``trouble``.
    context: tuple[str, ...] = ()
    trouble: tuple[str, ...] = ()
    text: str
    topic: str
    article_words: str = ""
    exercise: str = ""
    distress: bool = False

    @model_validator(mode="after")
    def _named(self) -> Reflection:
        if not self.words and not self.context:
            raise ValueError(f"reflection {self.id!r}: no words and no context words")
        if self.context and not self.trouble:
            raise ValueError(f"reflection {self.id!r}: context words need trouble words")
        return self

    def heard_in(self, said: str) -> bool:
        """Whether the normalised text ``said`` names this topic."""
        if any(w in said for w in self.words):
            return True
        return (any(w in said for w in self.context)
                and any(w in said for w in self.trouble))


@functools.lru_cache(maxsize=2)
def load_reflections(path: Path = DATA) -> tuple[Reflection, ...]:
    """The reflections file, in order (most specific first)."""
    raw = tomllib.loads(path.read_text(encoding="utf-8")).get("reflection", [])
    return tuple(Reflection.model_validate(item) for item in raw)


@functools.lru_cache(maxsize=1)
def _segmenter() -> Segmenter:
    return Segmenter(None)  # synonyms only: normalising needs no dictionary load


def reflection_for(text: str, segmenter: Segmenter | None = None) -> Reflection | None:
    """The first reflection whose words the text says, or None."""
    said = (segmenter or _segmenter()).normalise(text)
    return next((r for r in load_reflections() if r.heard_in(said)), None)


class ListenFlow:
    """Answers free text warmly and offers booking, an exercise and an article."""

    id = LISTEN
    title = "说说心里话"
    triggers: tuple[str, ...] = ()

    def __init__(self, content: Content | None = None) -> None:
        self.content = content

    def available_to(self, person: Member | None, roles: frozenset[Role]) -> bool:
        """Everyone, bound or not: nobody who says they are struggling meets a login wall."""
        return True

    async def start(self, ctx: Context, argument: str) -> Turn:
        """Reflect what was said and offer what could help."""
        segmenter = self.content.segmenter if self.content is not None else None
        found = reflection_for(argument, segmenter)
        offers: list[Choice] = []
        booking = ctx.flows.get("booking")
        if booking is not None and booking.available_to(ctx.person, ctx.roles):
            offers.append(flow_choice("booking", "约心理老师聊聊"))
        exercise = ctx.flows.get(found.exercise if found else "breathing")
        if exercise is not None:
            offers.append(flow_choice(exercise.id, f"试试{exercise.title}"))
        data: dict[str, Any] = {}
        if found is not None and self.content is not None:
            await self.content.ready()  # the index off the loop, if a search comes this early
        article = self._article(ctx, found) if found is not None else None
        if article is not None:
            offers.append(Choice(READ, f"读读《{article[1]}》"))
            data["article"] = article[0]
        elif self.content is not None:
            offers.append(flow_choice("education", "看看心理科普"))
        lines = [f"{found.text}谢谢你愿意告诉我。" if found else UNHEARD]
        if found is not None:
            lines.append("想找人好好聊聊的话，心理中心的老师很愿意听；也可以先试试下面这些：")
        if found is not None and found.distress:
            lines.append(HOTLINE)
        if not ctx.bound:
            lines.append("绑定身份后还可以预约心理老师：发送“绑定 学号 激活码”。")
        if ctx.bound:
            offers.append(_MENU)
        return Turn.ask(OFFERED, data, Reply("\n".join(lines), tuple(offers)))

    async def step(self, ctx: Context, step: str, data: dict[str, Any]) -> Turn:
        """The suggested article; anything else is routed as if nothing were waiting."""
        slug = data.get("article")
        if ctx.inbound.choice == READ and slug and self.content is not None:
            article = self.content.library.get(str(slug), ctx.clock.now())
            if article is not None:
                return Turn.end(texts.card(self.content, article))
        return Turn.pass_on()

    def _article(self, ctx: Context, found: Reflection) -> tuple[str, str] | None:
        """(slug, title) of the article to suggest: the topic's best match for what was said."""
        if self.content is None:
            return None
        now = ctx.clock.now()
        query = found.article_words or ctx.inbound.text
        hits = [a for a in self.content.search(query[:50], now, ctx.roles)
                if a.meta.topic == found.topic]
        if not hits:
            hits = [a for a in self.content.library.published(now, ctx.roles)
                    if a.meta.topic == found.topic and a.meta.kind == "article"]
        return (hits[0].slug, hits[0].title) if hits else None

