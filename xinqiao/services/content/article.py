"""One psycho-education article: a Markdown file with TOML front matter, validated.

An article is ``<slug>.md``: a front matter block between ``+++`` lines, then Markdown::

    +++
    title = "睡不着的夜晚"
    topic = "sleep"
    tags = ["失眠", "睡眠"]
    summary = "一两句话，说这篇讲什么。"
    audience = ["*"]              # roles that see it in chat lists; "*" = everyone
    cover = "https://…/a.jpg"     # optional picture for the WeChat card
    publish_from = 2026-05-01     # optional window (dates or datetimes, Asia/Shanghai)
    publish_until = 2026-06-10
    kind = "article"              # article | tip | exercise | event
    +++
    正文……

The packaged articles live in ``xinqiao/data/content/articles``; a centre adds its own under
``<content_dir>/articles`` (``replaces = true`` to replace a packaged one with the same slug).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xinqiao.clock import SHANGHAI, utc
from xinqiao.storage.models import Role

PACKAGED_DIR = Path(__file__).resolve().parents[2] / "data" / "content"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")  # fits timer refs
_FENCE = "+++"
_AUDIENCES = frozenset({"*", *(r.value for r in Role)})


class ContentError(ValueError):
    """An article or content data file that cannot be used, with the file and field named."""


class FrontMatter(BaseModel):
    """What an article's front matter may say; anything else is an error."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=64)
    topic: str
    tags: tuple[str, ...] = Field(min_length=1)
    summary: str = Field(min_length=1, max_length=140)
    audience: tuple[str, ...] = ("*",)
    cover: str | None = None
    publish_from: date | datetime | None = None
    publish_until: date | datetime | None = None
    kind: Literal["article", "tip", "exercise", "event"] = "article"
    exercise: str | None = None  # the chat flow an exercise article offers to start
    order: int = 100  # position within its topic (smaller first)
    replaces: bool = False

    @field_validator("audience")
    @classmethod
    def _known_audience(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or (unknown := set(value) - _AUDIENCES):
            raise ValueError(f"unknown roles {sorted(unknown) if value else []}; "
                             f"use '*' or some of {sorted(_AUDIENCES - {'*'})}")
        return value

    @field_validator("cover")
    @classmethod
    def _https_cover(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s\"'<>]+", value):
            raise ValueError("must be an http(s) address")
        return value

    @field_validator("tags")
    @classmethod
    def _non_empty_tags(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not t.strip() for t in value):
            raise ValueError("tags must not be empty strings")
        return value


def _aware(value: date | datetime | None, end: bool) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=SHANGHAI)
    # A date means the whole day: from its first moment, until its last.
    moment = datetime.max.time() if end else datetime.min.time()
    return datetime.combine(value, moment, SHANGHAI)


@dataclass(frozen=True)
class Article:
    """One validated article."""

    slug: str
    meta: FrontMatter
    body: str
    source: Path

    @property
    def title(self) -> str:
        """The title."""
        return self.meta.title

    def published(self, now: datetime) -> bool:
        """Inside its publish window at ``now``."""
        start, end = _aware(self.meta.publish_from, False), _aware(self.meta.publish_until, True)
        now = utc(now)
        return (start is None or start <= now) and (end is None or now <= end)

    def visible_to(self, roles: frozenset[Role]) -> bool:
        """Whether chat lists show it to a person with these roles."""
        return "*" in self.meta.audience or any(r.value in self.meta.audience for r in roles)


def _field_of(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "front matter"
    return f"{where}: {first['msg']}"


def parse_article(path: Path, topics: frozenset[str]) -> Article:
    """Read and validate one article file; errors name the file and the field."""
    slug = path.stem
    if not SLUG.fullmatch(slug):
        raise ContentError(f"{path}: slug: file name must be lowercase letters, digits and '-'")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ContentError(f"{path}: cannot read as UTF-8 ({exc})") from exc
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != _FENCE:
        raise ContentError(f"{path}: front matter: the file must start with a '+++' line")
    try:
        close = next(i for i in range(1, len(lines)) if lines[i].strip() == _FENCE)
    except StopIteration:
        raise ContentError(f"{path}: front matter: no closing '+++' line") from None
    try:
        raw = tomllib.loads("\n".join(lines[1:close]))
    except tomllib.TOMLDecodeError as exc:
        raise ContentError(f"{path}: front matter: not valid TOML ({exc})") from exc
    try:
        meta = FrontMatter.model_validate(raw)
    except ValidationError as exc:
        raise ContentError(f"{path}: {_field_of(exc)}") from exc
    if meta.topic not in topics:
        raise ContentError(f"{path}: topic: {meta.topic!r} is not one of {sorted(topics)}")
    start, end = _aware(meta.publish_from, False), _aware(meta.publish_until, True)
    if start is not None and end is not None and end < start:
        raise ContentError(f"{path}: publish_until: is before publish_from")
    body = "\n".join(lines[close + 1:]).strip()
    if not body:
        raise ContentError(f"{path}: body: the article has no text after the front matter")
    return Article(slug, meta, body, path)
