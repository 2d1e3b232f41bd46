"""Screening instruments: packaged PHQ-9/GAD-7/ASQ, bands, risk rules, parsing, loader errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from xinqiao.services.forms.schema import Scale
from xinqiao.services.instruments import (
    PACKAGED_DIR,
    Instrument,
    InstrumentError,
    load_instrument,
    load_instruments,
    next_item,
    parse_answer,
    score,
)
from xinqiao.storage.models import Tier

DATA = Path(__file__).parent / "data" / "instruments"
BUILTIN = load_instruments(None)
PHQ9, GAD7, ASQ = BUILTIN["phq9"], BUILTIN["gad7"], BUILTIN["asq"]


def _scale(instrument: Instrument) -> Scale:
    assert instrument.scale is not None
    return instrument.scale


def _spread(instrument: Instrument, total: int) -> dict[str, int]:
    """Answers reaching ``total`` over the scored items, filled front to back, q9 kept at 0."""
    answers = {f.key: 0 for f in instrument.fields if f.show_if is None}
    order = [k for k in answers if k != "q9"] + (["q9"] if "q9" in answers else [])
    left = total
    for key in order:
        answers[key] = min(_scale(instrument).max, left)
        left -= answers[key]
    assert left == 0
    return answers


def test_packaged_instruments_load() -> None:
    assert set(BUILTIN) == {"phq9", "gad7", "asq"}
    assert [len(i.fields) for i in (PHQ9, GAD7, ASQ)] == [9, 7, 5]
    assert PHQ9.total_range() == (0, 27) and GAD7.total_range() == (0, 21)
    assert PHQ9.timeframe == GAD7.timeframe == "过去两周"
    q9 = PHQ9.field("q9")
    assert q9 is not None and q9.prompt == "有不如死掉或用某种方式伤害自己的念头"
    assert [s.id for s in BUILTIN.values() if s.offer_order] == ["gad7", "phq9"]


# --- bands ------------------------------------------------------------------------------

PHQ9_BANDS = [
    (0, "minimal", Tier.routine, False),
    (4, "minimal", Tier.routine, False),
    (5, "mild", Tier.routine, False),
    (9, "mild", Tier.routine, False),
    (10, "moderate", Tier.key, True),
    (14, "moderate", Tier.key, True),
    (15, "moderately_severe", Tier.key, True),
    (19, "moderately_severe", Tier.key, True),
    (20, "severe", Tier.key, True),
    (27, "severe", Tier.key, True),
]


@pytest.mark.parametrize(("total", "band", "tier", "positive"), PHQ9_BANDS)
def test_phq9_band_boundaries(total: int, band: str, tier: Tier, positive: bool) -> None:
    answers = _spread(PHQ9, total)
    if total == 27:
        assert answers["q9"] == 3
    result = score(PHQ9, answers)
    assert (result.total, result.band, result.positive, result.acute) == (
        total,
        band,
        positive,
        False,
    )
    assert result.tier is tier
    assert result.followups == (("asq",) if answers["q9"] else ())
    assert "筛查" in result.message and "诊断" in result.message


GAD7_BANDS = [
    (0, "minimal", Tier.routine, False),
    (4, "minimal", Tier.routine, False),
    (5, "mild", Tier.routine, False),
    (9, "mild", Tier.routine, False),
    (10, "moderate", Tier.key, True),
    (14, "moderate", Tier.key, True),
    (15, "severe", Tier.key, True),
    (21, "severe", Tier.key, True),
]


@pytest.mark.parametrize(("total", "band", "tier", "positive"), GAD7_BANDS)
def test_gad7_band_boundaries(total: int, band: str, tier: Tier, positive: bool) -> None:
    result = score(GAD7, _spread(GAD7, total))
    assert (result.total, result.band, result.positive) == (total, band, positive)
    assert result.tier is tier and not result.acute and result.followups == ()


def test_a_screen_shows_no_score_and_a_questionnaire_shows_its_own() -> None:
    assert PHQ9.score_text(9) == "9 分（满分 27 分）"
    assert GAD7.score_text(0) == "0 分（满分 21 分）"
    assert not ASQ.scoring.shown and ASQ.score_text(1) is None  # read by its result alone


def test_band_labels_do_not_diagnose() -> None:
    for inst in BUILTIN.values():
        for band in inst.bands:
            assert "筛查" in band.message, (inst.id, band.id)
            assert not band.label.endswith(("抑郁", "焦虑", "抑郁症", "焦虑症")), band.label


# --- risk rules -------------------------------------------------------------------------


@pytest.mark.parametrize("q9", [1, 2, 3])
def test_phq9_item9_triggers_asq_even_with_low_total(q9: int) -> None:
    answers = {f"q{n}": 0 for n in range(1, 10)} | {"q9": q9}
    result = score(PHQ9, answers)
    assert result.total == q9 and result.band == "minimal"
    assert result.followups == ("asq",)
    assert result.tier is Tier.key and not result.positive and not result.acute


def test_phq9_item9_zero_means_no_followup() -> None:
    assert score(PHQ9, _spread(PHQ9, 12)).followups == ()


def test_asq_all_no_is_negative_and_q5_not_asked() -> None:
    answers: dict[str, int] = {}
    asked = []
    while (item := next_item(ASQ, answers)) is not None:
        asked.append(item.key)
        answers[item.key] = 0
    assert asked == ["q1", "q2", "q3", "q4"]
    result = score(ASQ, answers)
    assert (result.band, result.positive, result.acute, result.tier) == (
        "negative",
        False,
        False,
        Tier.routine,
    )


@pytest.mark.parametrize("which", ["q1", "q2", "q3", "q4"])
@pytest.mark.parametrize("answer", [1, 2])  # yes, or refusal
def test_asq_any_yes_asks_q5(which: str, answer: int) -> None:
    answers = {k: (answer if k == which else 0) for k in ("q1", "q2", "q3", "q4")}
    item = next_item(ASQ, answers)
    assert item is not None and item.key == "q5"
    with pytest.raises(ValueError, match="unanswered"):
        score(ASQ, answers)
    result = score(ASQ, answers | {"q5": 0})
    assert result.positive and not result.acute
    assert result.band == "positive" and result.tier is Tier.key


@pytest.mark.parametrize("q5", [1, 2])  # yes, or refusal (treated as acute until assessed)
def test_asq_q5_yes_is_acute(q5: int) -> None:
    result = score(ASQ, {"q1": 1, "q2": 0, "q3": 0, "q4": 0, "q5": q5})
    assert result.acute and result.positive and result.tier is Tier.crisis


def test_asq_answer_to_unasked_q5_is_rejected() -> None:
    with pytest.raises(ValueError, match="should not have been asked"):
        score(ASQ, {"q1": 0, "q2": 0, "q3": 0, "q4": 0, "q5": 1})


def test_score_rejects_bad_values_and_unknown_items() -> None:
    with pytest.raises(ValueError, match="outside the scale"):
        score(GAD7, _spread(GAD7, 0) | {"q1": 4})
    with pytest.raises(ValueError, match="unknown"):
        score(GAD7, _spread(GAD7, 0) | {"q8": 0})


def test_next_item_walks_in_order() -> None:
    assert next_item(PHQ9, {}) == PHQ9.fields[0]
    assert next_item(PHQ9, {"q1": 0, "q2": 3}) == PHQ9.fields[2]
    assert next_item(PHQ9, _spread(PHQ9, 3)) is None


# --- parsing free text ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("完全不会", 0),
        ("没有", 0),
        ("0", 0),
        ("０", 0),
        (" 好几天 ", 1),
        ("有几天", 1),
        ("1", 1),
        ("一半以上的天数", 2),
        ("一半以上时间", 2),
        ("2。", 2),
        ("几乎每天", 3),
        ("几乎每一天！", 3),
        ("3", 3),
        ("Nearly every day", 3),
        ("not at all", 0),
    ],
)
def test_parse_frequency_answers(text: str, value: int) -> None:
    assert parse_answer(PHQ9, "q1", text) == value
    assert parse_answer(GAD7, "q7", text) == value


@pytest.mark.parametrize("text", ["", "  ", "4", "偶尔", "经常", "hmm", "12"])
def test_parse_not_understood(text: str) -> None:
    assert parse_answer(PHQ9, "q3", text) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("是", 1),
        ("是的", 1),
        ("有", 1),
        ("否", 0),
        ("没有", 0),
        ("不是", 0),
        ("不想回答", 2),
        ("1", None),
        ("0", None),
        ("可能吧", None),
    ],
)
def test_parse_asq_answers(text: str, value: int | None) -> None:
    assert parse_answer(ASQ, "q1", text) == value


def test_parse_unknown_item_is_an_error() -> None:
    with pytest.raises(ValueError, match="no item"):
        parse_answer(PHQ9, "q10", "0")


# --- loader errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "words"),
    [
        ("bad_band_gap.toml", "bands", "gap"),
        ("bad_band_overlap.toml", "bands", "overlaps"),
        ("bad_option_values.toml", "scale.options", "do not match scale 0..3"),
        ("bad_rule_item.toml", "rules.0.when", "unknown field 's9'"),
        ("bad_ask_if.toml", "fields.0.show_if", "unknown earlier field 's3'"),
        ("bad_alias.toml", "scale.options.1.aliases", "already means another value"),
        ("bad_missing_field.toml", "intro", "a questionnaire needs one"),
        ("bad_syntax.toml", "cannot read", ""),
    ],
)
def test_loader_errors_name_file_and_field(name: str, field: str, words: str) -> None:
    with pytest.raises(InstrumentError) as info:
        load_instrument(DATA / name)
    message = str(info.value)
    assert message.startswith(str(DATA / name)), message
    assert field in message and words in message, message


def _content(tmp_path: Path, *names: str) -> Path:
    (tmp_path / "forms").mkdir()
    for name in names:
        shutil.copy(DATA / name, tmp_path / "forms" / name)
    return tmp_path


def test_centre_instrument_loads_from_content_dir(tmp_path: Path) -> None:
    found = load_instruments(_content(tmp_path, "good_centre.toml"))
    assert set(found) == {"phq9", "gad7", "asq", "sleep3"}
    result = score(found["sleep3"], {"s1": 2, "s2": 2, "s3": 1})
    assert (result.band, result.positive, result.followups) == ("high", True, ("phq9",))


def test_content_dir_without_instruments_folder(tmp_path: Path) -> None:
    assert set(load_instruments(tmp_path)) == {"phq9", "gad7", "asq"}


def test_malformed_centre_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match=r"bad_band_gap\.toml: bands"):
        load_instruments(_content(tmp_path, "good_centre.toml", "bad_band_gap.toml"))


def test_centre_followup_to_unknown_instrument_rejected(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError, match=r"bad_rule_followup\.toml: rules\.0\.followup"):
        load_instruments(_content(tmp_path, "bad_rule_followup.toml"))


def test_centre_clash_with_builtin_needs_replaces(tmp_path: Path) -> None:
    with pytest.raises(InstrumentError) as info:
        load_instruments(_content(tmp_path, "bad_clash.toml"))
    assert "bad_clash.toml: id: 'phq9'" in str(info.value)
    assert "replaces = true" in str(info.value)


def test_centre_may_replace_builtin_on_purpose(tmp_path: Path) -> None:
    (tmp_path / "instruments").mkdir()  # the folder centres used before forms/ is still read
    text = (PACKAGED_DIR / "phq9.toml").read_text(encoding="utf-8")
    text = text.replace('version = "1"', 'version = "centre-7"\nreplaces = true')
    text = text.replace("at_least = 10", "at_least = 7")
    (tmp_path / "instruments" / "phq9.toml").write_text(text, encoding="utf-8")
    phq9 = load_instruments(tmp_path)["phq9"]
    assert phq9.version == "centre-7"
    assert score(phq9, _spread(phq9, 7)).positive


def test_replaces_without_builtin_rejected(tmp_path: Path) -> None:
    (tmp_path / "instruments").mkdir()
    text = (DATA / "good_centre.toml").read_text(encoding="utf-8")
    path = tmp_path / "instruments" / "sleep.toml"
    path.write_text(text.replace('version = "1"', 'version = "1"\nreplaces = true'), "utf-8")
    with pytest.raises(InstrumentError, match=r"sleep\.toml: replaces"):
        load_instruments(tmp_path)


def test_two_centre_files_with_one_id_rejected(tmp_path: Path) -> None:
    content = _content(tmp_path, "good_centre.toml")
    shutil.copy(DATA / "good_centre.toml", content / "forms" / "z_copy.toml")
    with pytest.raises(InstrumentError, match=r"z_copy\.toml: id: 'sleep3' is already defined"):
        load_instruments(content)


# --- properties -------------------------------------------------------------------------


@st.composite
def complete_answers(draw: st.DrawFn, inst: Instrument) -> dict[str, int]:
    """A complete, valid answer set, asked the way a chat would ask it."""
    answers: dict[str, int] = {}
    values = st.integers(_scale(inst).min, _scale(inst).max)
    while (item := next_item(inst, answers)) is not None:
        answers[item.key] = draw(values)
    return answers


@pytest.mark.parametrize("inst_id", sorted(BUILTIN))
def test_score_never_raises_and_stays_in_bounds(inst_id: str) -> None:
    inst = BUILTIN[inst_id]
    low, high = inst.total_range()

    @given(complete_answers(inst))
    def check(answers: dict[str, int]) -> None:
        result = score(inst, answers)
        assert low <= result.total <= high
        assert result.band in {b.id for b in inst.bands}
        assert not result.acute or result.tier is Tier.crisis
        assert set(result.followups) <= set(BUILTIN)

    check()
