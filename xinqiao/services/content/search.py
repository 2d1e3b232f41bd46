"""Keyword search over the library: jieba word segmentation, synonyms, weighted BM25.

Text is first normalised with the synonyms table (``睡不着`` → ``失眠``, ``压力大`` → ``压力``) so
that common ways of saying the same thing meet; then segmented by jieba (search mode, with a
small user dictionary of domain words such as ``考试周`` and ``抑郁情绪``). Each article is one
bag of terms in which a title or tag word counts three times, the summary twice and the body
once; queries are scored with BM25 over those bags. Character bigrams are indexed too, at a
quarter of a word's weight, so a word jieba splits differently or a near-miss still finds
something.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import threading
import tomllib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xinqiao.services.content.article import PACKAGED_DIR, Article, ContentError

log = logging.getLogger(__name__)
FIELD_WEIGHTS = {"title": 3.0, "tags": 3.0, "summary": 2.0, "body": 1.0}
BIGRAM_WEIGHT = 0.25
K1, B = 1.2, 0.75
RELATIVE_CUTOFF = 0.3
_CJK = re.compile(r"[\u4e00-\u9fff]+")
_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_STOP_TEXT = """
晚上 最近 今天 现在 好像 经常 特别 非常 真的
的 了 我 你 他 她 它 们 我们 怎么 怎么办 怎样 如何 什么 为什么 是 很 有 和 与 吗 呢 啊 吧
在 就 都 也 要 会 能 一个 一些 自己 没有 这 那 这个 那个 一直 总是 好 太 很多 有点 有些
老是 觉得 感觉 还 又 想 该 应该 可以 不 被 把 让 给 跟 对 到 从 上 下 里 个 着 过 得 地
之 啦 呀 哦 嗯 请问
"""
STOPWORDS = frozenset(_STOP_TEXT.split())


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContentError(f"{path}: cannot read ({exc})") from exc


def load_synonyms(content_dir: Path | None) -> dict[str, str]:
    """Variant → canonical word, packaged plus a centre's ``<content_dir>/synonyms.toml``."""
    out: dict[str, str] = {}
    paths = [PACKAGED_DIR / "synonyms.toml"]
    if content_dir is not None and (content_dir / "synonyms.toml").is_file():
        paths.append(content_dir / "synonyms.toml")
    for path in paths:
        try:
            table = tomllib.loads(_read(path)).get("synonyms", {})
        except tomllib.TOMLDecodeError as exc:
            raise ContentError(f"{path}: not valid TOML ({exc})") from exc
        for canonical, variants in table.items():
            if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
                raise ContentError(f"{path}: synonyms.{canonical}: must be a list of strings")
            out.update({v: canonical for v in variants if v and v != canonical})
    return out


_LOADING = threading.Lock()  # one load at a time: a second caller waits, then finds it cached


def _tokenizer(dicts: tuple[str, ...], keep_whole: tuple[str, ...]) -> Any:
    with _LOADING:
        return _load_tokenizer(dicts, keep_whole)


@functools.lru_cache(maxsize=4)
def _load_tokenizer(dicts: tuple[str, ...], keep_whole: tuple[str, ...]) -> Any:
    import jieba  # imported here: it takes a tenth of a second, and start-up need not wait

    tokenizer = jieba.Tokenizer()
    jieba.setLogLevel(logging.WARNING)
    for path in dicts:
        tokenizer.load_userdict(path)
    for word in keep_whole:  # canonical words stay whole
        tokenizer.add_word(word, freq=20000)
    return tokenizer


class Segmenter:
    """jieba with the domain dictionary and the synonyms; one instance per process."""

    def __init__(self, content_dir: Path | None = None) -> None:
        self.synonyms = load_synonyms(content_dir)
        self._dicts = [PACKAGED_DIR / "userdict.txt"]
        if content_dir is not None and (content_dir / "userdict.txt").is_file():
            self._dicts.append(content_dir / "userdict.txt")
        # Canonical words match themselves, so 抑郁 (a variant) never rewrites 抑郁情绪.
        words = sorted({*self.synonyms, *self.synonyms.values()}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(w) for w in words)) if words else None

    @property
    def _jieba(self) -> Any:
        # Loading jieba's dictionary takes a second or two: done on the first search, once per
        # process for the same dictionaries, so start-up and most tests never pay for it.
        return _tokenizer(tuple(str(p) for p in self._dicts),
                          tuple(sorted(set(self.synonyms.values()))))

    def normalise(self, text: str) -> str:
        """Lower-case and replace every variant by its canonical word (longest first)."""
        text = text.lower()
        if self._pattern is None:
            return text
        return self._pattern.sub(lambda m: self.synonyms.get(m[0], m[0]), text)

    def words(self, text: str) -> list[str]:
        """Meaningful words of ``text`` (search mode: long words and their parts)."""
        return [w for w in self._jieba.lcut_for_search(self.normalise(text))
                if _WORD.search(w) and w.strip() and w not in STOPWORDS]

    def terms(self, text: str) -> Counter[str]:
        """Words plus ``~``-prefixed character bigrams of every Chinese run."""
        counts = Counter(self.words(text))
        for run in _CJK.findall(self.normalise(text)):
            counts.update("~" + run[i:i + 2] for i in range(len(run) - 1))
        return counts


@dataclass(frozen=True)
class Hit:
    """One search result."""

    slug: str
    score: float


class SearchIndex:
    """BM25 over weighted bags of terms, one bag per article."""

    def __init__(self, segmenter: Segmenter, articles: Iterable[Article]) -> None:
        self.segmenter = segmenter
        self._bags: dict[str, dict[str, float]] = {}
        # The words of each article's title, tags and summary: what it is about.
        self._heads: dict[str, set[str]] = {}
        self._lengths: dict[str, float] = {}
        df: Counter[str] = Counter()
        for art in articles:
            fields = {"title": art.meta.title, "tags": " ".join(art.meta.tags),
                      "summary": art.meta.summary, "body": art.body}
            bag: dict[str, float] = {}
            for name, text in fields.items():
                for term, n in segmenter.terms(text).items():
                    bag[term] = bag.get(term, 0.0) + n * FIELD_WEIGHTS[name]
            self._bags[art.slug] = bag
            head = " ".join((art.meta.title, " ".join(art.meta.tags), art.meta.summary))
            self._heads[art.slug] = set(segmenter.words(head))
            self._lengths[art.slug] = sum(bag.values())
            df.update(bag.keys())
        count = max(len(self._bags), 1)
        self._avg = sum(self._lengths.values()) / count if self._bags else 1.0
        self._idf = {t: math.log(1 + (count - n + 0.5) / (n + 0.5)) for t, n in df.items()}

    def search(self, query: str, allowed: set[str] | None = None, limit: int = 5) -> list[Hit]:
        """The best matches first; ``allowed`` limits the slugs considered."""
        wanted = self.segmenter.terms(query)
        if not wanted:
            return []
        hits = []
        for slug, bag in self._bags.items():
            if allowed is not None and slug not in allowed:
                continue
            norm = K1 * (1 - B + B * self._lengths[slug] / self._avg)
            score = 0.0
            for term in wanted:
                tf = bag.get(term)
                if tf:
                    weight = BIGRAM_WEIGHT if term.startswith("~") else 1.0
                    score += weight * self._idf[term] * tf * (K1 + 1) / (tf + norm)
            if score > 0:
                hits.append(Hit(slug, score))
        hits.sort(key=lambda h: (-h.score, h.slug))
        # An article about the word beats one that mentions it in passing (失眠 finds the sleep
        # article, not 失恋 whose body says 睡不好): when some articles are about a query word,
        # the rest are dropped.
        words = {t for t in wanted if not t.startswith("~")}
        about = [h for h in hits if words & self._heads[h.slug]]
        if about:
            hits = about
        # Far weaker matches (a shared bigram deep in a body) are noise beside a strong one.
        return [h for h in hits if h.score >= RELATIVE_CUTOFF * hits[0].score][:limit]
