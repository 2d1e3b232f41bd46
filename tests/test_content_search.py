"""Search: Chinese queries as students type them find the right article first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from xinqiao.services.content.service import Content
from xinqiao.storage.models import Role

QUERIES = Path(__file__).parent / "data" / "content_queries.tsv"
NOW = datetime(2026, 10, 8, 4, 0, tzinfo=UTC)  # the 10·10 notice is published now


@pytest.fixture(scope="module")
def content() -> Content:
    """The packaged library (jieba's dictionary loads once for the module)."""
    return Content(None, "https://xinqiao.example.edu.cn")


def _queries() -> list[tuple[str, str]]:
    rows = []
    for line in QUERIES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            query, expected = line.split("\t")
            rows.append((query, expected))
    return rows


def test_top_result_precision_on_the_labelled_queries(content: Content) -> None:
    rows = _queries()
    assert len(rows) >= 30
    slugs = set(content.library.articles())
    assert {expected for _, expected in rows} <= slugs, "the query set names unknown articles"
    misses = []
    in_top3 = 0
    for query, expected in rows:
        found = [a.slug for a in content.search(query, NOW)]
        if not found or found[0] != expected:
            misses.append((query, expected, found[:3]))
        in_top3 += expected in found[:3]
    precision = 1 - len(misses) / len(rows)
    assert precision >= 0.9, f"top-1 precision {precision:.0%}; misses: {misses}"
    assert in_top3 == len(rows), "every expected article is at least in the top three"


@pytest.mark.parametrize(("variant", "canonical"), [
    ("睡不着", "失眠"), ("压力大", "压力"), ("紧张", "焦虑"), ("舍友", "室友"),
    ("社恐", "社交焦虑"),
])
def test_common_variants_find_what_the_proper_word_finds(
    content: Content, variant: str, canonical: str
) -> None:
    assert content.search(variant, NOW)[0].slug == content.search(canonical, NOW)[0].slug


def test_domain_words_stay_whole(content: Content) -> None:
    words = content.segmenter.words("考试周和室友有点抑郁情绪")
    assert {"考试周", "室友", "抑郁情绪"} <= set(words)


def test_nothing_is_found_for_unrelated_words(content: Content) -> None:
    assert content.search("天气预报", NOW) == []
    assert content.search("股票行情", NOW) == []
    assert content.search("", NOW) == []
    assert content.search("的了吗", NOW) == []


def test_unpublished_and_other_audiences_are_not_found(content: Content) -> None:
    assert all(a.slug != "festival-525" for a in content.search("心理健康节", NOW))
    may = datetime(2027, 5, 20, tzinfo=UTC)
    assert content.search("心理健康节", may)[0].slug == "festival-525"
    only_staff = [a for a in content.library.articles().values() if "*" not in a.meta.audience]
    for article in only_staff:  # a staff article never shows in a student's results
        found = content.search(article.title, NOW, frozenset({Role.student}))
        assert article.slug not in [a.slug for a in found]
