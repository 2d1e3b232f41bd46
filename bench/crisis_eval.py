"""Evaluate the crisis detector (rules plus the learned model) and measure its speed.

Prints, on the shipped corpus: per level precision/recall and per category the share alerted
(crisis) and alerted-or-asked (crisis or concern), from stratified 5-fold cross-validation and
from leave-one-writer-out (train on all writers but one, score that one: the honest figure);
then the old rules' labelled set (tests/data/crisis_labelled.tsv, never trained on), rules
alone and combined; then messages per second on one core. ``--blind FILE`` instead scores a
blind batch (same TSV format, written after the model was frozen) with the packaged model only.

    .venv/bin/python bench/crisis_eval.py [--skip-cv] [--seconds 2]
    .venv/bin/python bench/crisis_eval.py --blind batch_blind.tsv [--model OLD.npz]
    .venv/bin/python bench/crisis_eval.py --others batch_about_others.tsv [--model OLD.npz]
    .venv/bin/python bench/crisis_eval.py --compare /tmp/old_model.npz
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xinqiao.services.crisis_language import train as crisis_train
from xinqiao.services.crisis_language.corpus import (
    CATEGORIES,
    LEVELS,
    Example,
    load_corpus,
    load_tsv,
)
from xinqiao.services.crisis_language.detector import (
    GUARD,
    CrisisDetector,
    Detection,
    LengthGuard,
    read_labelled,
)
from xinqiao.services.crisis_language.model import CrisisModel

OLD_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "crisis_labelled.tsv"
CRISIS_KINDS = CATEGORIES["crisis"]
SHORT_LINE = 6  # characters (letters, digits, CJK): a reply typed in the middle of something
# The detector as frozen at 920c048 (round 4) and e3aace2 (round 5): a model-only crisis in 4
# characters or fewer is asked about instead, a model-only concern in 3 or fewer is let go.
# --compare scores the old model with it (and with the current rules).
OLD_GUARD = LengthGuard(alert=4, ask=3)
# Everyday messages about somebody else (a report of ordinary worrying behaviour): a person word.
OTHER_PERSON = re.compile(r"室友|舍友|同学|她|他|朋友|学生|女生|男生|roommate|friend|classmate|"
                          r"\b(?:she|he|her|him)\b", re.IGNORECASE)


def level_table(examples: Sequence[Example], levels: Sequence[str | None]) -> None:
    """Precision and recall per level, per category alerted / asked / alerted-or-asked, then
    what ordinary messages cost: everyday alerted and asked, overall and when short."""
    for level in ("crisis", "concern", "none"):
        got = [(e.level, lv or "none") for e, lv in zip(examples, levels, strict=True)]
        tp = sum(1 for want, have in got if want == have == level)
        said = sum(1 for _, have in got if have == level)
        true = sum(1 for want, _ in got if want == level)
        print(f"  {level:8} precision {tp / said if said else 0:.3f}  "
              f"recall {tp / true if true else 0:.3f}  (n={true})")
    flagged_true = sum(1 for e, lv in zip(examples, levels, strict=True)
                       if e.level != "none" and lv is not None)
    print(f"  crisis or concern → alerted or asked: "
          f"{flagged_true / sum(e.level != 'none' for e in examples):.3f}")
    print(f"  {'category':15} {'n':>4}  alerted    asked  alerted-or-asked")
    for cat, (n, alerted, flagged) in crisis_train.rates(examples, levels).items():
        print(f"  {cat:15} {n:4}  {alerted:7.3f}  {flagged - alerted:7.3f}  {flagged:7.3f}")
    everyday_cost(examples, levels)


def everyday_cost(examples: Sequence[Example], levels: Sequence[str | None]) -> None:
    """Everyday messages alerted and asked (the concern question), overall and in SHORT_LINE
    characters or fewer; and how the short crisis and concern lines fare."""
    rules = CrisisDetector(learned=False)
    short = [rules.length(e.text) <= SHORT_LINE for e in examples]

    def share(keep: Sequence[bool], level: str) -> str:
        got = [lv for lv, k in zip(levels, keep, strict=True) if k]
        return f"{got.count(level) / len(got) if got else 0:.3f} ({got.count(level)}/{len(got)})"

    every = [e.category == "everyday" for e in examples]
    brief = [a and b for a, b in zip(every, short, strict=True)]
    print(f"  everyday alerted {share(every, 'crisis')}, asked {share(every, 'concern')}; "
          f"<= {SHORT_LINE} characters: alerted {share(brief, 'crisis')}, "
          f"asked {share(brief, 'concern')}")
    risky = [e.level != "none" and s for e, s in zip(examples, short, strict=True)]
    missed = [e for e, lv, k in zip(examples, levels, risky, strict=True) if k and lv is None]
    print(f"  crisis and concern lines <= {SHORT_LINE} characters: "
          f"{sum(risky) - len(missed)}/{sum(risky)} alerted or asked; missed: "
          + (", ".join(f"{e.text} ({e.category})" for e in missed) or "none"))


def cross_validation(examples: Sequence[Example]) -> None:
    """Stratified 5-fold and leave-one-writer-out figures (thresholds chosen on each)."""
    for name, groups in (("stratified 5-fold", crisis_train.stratified_folds(examples)),
                         ("leave-one-writer-out", crisis_train.writer_groups(examples))):
        start = time.perf_counter()
        probs = crisis_train.out_of_fold(examples, groups)
        levels, t = crisis_train.combined(examples, probs)
        print(f"\n{name} ({len(examples)} messages, thresholds crisis {t.crisis:.2f} "
              f"ask {t.ask:.2f}, {time.perf_counter() - start:.0f} s):")
        level_table(examples, levels)


def old_set(detector: CrisisDetector) -> None:
    """The rules' own labelled set: binary labels, 1 = the counsellor should see it."""
    rows = read_labelled(OLD_SET)
    rules = CrisisDetector(detector.rules, learned=False)
    print(f"\nold labelled set ({len(rows)} messages; the rules were written against it):")
    for name, check in (("rules alone", rules.check), ("rules + model", detector.check)):
        hits = [(label, check(text)) for label, text in rows]
        for what, count in (("alerted", lambda h: h is not None and h.level == "crisis"),
                            ("alerted or asked", lambda h: h is not None)):
            tp = sum(1 for label, h in hits if label == 1 and count(h))
            fp = sum(1 for label, h in hits if label == 0 and count(h))
            pos = sum(label for label, _ in hits)
            print(f"  {name:14} {what:17} precision {tp / (tp + fp) if tp + fp else 0:.3f}  "
                  f"recall {tp / pos:.3f}  (FP {fp})")


def speed(detector: CrisisDetector, texts: Sequence[str], seconds: float) -> None:
    """Messages per second through check(), after warm-up."""
    start = time.perf_counter()
    detector.warm_up()
    print(f"\nwarm-up (model + jieba): {time.perf_counter() - start:.2f} s")
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for text in texts:
            detector.check(text)
        done += len(texts)
    print(f"speed: {done / elapsed:,.0f} messages/s on one core "
          f"(corpus, mean {sum(map(len, texts)) / len(texts):.0f} chars)")


def blind(detector: CrisisDetector, path: Path) -> None:
    """The issue's acceptance figures on a blind batch, with the frozen packaged model."""
    examples = load_tsv(path)
    hits: list[Detection | None] = [detector.check(e.text) for e in examples]
    levels = [h.level if h is not None else None for h in hits]

    def share(cats: Sequence[str], test: str) -> str:
        got = [lv for e, lv in zip(examples, levels, strict=True) if e.category in cats]
        if not got:
            return "n/a (none in batch)"
        ok = sum(1 for lv in got if (lv == "crisis" if test == "alert" else lv is not None))
        return f"{ok / len(got):.3f} ({ok}/{len(got)})"

    print(f"blind batch {path} ({len(examples)} messages):")
    print(f"  explicit alerted:                {share(['explicit'], 'alert')}   target >= 0.98")
    for cat in CRISIS_KINDS:
        print(f"  {cat:15} alerted-or-asked: {share([cat], 'flag')}   target >= 0.90")
    for cat in CATEGORIES["concern"]:
        print(f"  {cat:15} asked-or-alerted: {share([cat], 'flag')}")
    print(f"  topic talk alerted:              {share(['topic'], 'alert')}   target <= 0.10")
    print(f"  hyperbole alerted:               {share(['hyperbole'], 'alert')}   target <= 0.05")
    for cat in ("hypothetical", "past_other", "everyday"):
        print(f"  {cat:15} alerted:         {share([cat], 'alert')}")
    print(f"  concern asked (or alerted):      {share(list(CATEGORIES['concern']), 'flag')}")
    print("\nper level and category:")
    level_table(examples, levels)


def others(detector: CrisisDetector, path: Path) -> None:
    """A blind batch about other people (``BRIEF_OTHERS_BLIND.md``: label alert/none, a
    category, a register, the text): per label and category the share alerted (crisis) and
    flagged (crisis or concern: about someone else, either takes the crisis path)."""
    rows = [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    counts: dict[tuple[str, str], list[int]] = {}
    for label, category, _register, text in rows:
        hit = detector.check(text)
        for key in ((label, "all"), (label, category)):
            got = counts.setdefault(key, [0, 0, 0])
            got[0] += 1
            got[1] += hit is not None and hit.level == "crisis"
            got[2] += hit is not None
    print(f"batch about others {path} ({len(rows)} messages):")
    for (label, category), (n, alerted, flagged) in sorted(counts.items()):
        print(f"  {label:5} {category:15} n={n:3}  alerted {alerted / n:.3f} ({alerted})  "
              f"flagged {flagged / n:.3f} ({flagged})")


def weak_spots(examples: Sequence[Example], levels: Sequence[str | None]) -> None:
    """The second round's weak spots: means questions caught, innocent questions alerted."""
    def alerted(keep: Sequence[bool]) -> str:
        got = [lv for lv, k in zip(levels, keep, strict=True) if k]
        return f"{got.count('crisis') / len(got):.3f} ({got.count('crisis')}/{len(got)})"

    cats = [e.category for e in examples]
    mq = [lv for c, lv in zip(cats, levels, strict=True) if c == "means_question"]
    print(f"  weak spots: means_question alerted {mq.count('crisis') / len(mq):.3f}, "
          f"alerted-or-asked {sum(lv is not None for lv in mq) / len(mq):.3f} (n={len(mq)})")
    other = [c == "everyday" and bool(OTHER_PERSON.search(e.text))
             for c, e in zip(cats, examples, strict=True)]
    print(f"    everyday alerted {alerted([c == 'everyday' for c in cats])}; about someone "
          f"else {alerted(other)}; hypothetical {alerted([c == 'hypothetical' for c in cats])}")
    tp = sum(1 for e, lv in zip(examples, levels, strict=True) if e.level == lv == "crisis")
    said, true = list(levels).count("crisis"), sum(e.level == "crisis" for e in examples)
    print(f"    crisis precision {tp / said:.3f} recall {tp / true:.3f}")


def compare(examples: Sequence[Example], old_path: Path) -> None:
    """The old frozen model beside the current training, each message scored by a model that
    never saw its writer: the old model's own writers by its own training, left one out."""
    old = CrisisModel.load(old_path)
    seen = set(old.arrays.meta["batches"])
    before = [i for i, e in enumerate(examples) if e.batch in seen]
    after = [i for i, e in enumerate(examples) if e.batch not in seen]
    start = time.perf_counter()
    probs = np.zeros((len(examples), 3))
    sub = [examples[i] for i in before]
    # Its own writers are scored by the training that made it (format 1: three levels).
    fit = crisis_train.fit_levels if old.arrays.level_coef is not None else None
    probs[before] = crisis_train.out_of_fold(sub, crisis_train.writer_groups(sub),
                                             fit or crisis_train.fit_categories)
    for i in after:
        p = old.probabilities(examples[i].text)
        probs[i] = [p[level] for level in LEVELS]
    old_levels, _ = crisis_train.combined(examples, probs, old.thresholds, OLD_GUARD)
    print(f"old model {old_path} ({old.arrays.meta['examples']} messages of "
          f"{', '.join(sorted(seen))}; thresholds crisis {old.thresholds.crisis:.2f} "
          f"ask {old.thresholds.ask:.2f}; length guard alert <= {OLD_GUARD.alert}, "
          f"ask <= {OLD_GUARD.ask}; held out: own writers by leave-one-writer-out, "
          f"{', '.join(sorted({examples[i].batch for i in after}))} as written, "
          f"{time.perf_counter() - start:.0f} s):")
    level_table(examples, old_levels)
    weak_spots(examples, old_levels)
    start = time.perf_counter()
    new_probs = crisis_train.out_of_fold(examples, crisis_train.writer_groups(examples))
    new_levels, t = crisis_train.combined(examples, new_probs)
    print(f"\nnew training, leave-one-writer-out ({len(examples)} messages, thresholds crisis "
          f"{t.crisis:.2f} ask {t.ask:.2f}, length guard alert <= {GUARD.alert}, ask <= "
          f"{GUARD.ask}, {time.perf_counter() - start:.0f} s):")
    level_table(examples, new_levels)
    weak_spots(examples, new_levels)
    for name, levels in (("old model", old_levels), ("new training", new_levels)):
        misses(examples, levels, name)


def misses(examples: Sequence[Example], levels: Sequence[str | None], name: str) -> None:
    """The crisis messages neither alerted nor asked about, by category (what they share)."""
    print(f"\n{name}: crisis messages neither alerted nor asked about")
    for cat in CRISIS_KINDS:
        got = [e for e, lv in zip(examples, levels, strict=True)
               if e.category == cat and lv is None]
        if got:
            print(f"  {cat} ({len(got)}): " + " | ".join(f"{e.text} [{e.batch}]" for e in got))


def main() -> None:
    """Run the evaluation and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blind", type=Path, default=None, help="score a blind batch only")
    parser.add_argument("--others", type=Path, default=None,
                        help="score a blind batch about others (alert/none labels) only")
    parser.add_argument("--model", type=Path, default=None,
                        help="with --blind or --others: score with this model file instead of "
                        "the packaged one (e.g. an older freeze: git show REV:xinqiao/data/"
                        "crisis/model.npz)")
    parser.add_argument("--compare", type=Path, default=None,
                        help="an older frozen model to put beside the current training")
    parser.add_argument("--skip-cv", action="store_true", help="no cross-validation")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    detector = CrisisDetector(model=CrisisModel.load(args.model) if args.model else None)
    if args.others is not None:
        others(detector, args.others)
        return
    if args.blind is not None:
        blind(detector, args.blind)
        return
    examples = load_corpus()
    if args.compare is not None:
        compare(examples, args.compare)
        return
    if not args.skip_cv:
        cross_validation(examples)
    old_set(detector)
    speed(detector, [e.text for e in examples], args.seconds)


if __name__ == "__main__":
    main()
