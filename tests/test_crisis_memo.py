"""The crisis detector's memo of quiet texts (issue 18): a repeated short quiet text is cheap,
crisis wording is read afresh every time, and no verdict changes — not for a corpus line, not
for a second sender."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from tests.network_world import make_world
from xinqiao.clock import FakeClock
from xinqiao.services.crisis_language.corpus import load_corpus
from xinqiao.services.crisis_language.detector import (
    MEMO_CHARS,
    CrisisDetector,
    load_rules,
    read_labelled,
)
from xinqiao.services.crisis_language.model import CrisisModel, Verdict
from xinqiao.settings import Settings
from xinqiao.storage.db import Database
from xinqiao.storage.reports import Escalation

LABELLED = Path(__file__).parent / "data" / "crisis_labelled.tsv"


class CountingModel(CrisisModel):
    """The shipped model, counting how often it is asked to read a message."""

    reads = 0

    def read(self, text: str) -> Verdict:
        """The shipped verdict, counted."""
        self.reads += 1
        return super().read(text)


def test_every_corpus_line_gets_the_same_verdict_from_the_memo() -> None:
    fresh = CrisisDetector(memo=0)
    memoised = CrisisDetector(fresh.rules, fresh.model)
    texts = [e.text for e in load_corpus()] + [t for _, t in read_labelled(LABELLED)]
    # Near-duplicates that normalise alike but quote differently (full width, traditional).
    texts += ["想自杀", "想自殺", "想 自 杀", "ＷＡＮＴ　ＴＯ　ＤＩＥ", "want to die", "菜单",
              "菜單"]
    assert sum(len(t) <= MEMO_CHARS for t in texts) > 1000
    for text in texts:
        expected = fresh.check(text)
        assert memoised.check(text) == expected, text  # first time: computed and kept
        assert memoised.check(text) == expected, text  # the repeat: from the memo
    assert memoised.check("想自殺") != memoised.check("想自杀")  # matched quotes the original


def test_a_repeated_menu_word_is_read_once_and_crisis_words_every_time() -> None:
    model = CountingModel(CrisisModel.load().arrays)
    detector = CrisisDetector(load_rules(), model)
    for _ in range(100):
        assert detector.check("菜单") is None
    assert model.reads == 1
    words = "没意思，我不想活了"  # short, but crisis wording is never remembered
    assert len(words) <= MEMO_CHARS
    for n in range(3):
        hit = detector.check(words)
        assert hit is not None and hit.level == "crisis"
        assert model.reads == 2 + n
    long_text = "这学期课很多，实验报告一份接一份，室友也都各忙各的"
    assert len(long_text) > MEMO_CHARS  # too long to keep: read every time
    for _ in range(3):
        assert detector.check(long_text) is None
    assert model.reads == 7


def test_swapped_rules_are_not_answered_from_the_old_memo(tmp_path: Path) -> None:
    detector = CrisisDetector(learned=False)
    assert detector.check("今晚吃火锅") is None  # quiet under the shipped rules: remembered
    path = tmp_path / "crisis.toml"
    path.write_text('[[rule]]\nid = "x"\ncategory = "explicit"\nseverity = 2\n'
                    "patterns = ['火锅']\n[subjects.zh]\nwindow = 16\nself = ['我']\n"
                    "other = ['他']\ncues = ['说']\n[subjects.en]\nwindow = 40\n"
                    "self = ['i']\nother = ['he']\ncues = ['said']\n", encoding="utf-8")
    detector.rules = load_rules(path)
    hit = detector.check("今晚吃火锅")
    assert hit is not None and hit.rule_id == "x"


async def test_the_same_crisis_words_from_two_students_alert_for_each(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    world = await make_world(db, clock, settings)
    words = "我真的撑不下去了，不想活了"
    first = await world.chat("s1").say(words)
    second = await world.chat("i1").say(words)  # the same text: the verdict from the memo
    again = await world.chat("s1").say(words)   # and the first student once more
    for answer in (first, second, again):
        assert "很担心你" in answer and "12356" in answer
    async with db.session() as s:
        escalations = (await s.exec(select(Escalation))).all()
    assert {e.severity for e in escalations} == {"crisis"}
    assert len(escalations) == 2  # one open crisis item per student, as without the memo
