"""Evaluate the crisis-language detector on the labelled set, and measure its speed.

Prints precision, recall and F1 on tests/data/crisis_labelled.tsv, every false positive and false
negative (with the rule that fired), a breakdown by rule, and messages per second on ordinary and
on long (10,000-character) messages.

    .venv/bin/python bench/crisis_eval.py [--data FILE] [--rules FILE] [--seconds 2]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from xinqiao.services.crisis_detector import (
    CrisisDetector,
    Detection,
    load_rules,
    read_labelled,
)

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "crisis_labelled.tsv"


def describe(hit: Detection | None) -> str:
    """A detection in one short line."""
    if hit is None:
        return "-"
    who = "other" if hit.third_party else "self"
    return f"{hit.rule_id} [{hit.category}/{hit.severity}/{who}] {hit.matched!r}"


def rate(detector: CrisisDetector, messages: list[str], seconds: float) -> float:
    """Messages checked per second, over at least ``seconds``."""
    done, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        for message in messages:
            detector.check(message)
        done += len(messages)
    return done / elapsed


def main() -> None:
    """Run the evaluation and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--rules", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    detector = CrisisDetector(load_rules(args.rules))
    rows = read_labelled(args.data)
    results = [(label, text, detector.check(text)) for label, text in rows]
    tp = sum(1 for label, _, hit in results if label == 1 and hit is not None)
    fp = [(text, hit) for label, text, hit in results if label == 0 and hit is not None]
    fn = [text for label, text, hit in results if label == 1 and hit is None]
    precision = tp / (tp + len(fp)) if tp + len(fp) else 0.0
    recall = tp / (tp + len(fn)) if tp + len(fn) else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    positives = sum(1 for label, _ in rows if label == 1)

    print(f"labelled set: {len(rows)} messages, {positives} positive, {len(rows) - positives} not")
    print(f"precision {precision:.3f}  recall {recall:.3f}  F1 {f1:.3f}  "
          f"(TP {tp}, FP {len(fp)}, FN {len(fn)})")
    print(f"\nfalse positives ({len(fp)}):")
    for text, hit in fp:
        print(f"  {text}\n      {describe(hit)}")
    print(f"\nfalse negatives ({len(fn)}):")
    for text in fn:
        print(f"  {text}")
    by_rule = Counter(hit.rule_id for _, _, hit in results if hit is not None)
    print("\ndetections by rule:")
    for rule_id, count in by_rule.most_common():
        print(f"  {count:4d}  {rule_id}")

    texts = [text for _, text in rows]
    rng = random.Random(25)
    alphabet = "".join({c for t in texts for c in t}) + " ，。!?😭"
    long = ["".join(rng.choices(alphabet, k=10_000)) for _ in range(5)]
    print(f"\nspeed: {rate(detector, texts, args.seconds):,.0f} messages/s "
          f"(labelled set, mean {sum(map(len, texts)) / len(texts):.0f} chars)")
    per_long = 1000 / rate(detector, long, args.seconds / 2)
    print(f"       {per_long:.1f} ms per 10,000-character message of random characters "
          "drawn from the set")


if __name__ == "__main__":
    main()
