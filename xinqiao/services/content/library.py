"""The library in force: packaged and a centre's articles and topics, re-read when files change.

The packaged articles live in ``xinqiao/data/content/articles``; a centre adds its own under
``<content_dir>/articles`` (``replaces = true`` to replace a packaged one with the same slug).
The file format is ``services.content.article``'s.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from xinqiao.services.content.article import PACKAGED_DIR, Article, ContentError, parse_article
from xinqiao.storage.models import Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Topic:
    """A browsing topic: its id (used in front matter) and the label shown in chat."""

    id: str
    label: str


def load_topics(content_dir: Path | None) -> tuple[Topic, ...]:
    """The packaged topics, then a centre's extra ones from ``<content_dir>/topics.toml``."""
    found: list[Topic] = []
    for path in (PACKAGED_DIR / "topics.toml",
                 *([content_dir / "topics.toml"] if content_dir is not None else [])):
        if not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            for i, raw in enumerate(data.get("topic", [])):
                if not isinstance(raw.get("id"), str) or not isinstance(raw.get("label"), str):
                    raise ContentError(f"{path}: topic[{i}]: needs string 'id' and 'label'")
                if any(t.id == raw["id"] for t in found):
                    raise ContentError(f"{path}: topic[{i}].id: {raw['id']!r} defined twice")
                found.append(Topic(raw["id"], raw["label"]))
        except tomllib.TOMLDecodeError as exc:
            raise ContentError(f"{path}: not valid TOML ({exc})") from exc
    return tuple(found)


def article_files(content_dir: Path | None) -> list[Path]:
    """Every article file: packaged first, then the centre's (which may replace packaged)."""
    files = sorted((PACKAGED_DIR / "articles").glob("*.md"))
    centre = content_dir / "articles" if content_dir is not None else None
    if centre is not None and centre.is_dir():
        files += sorted(centre.glob("*.md"))
    return files


def _merge(parsed: list[Article]) -> dict[str, Article]:
    """Packaged and centre articles by slug; a duplicate slug needs ``replaces = true``."""
    out: dict[str, Article] = {}
    packaged = PACKAGED_DIR.resolve()
    for art in parsed:
        if art.slug in out:
            builtin = out[art.slug].source.resolve().is_relative_to(packaged)
            if not (builtin and art.meta.replaces):
                hint = "; set replaces = true to replace it" if builtin else ""
                raise ContentError(f"{art.source}: slug: {art.slug!r} is already defined in "
                                   f"{out[art.slug].source}{hint}")
        out[art.slug] = art
    return out


class ContentLibrary:
    """The articles in force, re-read when a file changes (checked every ``reload_seconds``).

    At start every file must be valid (a bad one stops start-up, naming file and field). Later a
    file that breaks keeps its last good version and logs an error; a removed file is dropped.
    """

    def __init__(self, content_dir: Path | None, reload_seconds: float = 10.0,
                 on_change: Callable[[dict[str, Article]], None] | None = None) -> None:
        self.content_dir = content_dir
        self.reload_seconds = reload_seconds
        self.topics = load_topics(content_dir)
        self._topic_ids = frozenset(t.id for t in self.topics)
        self._on_change = on_change
        self._stamps: dict[Path, tuple[int, int]] = {}
        self._good: dict[Path, Article] = {}
        self._checked = 0.0
        self.version = 0
        parsed = []
        for path in article_files(content_dir):
            parsed.append(parse_article(path, self._topic_ids))
            self._good[path] = parsed[-1]
            self._stamps[path] = _stamp(path)
        self._articles = _merge(parsed)
        self._changed()

    def articles(self) -> dict[str, Article]:
        """Every loaded article by slug (published or not), after a reload check if due."""
        self.refresh()
        return self._articles

    def topic_label(self, topic_id: str) -> str:
        """The label of a topic id (the id itself if unknown)."""
        return next((t.label for t in self.topics if t.id == topic_id), topic_id)

    def get(self, slug: str, now: datetime) -> Article | None:
        """The article with this slug if it is published now."""
        art = self.articles().get(slug)
        return art if art is not None and art.published(now) else None

    def published(self, now: datetime, roles: frozenset[Role] | None = None) -> list[Article]:
        """Published articles (visible to ``roles`` when given), by topic order then slug."""
        rank = {t.id: i for i, t in enumerate(self.topics)}
        found = [a for a in self.articles().values() if a.published(now)
                 and (roles is None or a.visible_to(roles))]
        return sorted(found, key=lambda a: (rank.get(a.meta.topic, 99), a.meta.order, a.slug))

    def refresh(self, force: bool = False) -> bool:
        """Re-read changed files if the check is due; True when the library changed."""
        clock = time.monotonic()
        if not force and clock - self._checked < self.reload_seconds:
            return False
        self._checked = clock
        files = article_files(self.content_dir)
        stamps = {p: _stamp(p) for p in files}
        if stamps == self._stamps:
            return False
        good: dict[Path, Article] = {}
        for path in files:
            old = self._good.get(path)
            if old is not None and stamps[path] == self._stamps.get(path):
                good[path] = old
                continue
            try:
                good[path] = parse_article(path, self._topic_ids)
            except ContentError as exc:
                log.error("content: %s (keeping the last good version)", exc)
                if old is not None:
                    good[path] = old
        try:
            merged = _merge(list(good.values()))
        except ContentError as exc:
            log.error("content: %s (keeping the library as it was)", exc)
            self._stamps = stamps  # do not re-report the same problem on every check
            return False
        self._stamps, self._good, self._articles = stamps, good, merged
        self._changed()
        log.info("content: reloaded, %d articles", len(merged))
        return True

    def _changed(self) -> None:
        self.version += 1
        if self._on_change is not None:
            self._on_change(self._articles)


def _stamp(path: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)
