"""bench/crisis_webhook.py on six corpus lines: it sends them through the real callback and
classes what students and staff got, so the bench cannot rot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from xinqiao.services.crisis_language.corpus import load_tsv

CORPUS = Path(__file__).resolve().parents[1] / "xinqiao" / "data" / "crisis" / "corpus"
LINES = (3, 214, 272, 392, 516, 580)  # explicit, third party, passive, topic, hyperbole, everyday


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "bench" / "crisis_webhook.py"
    spec = importlib.util.spec_from_file_location("crisis_webhook_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("unbound", [False, True], ids=["bound", "unbound"])
async def test_six_corpus_lines_through_the_webhook(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], unbound: bool
) -> None:
    lines = (CORPUS / "batch_a.tsv").read_text(encoding="utf-8").splitlines()
    sample = tmp_path / "sample.tsv"
    sample.write_text("\n".join(lines[n - 1] for n in LINES) + "\n", encoding="utf-8")
    bench = _bench()
    examples = bench.load(sample, None, 0)
    assert [e.category for e in examples] == ["explicit", "third_party", "passive", "topic",
                                              "hyperbole", "everyday"]
    outcomes = await bench.run(examples, db_url, unbound=unbound)
    got = {o.example.category: o for o in outcomes}
    # Staff got the alert: advisor, college lead and counsellor, two centre staff for a bound
    # student; the centre alone for someone nobody knows.
    staff = 2 if unbound else 5
    for cat in ("explicit", "third_party"):
        assert (got[cat].webhook, got[cat].detector, got[cat].staff) == ("alerted", "alerted",
                                                                          staff)
    assert "12356" in got["explicit"].student[0] and "很担心你" in got["explicit"].student[0]
    assert "陪着他/她" in got["third_party"].student[0]
    # The passive wish is asked about, directly, and nobody is alerted yet.
    assert (got["passive"].webhook, got["passive"].detector, got["passive"].staff) == (
        "asked", "asked", 0)
    assert "有没有想过结束自己的生命" in got["passive"].student[0]
    for cat in ("topic", "hyperbole"):
        assert (got[cat].webhook, got[cat].detector) == ("none", "none")
    # Crying is a distress topic: the listening reply shows the hotline, no alert, no question
    # (bound or not). The bench counts it as "asked" (12356 shown) but never as a difference.
    assert (got["everyday"].webhook, got["everyday"].detector) == ("hotline", "none")
    assert "12356" in got["everyday"].student[0]

    bench.report(outcomes, "sample")
    bench.diffs(outcomes, show_text=False)
    printed = capsys.readouterr().out
    assert "explicit alerted                         1.00 ok         1.00 ok" in printed
    assert "topic talk alerted                       0.00 ok         0.00 ok" in printed
    assert "precision 1.000  recall 1.000  (alerted 2, crisis 2)" in printed
    assert printed.rstrip().endswith("where the conversation differs from the detector:")
    assert all(e.text not in printed for e in load_tsv(sample))  # never prints the texts
