"""The learned crisis classifier at run time: numpy and jieba only, no scikit-learn.

The model file (``xinqiao/data/crisis/model.npz``, written by ``xinqiao crisis train``) is a
zip of plain numpy arrays, read with ``allow_pickle=False``: the vocabulary, the idf weights,
one linear model over every category of every level (format 2: a level's probability is the sum
of its categories'), and the thresholds chosen by cross-validation. Format 1 (the d4692c3 model)
had a three-level model beside a category model; it is still read, for comparisons.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections import Counter
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xinqiao.services.crisis_language.corpus import CATEGORIES, LEVEL_OF, LEVELS
from xinqiao.services.crisis_language.text import features

if TYPE_CHECKING:  # numpy is imported where used: start-up need not wait for it (issue 18)
    import numpy as np
    from numpy.typing import NDArray

MODEL_SOURCE = "xinqiao/data/crisis/model.npz"
FORMAT = 2
_ARRAYS = ("vocab", "idf", "category_coef", "category_intercept", "categories", "meta")
_LEVEL_ARRAYS = ("level_coef", "level_intercept")  # format 1 only
_FIXED_TIME = (2026, 1, 1, 0, 0, 0)  # zip entries carry no build time: same model, same bytes


class CrisisModelError(ValueError):
    """A model file that cannot be used; the message names the file."""


@dataclass(frozen=True)
class Thresholds:
    """``crisis``: P(crisis) at or above it alerts; ``ask``: P(crisis) + P(concern) at or above
    it, short of an alert, makes the bot ask (the concern level)."""

    crisis: float
    ask: float


@dataclass(frozen=True)
class Verdict:
    """The model's reading of one message."""

    level: str | None  # "crisis", "concern" or None
    probabilities: dict[str, float]
    category: str  # the likeliest non-``none`` category
    token: str  # the feature that pushed hardest towards the level (an explanation)

    @property
    def score(self) -> float:
        """P(crisis) for a crisis, P(crisis) + P(concern) otherwise."""
        p = self.probabilities
        return p["crisis"] if self.level == "crisis" else p["crisis"] + p["concern"]


@dataclass(frozen=True)
class ModelArrays:
    """Everything in a model file, as trained."""

    vocab: list[str]
    idf: NDArray[np.float64]
    category_coef: NDArray[np.float64]  # (C, V): every category of every level (format 2)
    category_intercept: NDArray[np.float64]
    categories: list[str]
    thresholds: Thresholds
    meta: dict[str, Any]
    # Format 1 only: a three-level model (rows in LEVELS order); its categories are not none.
    level_coef: NDArray[np.float64] | None = None
    level_intercept: NDArray[np.float64] | None = None


def write_model(arrays: ModelArrays, path: Path) -> None:
    """Write ``arrays`` (format 2) as a pickle-free .npz; same arrays give the same bytes."""
    import numpy as np

    if arrays.level_coef is not None:
        raise CrisisModelError("only format 2 models (one category model) are written")
    meta = {**arrays.meta, "format": FORMAT, "thresholds": {
        "crisis": arrays.thresholds.crisis, "ask": arrays.thresholds.ask}}
    named: dict[str, NDArray[Any]] = {
        "vocab": np.array(arrays.vocab, dtype=np.str_),
        "idf": arrays.idf.astype(np.float32),
        "category_coef": arrays.category_coef.astype(np.float32),
        "category_intercept": arrays.category_intercept.astype(np.float32),
        "categories": np.array(arrays.categories, dtype=np.str_),
        "meta": np.array(json.dumps(meta, sort_keys=True, ensure_ascii=False), dtype=np.str_),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in _ARRAYS:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, named[name], allow_pickle=False)
            info = zipfile.ZipInfo(name + ".npy", date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, buf.getvalue())


def read_model(path: Path | None = None) -> ModelArrays:
    """The packaged model, or the one in ``path``; a bad file raises CrisisModelError."""
    import numpy as np

    source = str(path) if path is not None else MODEL_SOURCE
    try:
        raw = (path.read_bytes() if path is not None else
               resources.files("xinqiao.data").joinpath("crisis", "model.npz").read_bytes())
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            if meta.get("format") not in (1, FORMAT):
                raise CrisisModelError(f"{source}: format {meta.get('format')!r}, "
                                       f"need 1 or {FORMAT}")
            names = _ARRAYS + (_LEVEL_ARRAYS if meta["format"] == 1 else ())
            got = {name: npz[name] for name in names}
        vocab = [str(v) for v in got["vocab"]]
        level = {k: got[k].astype(np.float64) for k in _LEVEL_ARRAYS if k in got}
        arrays = ModelArrays(
            vocab, got["idf"].astype(np.float64), got["category_coef"].astype(np.float64),
            got["category_intercept"].astype(np.float64),
            [str(c) for c in got["categories"]],
            Thresholds(float(meta["thresholds"]["crisis"]), float(meta["thresholds"]["ask"])),
            meta, level.get("level_coef"), level.get("level_intercept"))
    except CrisisModelError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CrisisModelError(f"{source}: cannot read the model: {exc}") from exc
    v = len(vocab)
    levels_ok = arrays.level_coef is None or arrays.level_coef.shape == (len(LEVELS), v)
    if arrays.idf.shape != (v,) or not levels_ok or (
            arrays.category_coef.shape != (len(arrays.categories), v)):
        raise CrisisModelError(f"{source}: array shapes do not match a vocabulary of {v}")
    if arrays.level_coef is None and any(c not in LEVEL_OF for c in arrays.categories):
        raise CrisisModelError(f"{source}: unknown categories in {arrays.categories}")
    return arrays


class CrisisModel:
    """Scores messages with a trained model; safe to share between tasks."""

    def __init__(self, arrays: ModelArrays) -> None:
        import numpy as np

        self.arrays = arrays
        self.thresholds = arrays.thresholds
        self._index = {tok: i for i, tok in enumerate(arrays.vocab)}
        # Format 2: which level each category belongs to, to sum categories into levels.
        self._members = np.array([[LEVEL_OF.get(c) == level for c in arrays.categories]
                                  for level in LEVELS], dtype=np.float64)
        self._none = self._members[0] > 0

    @classmethod
    def load(cls, path: Path | None = None) -> CrisisModel:
        """The packaged model, or the one in ``path``."""
        return cls(read_model(path))

    def vector(self, text: str) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """The message's sparse tf-idf vector (sublinear tf, L2-normalised), as sklearn's."""
        import numpy as np

        counts = Counter(self._index[t] for t in features(text) if t in self._index)
        if not counts:
            return np.zeros(0, dtype=np.intp), np.zeros(0)
        idx = np.fromiter(counts.keys(), dtype=np.intp, count=len(counts))
        tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64,
                         count=len(counts))
        vals = tf * self.arrays.idf[idx]
        return idx, vals / float(np.sqrt(vals @ vals))

    def probabilities(self, text: str) -> dict[str, float]:
        """P(level) for each of none, concern, crisis."""
        return self._probabilities(*self.vector(text))

    def _probabilities(self, idx: NDArray[np.intp], vals: NDArray[np.float64]
                       ) -> dict[str, float]:
        a = self.arrays
        if a.level_coef is None or a.level_intercept is None:
            return self._level_sums(self._category_probabilities(idx, vals))
        return dict(zip(LEVELS, _softmax(a.level_coef[:, idx] @ vals + a.level_intercept),
                        strict=True))

    def _category_probabilities(self, idx: NDArray[np.intp], vals: NDArray[np.float64]
                                ) -> NDArray[np.float64]:
        import numpy as np

        a = self.arrays
        return np.array(_softmax(a.category_coef[:, idx] @ vals + a.category_intercept))

    def _level_sums(self, cat_probs: NDArray[np.float64]) -> dict[str, float]:
        return dict(zip(LEVELS, (float(x) for x in self._members @ cat_probs), strict=True))

    def decide(self, probs: dict[str, float]) -> str | None:
        """The level the thresholds give these probabilities."""
        if probs["crisis"] >= self.thresholds.crisis:
            return "crisis"
        if probs["crisis"] + probs["concern"] >= self.thresholds.ask:
            return "concern"
        return None

    def read(self, text: str) -> Verdict:
        """Level, probabilities, category and the most telling feature of ``text``."""
        import numpy as np

        a = self.arrays
        idx, vals = self.vector(text)
        if a.level_coef is not None:
            return self._read_format_1(idx, vals)
        cat_probs = self._category_probabilities(idx, vals)
        probs = self._level_sums(cat_probs)
        level = self.decide(probs)
        if not len(idx):
            return Verdict(level, probs, "", "")
        # The likeliest category of the level decided (of any level but none, short of one).
        allowed = ~self._none if level is None else self._members[LEVELS.index(level)] > 0
        cat = int(np.argmax(np.where(allowed, cat_probs, -1.0)))
        rival = int(np.argmax(np.where(self._none, cat_probs, -1.0)))
        # Pushing towards that category, against the likeliest ``none`` reading.
        push = (a.category_coef[cat, idx] - a.category_coef[rival, idx]) * vals
        return Verdict(level, probs, a.categories[cat], a.vocab[int(idx[int(np.argmax(push))])])

    def _read_format_1(self, idx: NDArray[np.intp], vals: NDArray[np.float64]) -> Verdict:
        import numpy as np

        a = self.arrays
        assert a.level_coef is not None
        probs = self._probabilities(idx, vals)
        level = self.decide(probs)
        if not len(idx):
            return Verdict(level, probs, "", "")
        cat_scores = a.category_coef[:, idx] @ vals + a.category_intercept
        if level is not None:  # the likeliest category of the level decided
            allowed = set(CATEGORIES[level])
            cat_scores = np.where([c in allowed for c in a.categories], cat_scores, -np.inf)
        cat = a.categories[int(np.argmax(cat_scores))]
        # Pushing towards the level found (or towards "not none"), against "none".
        row = LEVELS.index(level) if level is not None else LEVELS.index("crisis")
        push = (a.level_coef[row, idx] - a.level_coef[0, idx]) * vals
        return Verdict(level, probs, cat, a.vocab[int(idx[int(np.argmax(push))])])


def _softmax(z: NDArray[np.float64]) -> list[float]:
    import numpy as np

    e = np.exp(z - z.max())
    return [float(x) for x in e / e.sum()]
