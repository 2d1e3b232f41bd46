"""Crisis-language detector: intensifiers, categories, third parties, labelled set, bad files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xinqiao.services.crisis_language.detector import (
    CrisisDetector,
    CrisisRulesError,
    Detection,
    load_rules,
    read_labelled,
)

# The rules alone: the first pass and its regression set (the combined detector, rules plus
# the learned model, is tested in tests/test_crisis_model.py).
DETECTOR = CrisisDetector(load_rules(), learned=False)
LABELLED = Path(__file__).parent / "data" / "crisis_labelled.tsv"

# Thresholds on the labelled set (measured: precision 0.99, recall 0.97). They guard against
# regressions, nothing more: the rules were written against these lines, and blocks of the set
# scored blind before tuning reached only recall 0.48-0.60 (see the file's comments). The recall
# floor is the stricter one because a missed crisis costs more than a needless alert.
MIN_RECALL = 0.95
MIN_PRECISION = 0.95

INTENSIFIERS = [
    "笑死", "累死了", "热死了", "饿死", "死机", "困死", "烦死了", "吓死我了", "气死我了",
    "死记硬背", "死党", "忙死了", "冷死了", "尴尬死了", "想死你了",
    "食堂新出的米线好吃到想死", "这部番好看得要死", "抢到票了开心得想死",
]
NOT_CRISIS = [
    "笑死我了哈哈哈", "累死了，今天跑了三个实验", "热死了宿舍空调坏了", "饿死了食堂几点开门",
    "电脑又死机了", "困死了早八要命", "烦死了组会又被骂", "吓死我了有蟑螂", "气死我了快递丢了",
    "单词只能死记硬背吗", "周末和死党吃火锅", "最近忙死了", "冷死了", "尴尬死了", "宝贝我想死你了",
    "想死你们了！", "可把我想死了", "累得想死", "考试考死了", "这道题要我的命", "爱得死去活来",
    "这次挂科我就死定了", "不要在一棵树上吊死", "跳楼价大甩卖", "游乐园的跳楼机", "收藏紫砂壶",
    "考完试终于解脱了", "今天不想活动", "社死了想原地消失", "要吃安眠药才能睡着",
    "奶奶去世了家里在安排后事", "毕业了把书都送给学弟", "王者里和对面同归于尽了",
    "学校举办自杀预防讲座", "新闻说下周是预防自杀宣传周", "在读涂尔干的《自杀论》",
    "这部剧男主最后自杀了", "如果你有自杀的念头请拨打12356", "你不想活了？敢吃我零食",
    "我开玩笑的", "生无可恋脸", "我emo了", "this is killing me", "you killed it",
    "kill it tonight",
    "dying of laughter", "this cake is to die for", "Suicide Squad was bad",
    "suicide prevention week starts monday", "coach made us run suicide sprints",
]
# (text, category, third_party)
CRISIS = [
    ("我真的不想活了", "explicit", False),
    ("想自杀", "explicit", False),
    ("好想死啊", "explicit", False),
    ("我想结束自己的生命", "explicit", False),
    ("昨晚又割腕了", "explicit", False),
    ("想从图书馆顶楼跳下去", "explicit", False),
    ("我攒了一瓶安眠药", "explicit", False),
    ("我已经写好遗书了", "explicit", False),
    ("活着没意思", "explicit", False),
    ("活不下去了", "explicit", False),
    ("烦得想死", "veiled", False),  # asked, not alerted: veiled.feeling_to_die
    ("好想解脱", "veiled", False),
    ("一了百了吧", "veiled", False),
    ("要是我消失了就好了", "veiled", False),
    ("以后再也不会麻烦大家了", "veiled", False),
    ("该和这个世界告别了", "veiled", False),
    ("给大家添麻烦了，这是最后一条朋友圈，再见", "veiled", False),
    ("在安排后事了", "veiled", False),
    ("我把东西都送人了，反正以后用不上了", "veiled", False),
    ("活着好累", "veiled", False),
    ("我室友说他不想活了", "explicit", True),
    ("我朋友想自杀", "explicit", True),
    ("室友跟我说不想活了", "explicit", True),
    ("她说：“我不想活了”", "explicit", True),
    ("我舍友最近一直说活着没意思", "explicit", True),
    ("我怕她想不开", "veiled", True),
    ("听说隔壁宿舍有人跳楼了", "explicit", True),
    ("我真想杀了他", "harm_others", False),
    ("再这样下去我会跟他同归于尽", "harm_others", True),
    ("我想报复社会", "harm_others", False),
    ("i want to kill myself", "explicit", False),
    ("I want to die", "explicit", False),
    ("i don't want to live anymore", "explicit", False),
    ("i cut myself last night", "explicit", False),
    ("thinking about suicide again", "explicit", False),
    ("my roommate said she wants to kill herself", "explicit", True),
    ("my friend told me he wants to die", "explicit", True),
    ("i want to kill my roommate", "harm_others", False),
]


@pytest.mark.parametrize("text", INTENSIFIERS)
def test_intensifiers_alone_are_not_flagged(text: str) -> None:
    assert DETECTOR.check(text) is None


@pytest.mark.parametrize("text", NOT_CRISIS)
def test_everyday_language_is_not_flagged(text: str) -> None:
    assert DETECTOR.check(text) is None, DETECTOR.check(text)


@pytest.mark.parametrize(("text", "category", "third_party"), CRISIS)
def test_crisis_language_is_flagged(text: str, category: str, third_party: bool) -> None:
    hit = DETECTOR.check(text)
    assert hit is not None
    assert (hit.category, hit.third_party) == (category, third_party), hit
    assert hit.matched in text
    assert hit.rule_id


@pytest.mark.parametrize(
    "text",
    [
        "我没有想自杀",  # a denial still mentions ideation
        "我不是想死，只是好累",
        "我想死 哈哈 开玩笑的",  # a joke marker cancels nothing
        "我想死，我开玩笑的",
        "笑死我了，其实我真的想死",  # an intensifier beside a real statement
    ],
)
def test_negation_and_jokes_do_not_cancel(text: str) -> None:
    assert DETECTOR.check(text) is not None


def test_stateless_a_later_joke_changes_nothing() -> None:
    first = DETECTOR.check("不想活了")
    assert DETECTOR.check("我开玩笑的") is None
    assert DETECTOR.check("不想活了") == first


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("想 自 杀", "自 杀"),
        ("自-杀算了", "自-杀"),
        ("自😭杀", "自😭杀"),
        ("自\u200b杀", "自\u200b杀"),
        ("我想自殺", "自殺"),
        ("我想亖了", "想亖"),
        ("ｋｉｌｌ　ｍｙｓｅｌｆ", "ｋｉｌｌ　ｍｙｓｅｌｆ"),
        ("I WANT TO DIE", "WANT TO DIE"),
        ("好想zisha", "zisha"),
        ("我要紫砂了", "紫砂"),
    ],
)
def test_normalisation_finds_evasions_and_reports_original_text(text: str, matched: str) -> None:
    hit = DETECTOR.check(text)
    assert hit is not None
    assert hit.matched == matched


def test_strongest_rule_wins() -> None:
    hit = DETECTOR.check("活着好累，我攒了一瓶安眠药")
    assert hit is not None and hit.severity == 3 and hit.category == "explicit"


def test_detection_is_frozen() -> None:
    hit = DETECTOR.check("想自杀")
    assert isinstance(hit, Detection)
    with pytest.raises(dataclasses.FrozenInstanceError):
        hit.category = "veiled"  # type: ignore[misc]


def test_labelled_set_precision_and_recall() -> None:
    rows = read_labelled(LABELLED)
    positives = sum(label for label, _ in rows)
    assert len(rows) >= 300 and 0.35 <= positives / len(rows) <= 0.45
    flagged = [(label, DETECTOR.check(text) is not None) for label, text in rows]
    tp = sum(1 for label, hit in flagged if label and hit)
    fp = sum(1 for label, hit in flagged if not label and hit)
    fn = sum(1 for label, hit in flagged if label and not hit)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    print(f"\ncrisis labelled set: n={len(rows)} precision={precision:.3f} recall={recall:.3f}")
    assert recall >= MIN_RECALL
    assert precision >= MIN_PRECISION


# --- malformed rule files ---------------------------------------------------------------------

SUBJECTS = """
[subjects.zh]
window = 16
self = ["我"]
other = ["他"]
cues = ["说"]
[subjects.en]
window = 40
self = ["i"]
other = ["he"]
cues = ["said"]
"""


def rules_file(tmp_path: Path, body: str, subjects: str = SUBJECTS) -> Path:
    path = tmp_path / "crisis.toml"
    path.write_text(body + subjects, encoding="utf-8")
    return path


def test_a_minimal_custom_file_works(tmp_path: Path) -> None:
    path = rules_file(tmp_path, '[[rule]]\nid = "x"\ncategory = "explicit"\nseverity = 2\n'
                                "patterns = ['不想活']\n")
    detector = CrisisDetector(load_rules(path))
    assert detector.check("他说不想活了") == Detection("explicit", "不想活", True, "x", 2)


def test_text_a_rule_spares_is_left_to_a_weaker_rule(tmp_path: Path) -> None:
    path = rules_file(tmp_path, (
        '[[rule]]\nid = "strong"\ncategory = "explicit"\nseverity = 2\npatterns = ["想死"]\n'
        'spare = ["气到想死"]\n'
        '[[rule]]\nid = "weak"\ncategory = "veiled"\nseverity = 1\npatterns = ["到想死"]\n'))
    detector = CrisisDetector(load_rules(path), learned=False)
    assert (detector.check("气到想死") or Detection("", "", False, "")).rule_id == "weak"
    assert (detector.check("气到想死，我想死") or Detection("", "", False, "")).rule_id == "strong"


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ('category = "sad"\nseverity = 2\npatterns = ["x"]', "category"),
        ('category = "explicit"\nseverity = 9\npatterns = ["x"]', "severity"),
        ('category = "explicit"\nseverity = 2\npatterns = []', "non-empty list"),
        ('category = "explicit"\nseverity = 2\npatterns = ["(unclosed"]', "bad regex"),
        ('category = "explicit"\nseverity = 2\npatterns = ["死+"]', "unbounded"),
        ('category = "explicit"\nseverity = 2\npatterns = ["a.*b"]', "unbounded"),
        ('category = "explicit"\nseverity = 2\npatterns = ["a{2,}"]', "upper bound"),
        ('category = "explicit"\nseverity = 2\npatterns = ["a{0,500}"]', "upper bound"),
        ('category = "explicit"\nseverity = 2\npatterns = ["a?"]', "empty"),
        ('category = "explicit"\nseverity = 2\npatterns = ["x"]\nweight = 3', "unknown keys"),
        ('category = "explicit"\nseverity = 2\npatterns = ["x"]\nscript = "fr"', "script"),
        ('category = "explicit"\nseverity = 2\npatterns = ["x"]\nrequires = ["[z"]', "requires"),
        ('category = "explicit"\nseverity = 2\npatterns = ["x"]\nspare = ["y+"]', "spare"),
    ],
)
def test_malformed_rule_names_file_and_rule(tmp_path: Path, rule: str, problem: str) -> None:
    path = rules_file(tmp_path, f'[[rule]]\nid = "bad.one"\n{rule}\n')
    with pytest.raises(CrisisRulesError) as err:
        load_rules(path)
    assert str(path) in str(err.value)
    assert "'bad.one'" in str(err.value)
    assert problem in str(err.value)


def test_duplicate_ids_and_missing_subjects(tmp_path: Path) -> None:
    rule = '[[rule]]\nid = "twice"\ncategory = "veiled"\nseverity = 1\npatterns = ["x"]\n'
    with pytest.raises(CrisisRulesError, match=r"'twice'.*duplicate id"):
        load_rules(rules_file(tmp_path, rule + rule))
    with pytest.raises(CrisisRulesError, match=r"subjects\.zh: missing table"):
        load_rules(rules_file(tmp_path, rule, subjects=""))


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ("", "rule: needs at least one"),
        ('rule = "x"\n', "rule: needs at least one"),
        ("[[rule]]\nseverity = 2\n", "rule 1: needs a table with a non-empty string id"),
        ('normalise = 3\n[[rule]]\nid = "a"\n', "normalise.variants"),
        ('[normalise]\nvariants = ["abc"]\n', "normalise.variants"),
        ('exclude = 1\n[[rule]]\nid = "a"\ncategory = "veiled"\nseverity = 1\n'
         'patterns = ["x"]\n', "exclude 1"),
        ('[[exclude]]\nid = "e"\npatterns = ["x+"]\n[[rule]]\nid = "a"\ncategory = "veiled"\n'
         'severity = 1\npatterns = ["x"]\n', "exclude 1 'e' pattern 1"),
    ],
)
def test_structural_mistakes_are_named(tmp_path: Path, body: str, where: str) -> None:
    with pytest.raises(CrisisRulesError, match=re.escape(where)):
        load_rules(rules_file(tmp_path, body))


def test_unreadable_or_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(CrisisRulesError, match="cannot read"):
        load_rules(tmp_path / "absent.toml")
    with pytest.raises(CrisisRulesError, match=r"crisis\.toml: cannot read"):
        load_rules(rules_file(tmp_path, "[[rule]\nid = "))


# --- robustness ---------------------------------------------------------------------------------

# Characters the rules care about, so random text often comes close to a match.
RULE_CHARS = "我他想死杀自活不了去割跳楼药安眠解脱说：“”，。！ 　的是killmyselfdie'😭\u200b"


@given(st.text())
def test_check_never_raises_on_any_text(text: str) -> None:
    hit = DETECTOR.check(text)
    assert hit is None or hit.matched in text


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(RULE_CHARS), min_size=1, max_size=200))
def test_long_adversarial_text_is_handled(chunk: str) -> None:
    # A chunk repeated to 10,000 characters: the repetitive near-misses that make unbounded
    # patterns backtrack. Bounded patterns (the loader refuses *, + and {m,}) keep this linear;
    # bench/crisis_eval.py measures the time. Here it only has to finish with a sound answer.
    text = (chunk * (10_000 // len(chunk) + 1))[:10_000]
    hit = DETECTOR.check(text)
    assert hit is None or (hit.matched in text and hit.category in ("explicit", "veiled",
                                                                     "harm_others"))
