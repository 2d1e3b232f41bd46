"""Training the crisis model (``xinqiao crisis train``): scikit-learn, fixed seeds.

scikit-learn is needed here only; the service reads the result with numpy (model.py).
Thresholds come from leave-one-writer-out predictions (train on all writers' batches but one,
score that one), the honest estimate of how the model meets words nobody wrote for it.

One logistic regression learns every category of every level, each category weighted as much
as any other; a level's probability is the sum of its categories'. Learning "an innocent
practical question" (everyday) apart from "a question about means", rather than one ``none``
class holding topic talk, jokes and errands alike, is what cut false alerts on everyday
questions (the third training round, README "The crisis model"). ``fit_levels`` keeps the first
model's three-level training, for comparing against it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from xinqiao.services.crisis_language.corpus import CATEGORIES, LEVEL_OF, LEVELS, Example
from xinqiao.services.crisis_language.model import ModelArrays, Thresholds
from xinqiao.services.crisis_language.text import features

if TYPE_CHECKING:
    from xinqiao.services.crisis_language.detector import LengthGuard

SEED = 14
C_CATEGORY = 10.0
C_LEVEL = 10.0  # format 1 (the d4692c3 model) only
MIN_DF = 2
# What the thresholds must keep on leave-one-writer-out predictions, rules included (a margin
# under the targets: staff alerts on topic talk <= 0.10, on everyday hyperbole <= 0.05).
# Everyday errands (train times, a medicine's dose, a roof for a photo) were the main false
# alerts end to end: at most 4% of them may alert (below the round-3 model's 4.1%).
MAX_ALERT = {"topic": 0.05, "hyperbole": 0.03, "everyday": 0.04}
# Alerted or asked: an unanswered question becomes an alert after ten minutes, so a joke that is
# asked about is nearly an alert. Everyday replies typed mid-booking or mid-exercise
# that get the concern question: at most 10% flagged; lower costs more than one crisis message
# per kind (round 4, README "The crisis model").
MAX_FLAGGED = {"hyperbole": 0.06, "topic": 0.06, "hypothetical": 0.08, "past_other": 0.12,
               "everyday": 0.10}
RECALL_CAP = 0.95  # past this, per-category recall buys nothing over fewer false alerts
_GRID = [round(x, 3) for x in np.arange(0.10, 0.951, 0.01)]
ALL_CATEGORIES = [c for level in LEVELS for c in CATEGORIES[level]]


def _vectoriser() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=MIN_DF, norm="l2",
                           smooth_idf=True, dtype=np.float64)


def _logistic(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000, class_weight="balanced", random_state=SEED,
                              solver="lbfgs")


@dataclass(frozen=True)
class Fitted:
    """A fitted vectoriser and model (of levels, or of categories summed into levels)."""

    vectoriser: Any
    model: Any
    by_category: bool = True

    def probabilities(self, texts: Sequence[str]) -> NDArray[np.float64]:
        """P(none, concern, crisis) per text, in LEVELS order."""
        p = np.asarray(self.model.predict_proba(self.vectoriser.transform(texts)))
        if not self.by_category:
            return p
        level = [LEVELS.index(LEVEL_OF[ALL_CATEGORIES[int(k)]]) for k in self.model.classes_]
        out = np.zeros((len(p), len(LEVELS)))
        for col, lv in enumerate(level):
            out[:, lv] += p[:, col]
        return out


def fit_categories(examples: Sequence[Example], c: float = C_CATEGORY) -> Fitted:
    """The vectoriser and the model of every category on ``examples`` (the current model)."""
    vec = _vectoriser()
    x = vec.fit_transform([e.text for e in examples])
    y = np.array([ALL_CATEGORIES.index(e.category) for e in examples])
    return Fitted(vec, _logistic(c).fit(x, y))


def fit_levels(examples: Sequence[Example], c: float = C_LEVEL) -> Fitted:
    """The vectoriser and the three-level model on ``examples``: the d4692c3 model's training."""
    vec = _vectoriser()
    x = vec.fit_transform([e.text for e in examples])
    y = np.array([LEVELS.index(e.level) for e in examples])
    return Fitted(vec, _logistic(c).fit(x, y), by_category=False)


def out_of_fold(examples: Sequence[Example], groups: Sequence[Any],
                fit: Callable[[Sequence[Example]], Fitted] = fit_categories
                ) -> NDArray[np.float64]:
    """P(levels) for every example from a model that did not see its group."""
    out = np.zeros((len(examples), len(LEVELS)))
    for g in sorted(set(groups)):
        train = [e for e, h in zip(examples, groups, strict=True) if h != g]
        test = [i for i, h in enumerate(groups) if h == g]
        out[test] = fit(train).probabilities([examples[i].text for i in test])
    return out


def writer_groups(examples: Sequence[Example]) -> list[str]:
    """The leave-one-writer-out group of each example: its writer's batch. A file that is no
    writer's batch (bot_everyday.tsv) is dealt out over the writers' groups in turn, so every
    fold trains on most of it, as the final model does."""
    writers = sorted({e.batch for e in examples if e.batch.startswith("batch_")})
    out, n = [], 0
    for e in examples:
        if e.batch in writers or not writers:
            out.append(e.batch)
        else:
            out.append(writers[n % len(writers)])
            n += 1
    return out


def stratified_folds(examples: Sequence[Example], k: int = 5) -> list[int]:
    """A fold number per example, stratified by category, seeded."""
    from sklearn.model_selection import StratifiedKFold

    folds = [0] * len(examples)
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=SEED)
    cats = [e.category for e in examples]
    for n, (_, test) in enumerate(skf.split(np.zeros(len(cats)), cats)):
        for i in test:
            folds[i] = n
    return folds


@dataclass(frozen=True)
class Marks:
    """What the rules say of each message, as CrisisDetector.check combines them with the
    model: an alert (hard), a veiled phrase that asks at least (soft), and the length the
    detector counts (0: nothing the model can read)."""

    hard: NDArray[np.bool_]
    soft: NDArray[np.bool_]
    length: NDArray[np.int_]


def rule_marks(examples: Sequence[Example], probs: NDArray[np.float64]) -> Marks:
    """The rules' marks on ``examples`` given the model's probabilities (a rule hit may be
    vetoed by a model sure of ``none``)."""
    from xinqiao.services.crisis_language.detector import CrisisDetector, rule_stands

    rules = CrisisDetector(learned=False)
    n = len(examples)
    marks = Marks(np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, np.int_))
    for i, e in enumerate(examples):
        hit = rules.check(e.text)
        marks.length[i] = length = rules.length(e.text)
        if hit is not None and (length == 0 or rule_stands(hit, probs[i, 0], length)):
            (marks.soft if hit.category == "veiled" else marks.hard)[i] = True
    return marks


def flags(probs: NDArray[np.float64], t: Thresholds, marks: Marks, guard: LengthGuard
          ) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """Alerted, and asked (concern, not alerted), per message: the detector's decision from
    the rules' marks, the model's probabilities under ``t`` and the length guard."""
    readable = marks.length > 0
    model_crisis = (probs[:, 2] >= t.crisis) & readable
    model_ask = (probs[:, 1] + probs[:, 2] >= t.ask) & readable & ~model_crisis
    short_alert, short_ask = marks.length <= guard.alert, marks.length <= guard.ask
    ruled = marks.hard | marks.soft
    # A rule hit is not guarded: a veiled phrase takes the model's level, concern at least.
    alert = marks.hard | (marks.soft & model_crisis) | (~ruled & model_crisis & ~short_alert)
    asked = ~alert & (marks.soft | (~ruled & ((model_crisis & short_alert)
                                               | (model_ask & ~short_ask))))
    return alert, asked


def choose_thresholds(examples: Sequence[Example], probs: NDArray[np.float64],
                      marks: Marks | None = None, guard: LengthGuard | None = None
                      ) -> Thresholds:
    """The thresholds under which the worst-caught category of crisis or concern is caught
    best (alerted or asked, up to RECALL_CAP), then explicit messages alerted most, then
    crisis messages alerted most, while flags on hard negatives stay within the limits."""
    n = len(examples)
    marks = marks if marks is not None else Marks(
        np.zeros(n, bool), np.zeros(n, bool), np.full(n, 100, np.int_))
    guard = guard if guard is not None else _guard()
    cats = np.array([e.category for e in examples])
    of = {c: cats == c for c in ALL_CATEGORIES if (cats == c).any()}
    flagged_cats = [c for level in ("crisis", "concern") for c in CATEGORIES[level] if c in of]
    crisis_cats = [c for c in CATEGORIES["crisis"] if c in of]
    best: tuple[tuple[float, float, float], Thresholds] | None = None
    for tc in _GRID:
        for ta in _GRID:
            if ta > tc:
                break
            alert, asked = flags(probs, Thresholds(tc, ta), marks, guard)
            if any(alert[of[c]].mean() > lim for c, lim in MAX_ALERT.items() if c in of):
                break  # ta only changes the asked, never the alerted
            flagged = alert | asked
            if any(flagged[of[c]].mean() > lim for c, lim in MAX_FLAGGED.items() if c in of):
                continue
            key = (min(RECALL_CAP, min(float(flagged[of[c]].mean()) for c in flagged_cats)),
                   float(alert[of["explicit"]].mean()) if "explicit" in of else 0,
                   float(np.mean([alert[of[c]].mean() for c in crisis_cats])))
            if best is None or key > best[0]:
                best = (key, Thresholds(float(tc), float(ta)))
    return best[1] if best is not None else Thresholds(0.95, 0.95)


def _guard() -> LengthGuard:
    from xinqiao.services.crisis_language.detector import GUARD

    return GUARD


def train(examples: Sequence[Example], thresholds: Thresholds | None = None) -> ModelArrays:
    """The full model on ``examples``; thresholds from leave-one-writer-out unless given."""
    if thresholds is None:
        probs = out_of_fold(examples, writer_groups(examples))
        thresholds = choose_thresholds(examples, probs, rule_marks(examples, probs))
    fitted = fit_categories(examples)
    vec = fitted.vectoriser
    return ModelArrays(
        vocab=[str(t) for t in vec.get_feature_names_out()],
        idf=np.asarray(vec.idf_, dtype=np.float64),
        category_coef=np.asarray(fitted.model.coef_, dtype=np.float64),
        category_intercept=np.asarray(fitted.model.intercept_, dtype=np.float64),
        categories=[ALL_CATEGORIES[int(i)] for i in fitted.model.classes_],
        thresholds=thresholds,
        meta={"examples": len(examples), "batches": sorted({e.batch for e in examples}),
              "c_category": C_CATEGORY, "min_df": MIN_DF, "seed": SEED})


def combined(examples: Sequence[Example], probs: NDArray[np.float64],
             thresholds: Thresholds | None = None, guard: LengthGuard | None = None
             ) -> tuple[list[str | None], Thresholds]:
    """The detector's level per example (rules, model, length guard) from the given
    probabilities, with thresholds chosen on them unless given: cross-validated figures."""
    marks = rule_marks(examples, probs)
    guard = guard if guard is not None else _guard()
    t = thresholds or choose_thresholds(examples, probs, marks, guard)
    alert, asked = flags(probs, t, marks, guard)
    return ["crisis" if a else "concern" if k else None
            for a, k in zip(alert, asked, strict=True)], t


def rates(examples: Sequence[Example], levels: Sequence[str | None]
          ) -> dict[str, tuple[int, float, float]]:
    """Per category: count, share alerted (crisis) and share alerted or asked."""
    out: dict[str, tuple[int, float, float]] = {}
    for cat in sorted({e.category for e in examples}):
        got = [lv for e, lv in zip(examples, levels, strict=True) if e.category == cat]
        out[cat] = (len(got), got.count("crisis") / len(got),
                    sum(lv is not None for lv in got) / len(got))
    return out
