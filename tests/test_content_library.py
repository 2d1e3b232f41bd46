"""The article library: front matter validated with clear errors, publish windows, hot reload."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from xinqiao.services.content.article import ContentError
from xinqiao.services.content.library import ContentLibrary
from xinqiao.services.content.search import load_synonyms
from xinqiao.services.content.service import Content, load_recommendations

NOW = datetime(2026, 9, 8, 4, 0, tzinfo=UTC)
GOOD = """+++
title = "考前一晚睡不着"
topic = "sleep"
tags = ["失眠", "考试"]
summary = "中心老师写给考试周的你。"
+++

## 试试这样

先深呼吸。
"""


def _centre(tmp_path: Path, files: dict[str, str]) -> Path:
    articles = tmp_path / "content" / "articles"
    articles.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (articles / name).write_text(text, encoding="utf-8")
    return tmp_path / "content"


def _error(tmp_path: Path, text: str, name: str = "bad-one.md") -> str:
    with pytest.raises(ContentError) as caught:
        ContentLibrary(_centre(tmp_path, {name: text}))
    return str(caught.value)


def test_the_packaged_library_is_valid_and_covers_every_topic() -> None:
    library = ContentLibrary(None)
    articles = library.articles()
    assert len(articles) >= 20
    topics = {a.meta.topic for a in articles.values()}
    assert topics == {t.id for t in library.topics}
    assert sum(a.meta.kind == "tip" for a in articles.values()) >= 4
    assert all(a.body and a.meta.summary for a in articles.values())
    crisis = articles["crisis-lines"].body
    assert "12356" in crisis and "110" in crisis and "120" in crisis  # clinical.md §6


def test_the_packaged_data_files_are_consistent() -> None:
    library = ContentLibrary(None)
    recommendations = load_recommendations(None, set(library.articles()))
    assert set(recommendations) == {"phq9", "gad7", "asq"}
    synonyms = load_synonyms(None)
    assert synonyms["睡不着"] == "失眠" and synonyms["压力大"] == "压力"
    assert synonyms["紧张"] == "焦虑"


@pytest.mark.parametrize(("text", "field"), [
    (GOOD.replace('title = "考前一晚睡不着"\n', ""), "title: Field required"),
    (GOOD.replace('topic = "sleep"', 'topic = "gossip"'), "topic: 'gossip' is not one of"),
    (GOOD.replace('tags = ["失眠", "考试"]', "tags = []"), "tags:"),
    (GOOD.replace('summary = "中心老师写给考试周的你。"', 'summary = ""'), "summary:"),
    (GOOD.replace("+++\n\n", 'audience = ["dean"]\n+++\n\n', 1), "audience:"),
    (GOOD.replace("+++\n\n", 'cover = "javascript:alert(1)"\n+++\n\n', 1), "cover:"),
    (GOOD.replace("+++\n\n", 'colour = "red"\n+++\n\n', 1), "colour: Extra inputs"),
    (GOOD.replace("+++\n\n", 'kind = "poem"\n+++\n\n', 1), "kind:"),
    (GOOD.replace("+++\n\n", "publish_from = 2026-10-01\npublish_until = 2026-09-01\n+++\n\n",
                  1), "publish_until: is before publish_from"),
    (GOOD.replace('title = "考前一晚睡不着"', 'title = "考前'), "front matter: not valid TOML"),
    (GOOD[4:], "front matter: the file must start with a '+++' line"),
    (GOOD.replace("+++\n\n##", "\n##"), "front matter: no closing '+++' line"),
    (GOOD.split("## 试试")[0], "body: the article has no text"),
])
def test_a_bad_article_is_refused_naming_the_file_and_the_field(
    tmp_path: Path, text: str, field: str
) -> None:
    message = _error(tmp_path, text)
    assert "bad-one.md: " in message
    assert field in message


def test_a_bad_file_name_is_refused(tmp_path: Path) -> None:
    assert "Bad Name.md: slug:" in _error(tmp_path, GOOD, name="Bad Name.md")


def test_a_centre_article_may_replace_a_packaged_one_only_when_it_says_so(tmp_path: Path) -> None:
    message = _error(tmp_path, GOOD, name="sleep-basics.md")
    assert "slug: 'sleep-basics' is already defined" in message
    assert "set replaces = true" in message
    replacing = GOOD.replace("+++\n\n", "replaces = true\n+++\n\n", 1)
    library = ContentLibrary(_centre(tmp_path, {"sleep-basics.md": replacing}))
    assert library.articles()["sleep-basics"].title == "考前一晚睡不着"


def test_a_centre_article_joins_the_library_and_search(tmp_path: Path) -> None:
    content = Content(_centre(tmp_path, {"exam-night.md": GOOD}), "https://x.edu.cn/")
    assert content.library.get("exam-night", NOW) is not None
    assert content.url("exam-night") == "https://x.edu.cn/articles/exam-night"
    assert "exam-night" in [a.slug for a in content.search("考前睡不着", NOW)]


def test_the_publish_window_hides_an_article_before_and_after(tmp_path: Path) -> None:
    windowed = GOOD.replace(
        "+++\n\n", "publish_from = 2026-10-01\npublish_until = 2026-10-07\n+++\n\n", 1)
    library = ContentLibrary(_centre(tmp_path, {"golden-week.md": windowed}))
    assert library.get("golden-week", datetime(2026, 9, 30, 15, 59, tzinfo=UTC)) is None
    assert library.get("golden-week", datetime(2026, 9, 30, 16, 0, tzinfo=UTC)) is not None
    assert library.get("golden-week", datetime(2026, 10, 7, 15, 59, tzinfo=UTC)) is not None
    assert library.get("golden-week", datetime(2026, 10, 7, 16, 0, tzinfo=UTC)) is None
    # The 5·25 festival notice is packaged with next May's window.
    assert library.get("festival-525", NOW) is None
    assert library.get("festival-525", datetime(2027, 5, 20, tzinfo=UTC)) is not None


def _touch(path: Path, text: str, stamp: int) -> None:
    path.write_text(text, encoding="utf-8")
    os.utime(path, ns=(stamp, stamp))  # a distinct mtime even on a coarse filesystem clock


def test_hot_reload_picks_up_changes_and_keeps_the_last_good_version(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    centre = _centre(tmp_path, {})
    library = ContentLibrary(centre, reload_seconds=0)
    assert library.get("exam-night", NOW) is None
    path = centre / "articles" / "exam-night.md"
    _touch(path, GOOD, 1_000_000_000)
    assert library.get("exam-night", NOW) is not None  # added without a restart
    _touch(path, GOOD.replace("考前一晚睡不着", "考前一晚，睡不着也没关系"), 2_000_000_000)
    art = library.get("exam-night", NOW)
    assert art is not None and art.title == "考前一晚，睡不着也没关系"
    with caplog.at_level(logging.ERROR, logger="xinqiao.services.content.library"):
        _touch(path, GOOD.replace('topic = "sleep"', 'topic = "gossip"'), 3_000_000_000)
        art = library.get("exam-night", NOW)
    assert art is not None and art.title == "考前一晚，睡不着也没关系"  # the last good one
    assert any("exam-night.md: topic" in r.getMessage() for r in caplog.records)
    version = library.version
    library.refresh()
    assert library.version == version  # an unchanged broken file is not re-read every time
    path.unlink()
    assert library.get("exam-night", NOW) is None


def test_reload_is_checked_at_most_every_n_seconds(tmp_path: Path) -> None:
    centre = _centre(tmp_path, {})
    library = ContentLibrary(centre, reload_seconds=3600)
    library.articles()
    _touch(centre / "articles" / "exam-night.md", GOOD, 1_000_000_000)
    assert "exam-night" not in library.articles()  # not yet: the check is throttled
    assert library.refresh(force=True)
    assert "exam-night" in library.articles()
