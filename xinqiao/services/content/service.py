"""The content service the rest of the app uses: the library, its search index, pages, advice."""

from __future__ import annotations

import asyncio
import threading
import tomllib
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from xinqiao.services.content.article import PACKAGED_DIR, Article, ContentError
from xinqiao.services.content.library import ContentLibrary
from xinqiao.services.content.search import SearchIndex, Segmenter
from xinqiao.storage.models import Role

Recommendations = dict[str, dict[str, tuple[str, ...]]]


def load_recommendations(content_dir: Path | None, known: set[str]) -> Recommendations:
    """Instrument → band → slugs: packaged, with a centre's tables replacing whole instruments."""
    out: Recommendations = {}
    paths = [PACKAGED_DIR / "recommend.toml"]
    if content_dir is not None and (content_dir / "recommend.toml").is_file():
        paths.append(content_dir / "recommend.toml")
    for path in paths:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ContentError(f"{path}: cannot read ({exc})") from exc
        for instrument, bands in data.items():
            if not isinstance(bands, dict):
                raise ContentError(f"{path}: {instrument}: must be a table of band = [slugs]")
            table: dict[str, tuple[str, ...]] = {}
            for band, slugs in bands.items():
                if not isinstance(slugs, list) or not all(isinstance(s, str) for s in slugs):
                    raise ContentError(f"{path}: {instrument}.{band}: must be a list of slugs")
                if unknown := [s for s in slugs if s not in known]:
                    raise ContentError(f"{path}: {instrument}.{band}: unknown articles {unknown}")
                table[band] = tuple(slugs)
            out[instrument] = table
    return out


class Content:
    """Articles, search and the links that point at their pages."""

    def __init__(self, content_dir: Path | None, public_base_url: str,
                 reload_seconds: float = 10.0) -> None:
        self.base_url = public_base_url.rstrip("/")
        self.segmenter = Segmenter(content_dir)
        self._index: SearchIndex | None = None
        self._indexed = -1
        self._indexing = threading.Lock()  # the warm-up and a first search build one index
        self.library = ContentLibrary(content_dir, reload_seconds, on_change=self._reindex)
        self.recommendations = load_recommendations(content_dir,
                                                    set(self.library.articles()))

    def warm_up(self) -> None:
        """Load jieba's dictionary and index the articles now (about a second: start-up calls
        it in a thread, so the first search does not hold the event loop)."""
        self._search_index()

    def _reindex(self, articles: dict[str, Article]) -> None:
        self._index = None  # rebuilt on the next search (segmenting waits until needed)

    @property
    def warm(self) -> bool:
        """Whether the search index is built (searching loads nothing)."""
        return self._index is not None

    async def ready(self) -> None:
        """Have the search index built before a search on the event loop: a search before the
        warm-up ends waits here for that one build (in a thread), not for a second one."""
        self.library.articles()  # a reload that is due happens here, as in ``search``
        if self._index is None or self._indexed != self.library.version:
            await asyncio.to_thread(self._search_index)

    def _search_index(self) -> SearchIndex:
        with self._indexing:
            if self._index is None or self._indexed != self.library.version:
                version = self.library.version
                self._index = SearchIndex(self.segmenter, self.library.articles().values())
                self._indexed = version
            return self._index

    def url(self, slug: str) -> str:
        """The public page of an article."""
        return f"{self.base_url}/articles/{quote(slug)}"

    def search(self, query: str, now: datetime, roles: frozenset[Role] | None = None,
               limit: int = 5) -> list[Article]:
        """Published articles matching ``query``, best first."""
        articles = self.library.articles()  # a reload (and re-index) happens here when due
        allowed = {a.slug for a in self.library.published(now, roles)}
        return [articles[h.slug] for h in self._search_index().search(query, allowed, limit)]

    def recommended(self, instrument: str, band: str, now: datetime) -> list[Article]:
        """What to read after a screening result (recommend.toml), published ones only."""
        return [a for slug in self.recommendations.get(instrument, {}).get(band, ())
                if (a := self.library.get(slug, now)) is not None]

    def weekly_tips(self, now: datetime) -> list[Article]:
        """Published tips in a stable order (the weekly push goes round them)."""
        return sorted((a for a in self.library.published(now) if a.meta.kind == "tip"),
                      key=lambda a: (a.meta.order, a.slug))
