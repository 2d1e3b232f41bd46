"""The learned crisis classifier: corpus validation, reproducible training, the shipped model,
leave-one-writer-out floors, and the combined detector's levels."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from xinqiao.bot.cli import main
from xinqiao.services.crisis_language import model as crisis_model
from xinqiao.services.crisis_language import train as crisis_train
from xinqiao.services.crisis_language.corpus import CorpusError, Example, load_corpus, load_tsv
from xinqiao.services.crisis_language.detector import CrisisDetector
from xinqiao.services.crisis_language.model import (
    CrisisModel,
    CrisisModelError,
    Thresholds,
    Verdict,
    write_model,
)
from xinqiao.services.crisis_language.text import features

DETECTOR = CrisisDetector()
CORPUS = Path(__file__).resolve().parents[1] / "xinqiao" / "data" / "crisis" / "corpus"
# Leave-one-writer-out over the twenty-four writers, as frozen in round 8 (rules, model and
# length guard, bench/crisis_eval.py --compare): explicit alerted 0.990, every crisis or concern
# kind alerted-or-asked >= 0.984 (means_question 0.984, goodbye 0.987), third party 0.999,
# everyday alerted 0.038 and asked 0.056, topic 0.010, hyperbole 0.016. The limits sit a
# little beyond, so a regression fails.
LOWO_EXPLICIT_ALERTED = 0.97
LOWO_FLAGGED_FLOOR = 0.95
LOWO_THIRD_PARTY_FLAGGED = 0.98
LOWO_EVERYDAY_ALERTED = 0.045
LOWO_EVERYDAY_ASKED = 0.07
LOWO_SHORT_EVERYDAY_ASKED = 0.04  # everyday messages of 6 characters or fewer
LOWO_TOPIC_ALERTED = 0.02
LOWO_HYPERBOLE_ALERTED = 0.025


@pytest.fixture(scope="module", autouse=True)
def tokenised_once() -> Iterator[None]:
    """Each message tokenised once for the whole module: the twenty-four leave-one-writer-out
    trainings, the full one and the models' readings all tokenise the same 9,100 messages, and
    the tokens are a function of the text alone (jieba with a fixed dictionary)."""
    memo: dict[str, list[str]] = {}

    def tokens(text: str) -> list[str]:
        if (known := memo.get(text)) is None:
            known = memo[text] = features(text)
        return list(known)  # a copy: whoever reads it may not change what the next one reads

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(crisis_train, "features", tokens)
        patch.setattr(crisis_model, "features", tokens)
        yield


@pytest.fixture(scope="module")
def lowo() -> tuple[list[Example], np.ndarray]:
    """Every corpus message scored by a model that never saw its writer (the slow part: one
    training per writer, shared by the tests below)."""
    examples = load_corpus()
    return examples, crisis_train.out_of_fold(examples, crisis_train.writer_groups(examples))


def test_corpus_loads_twenty_four_writers_with_every_category() -> None:
    examples = load_corpus()
    assert len(examples) >= 9135
    assert len({e.batch for e in examples if e.batch.startswith("batch_")}) == 24
    assert {e.category for e in examples} >= {"explicit", "edge", "third_party", "topic",
                                                "hyperbole", "passive", "burden"}


@pytest.mark.parametrize(("lines", "problem"), [
    ("crisis\texplicit\tshort\t我想死\textra\n", "batch_x.tsv:1: expected 4 tab-separated"),
    ("none\ttopic\tformal\t好\nurgent\texplicit\tshort\t我想死\n", "batch_x.tsv:2: unknown level"),
    ("none\texplicit\tshort\t我想死\n", "batch_x.tsv:1: category 'explicit' is not one of"),
    ("none\ttopic\tformal\t\n", "batch_x.tsv:1: empty register or text"),
    ("none\ttopic\tf\t《自杀论》\n# note\nnone\ttopic\tf\t《自杀论》\n",
     "batch_x.tsv:3: duplicate of"),
])
def test_loading_errors_name_file_and_line(tmp_path: Path, lines: str, problem: str) -> None:
    (tmp_path / "batch_x.tsv").write_text(lines, encoding="utf-8")
    with pytest.raises(CorpusError, match=problem.replace("(", r"\(")):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match=problem.replace("(", r"\(")):
        load_tsv(tmp_path / "batch_x.tsv")


def test_duplicates_across_writers_name_both_places(tmp_path: Path) -> None:
    (tmp_path / "batch_a.tsv").write_text("none\ttopic\tf\t在读《自杀论》\n", encoding="utf-8")
    lines = "none\teveryday\tf\t好\nnone\ttopic\tf\t在读《自杀论》\n"
    (tmp_path / "batch_b.tsv").write_text(lines, encoding="utf-8")
    with pytest.raises(CorpusError, match=r"batch_b.tsv:2: duplicate of .*batch_a.tsv:1"):
        load_corpus(tmp_path)


def test_training_is_reproducible_byte_for_byte(tmp_path: Path) -> None:
    corpus = [e for e in load_corpus() if e.line % 8 == 0]  # a slice keeps the test quick
    fixed = Thresholds(0.6, 0.5)
    write_model(crisis_train.train(corpus, fixed), tmp_path / "one.npz")
    write_model(crisis_train.train(corpus, fixed), tmp_path / "two.npz")
    assert (tmp_path / "one.npz").read_bytes() == (tmp_path / "two.npz").read_bytes()


def test_packaged_model_is_what_crisis_train_writes(
        lowo: tuple[list[Example], np.ndarray]) -> None:
    # The shipped model records the batches it was trained on; it was trained on the whole
    # corpus, so `xinqiao crisis train` (thresholds from these same leave-one-writer-out
    # predictions, then the full model) gives it again.
    examples, probs = lowo
    shipped = CrisisModel.load()
    assert shipped.arrays.meta["batches"] == sorted({e.batch for e in examples})
    thresholds = crisis_train.choose_thresholds(
        examples, probs, crisis_train.rule_marks(examples, probs))
    assert thresholds == shipped.thresholds
    fresh = CrisisModel(crisis_train.train(examples, thresholds))
    assert fresh.arrays.vocab == shipped.arrays.vocab
    assert fresh.arrays.categories == shipped.arrays.categories
    texts = [e.text for e in examples]
    got = np.array([list(fresh.probabilities(t).values()) for t in texts])
    want = np.array([list(shipped.probabilities(t).values()) for t in texts])
    assert np.allclose(got, want, atol=1e-4)


def test_crisis_train_writes_a_model_the_service_reads(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for batch in ("batch_a", "batch_b", "batch_c"):  # a slice of three writers keeps it quick
        lines = (CORPUS / f"{batch}.tsv").read_text(encoding="utf-8").splitlines()
        (corpus / f"{batch}.tsv").write_text("\n".join(lines[::4]) + "\n", encoding="utf-8")
    out = tmp_path / "model.npz"
    result = CliRunner().invoke(main, ["crisis", "train", "--corpus", str(corpus),
                                       "--out", str(out)])
    assert result.exit_code == 0, result.output
    model = CrisisModel.load(out)
    assert model.arrays.meta["batches"] == ["batch_a", "batch_b", "batch_c"]
    assert f"thresholds crisis {model.thresholds.crisis:.2f}" in result.output
    probs = model.probabilities("我已经把遗书写好了，今晚就从楼顶跳下去")
    assert abs(sum(probs.values()) - 1) < 1e-6 and probs["crisis"] > probs["none"]


def test_a_broken_model_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CrisisModelError, match=str(bad)):
        CrisisModel.load(bad)


def test_leave_one_writer_out_stays_above_its_floor(
        lowo: tuple[list[Example], np.ndarray]) -> None:
    examples, probs = lowo
    levels, _ = crisis_train.combined(examples, probs)
    by = crisis_train.rates(examples, levels)
    assert by["explicit"][1] >= LOWO_EXPLICIT_ALERTED
    for cat in ("explicit", "veiled", "method", "edge", "means_question", "affairs",
                "self_harm", "third_party", "harm_others", "passive", "hopeless", "burden",
                "goodbye"):
        assert by[cat][2] >= LOWO_FLAGGED_FLOOR, (cat, by[cat])
    assert by["third_party"][2] >= LOWO_THIRD_PARTY_FLAGGED, by["third_party"]
    # Innocent practical questions and a roommate's ordinary worries: the main false alerts.
    assert by["everyday"][1] <= LOWO_EVERYDAY_ALERTED, by["everyday"]
    # Ordinary replies typed mid-booking or mid-exercise: the concern question costs them too.
    everyday = [(e, lv) for e, lv in zip(examples, levels, strict=True)
                if e.category == "everyday"]
    assert sum(lv == "concern" for _, lv in everyday) / len(everyday) <= LOWO_EVERYDAY_ASKED
    short = [lv for e, lv in everyday if DETECTOR.length(e.text) <= 6]
    assert len(short) >= 500 and short.count("concern") / len(short) <= LOWO_SHORT_EVERYDAY_ASKED
    assert by["topic"][1] <= LOWO_TOPIC_ALERTED
    assert by["hyperbole"][1] <= LOWO_HYPERBOLE_ALERTED


@pytest.mark.parametrize("text", [
    "好想死啊", "想 自 杀", "我想自杀", "自-杀算了",  # short explicit words: the rules stand
    "药我已经攒了四十多片，都藏在枕头底下",  # a method named by the object, object first
    "我现在坐在宿舍楼顶的边上",  # at an edge, no verb of jumping
    "明天之后我就不需要这个账号了",  # veiled: a date, nothing needed after it
    "我現在站在天台邊上",  # traditional characters
])
def test_the_writers_own_danger_is_a_crisis(text: str) -> None:
    hit = DETECTOR.check(text)
    assert hit is not None and hit.level == "crisis", hit
    assert not hit.third_party
    assert 0 < hit.score <= 1


@pytest.mark.parametrize("text", ["最近觉得自己就是个累赘", "要是睡着了不再醒来就好了"])
def test_a_passive_wish_or_burden_is_a_concern(text: str) -> None:
    hit = DETECTOR.check(text)
    assert hit is not None and hit.level == "concern" and hit.severity == 1, hit
    assert hit.category in ("burden", "passive")


def test_a_roommate_described_by_what_she_did_is_a_third_party_crisis() -> None:
    hit = DETECTOR.check("我室友这几天把东西都送人了，昨晚还发了一条告别的朋友圈")
    assert hit is not None and hit.level == "crisis" and hit.third_party


@pytest.mark.parametrize("text", [
    "我们社会学课在读涂尔干的《自杀论》，要写读书报告",
    "如果朋友说她想自杀，我应该怎么回应比较好",
    "这家火锅好吃到我想死哈哈哈",
    "累死了今天",
    "王者又输了一把，气到想死哈哈哈，明天再战",  # a feeling, with the game and a laugh
    "今天阳光好好",
])
def test_topic_talk_hypotheticals_and_hyperbole_are_none(text: str) -> None:
    assert DETECTOR.check(text) is None


@pytest.mark.parametrize("text", ["你好", "谢谢老师", "再见", "晚安", "没有", "我没事", "好的",
                                  "帮助", "你好，我想预约下周的咨询", "考试没考好心情很差"])
def test_what_people_say_to_the_bot_every_day_is_none(text: str) -> None:
    assert DETECTOR.check(text) is None


class _Reads(CrisisModel):
    """The packaged model's arrays, but every message read at one fixed level: the length
    guard on the model's own decisions is then all that differs between messages."""

    def __init__(self, level: str) -> None:
        super().__init__(CrisisModel.load().arrays)
        self.level = level

    def read(self, text: str) -> Verdict:
        crisis = 0.9 if self.level == "crisis" else 0.1
        probs = {"none": 0.05, "concern": 0.95 - crisis, "crisis": crisis}
        return Verdict(self.level, probs, "passive" if self.level == "concern" else "veiled", "")


@pytest.mark.parametrize(("level", "text", "want"), [
    # Three characters or fewer: too little for the model alone to ask about …
    ("concern", "收到啦", None),
    ("concern", "ok 👌", None),
    # … but a model-only crisis there is still asked about, one step down, never dropped.
    ("crisis", "收到啦", "concern"),
    ("crisis", "那就这样", "concern"),  # four: asked, not alerted (as before)
    ("concern", "那就这样", "concern"),  # four characters: the model's concern stands
    ("crisis", "那就这样吧", "crisis"),  # five: the model alone may alert
])
def test_the_model_alone_is_trusted_less_on_very_short_replies(
        level: str, text: str, want: str | None) -> None:
    hit = CrisisDetector(model=_Reads(level)).check(text)
    assert (hit.level if hit is not None else None) == want, hit


@pytest.mark.parametrize("text", ["想死", "自杀", "割腕"])
def test_a_rule_hit_in_a_few_characters_is_never_guarded(text: str) -> None:
    # Whatever the model says, the rules' risk words alert at any length.
    hit = CrisisDetector(model=_Reads("concern")).check(text)
    assert hit is not None and hit.level == "crisis", hit


@pytest.mark.parametrize("text", [
    "你们以后就不用再为我操心了，明天过后一切都结束了",
    "你们不用找我了，我已经决定好了",
])
def test_a_farewell_addressed_to_its_readers_is_not_read_as_a_story(text: str) -> None:
    # "你们" is who a goodbye speaks to; the rules treat 你 as banter or a story's character,
    # and the model path used to drop such a signal altogether.
    found = DETECTOR.check(text)
    assert found is not None and found.level == "crisis", found


@pytest.mark.parametrize("text", ["剧里男主最后自杀了", "新闻说有人跳河了",
                                  "你们这周的作业交了吗"])
def test_stories_the_news_and_questions_to_the_class_stay_none(text: str) -> None:
    assert DETECTOR.check(text) is None
