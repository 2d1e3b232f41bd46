"""The learned crisis classifier at run time: numpy and jieba only, no scikit-learn.

The model file (``xinqiao/data/crisis/model.npz``, written by ``xinqiao crisis train``) is a
zip of plain numpy arrays, read with ``allow_pickle=False``: the vocabulary, the idf weights,
a linear model over three levels (none / concern / crisis), a second one that names the
category of a message that is not ``none``, and the thresholds chosen by cross-validation.
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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xinqiao.services.crisis_corpus import CATEGORIES, LEVELS
from xinqiao.services.crisis_text import features

MODEL_SOURCE = "xinqiao/data/crisis/model.npz"
FORMAT = 1
_ARRAYS = ("vocab", "idf", "level_coef", "level_intercept", "category_coef",
           "category_intercept", "categories", "meta")
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
    level_coef: NDArray[np.float64]  # (3, V), rows in LEVELS order
    level_intercept: NDArray[np.float64]
    category_coef: NDArray[np.float64]  # (C, V)
    category_intercept: NDArray[np.float64]
    categories: list[str]
    thresholds: Thresholds
    meta: dict[str, Any]


def write_model(arrays: ModelArrays, path: Path) -> None:
    """Write ``arrays`` as an uncompressed-pickle-free .npz; same arrays give the same bytes."""
    meta = {**arrays.meta, "format": FORMAT, "thresholds": {
        "crisis": arrays.thresholds.crisis, "ask": arrays.thresholds.ask}}
    named: dict[str, NDArray[Any]] = {
        "vocab": np.array(arrays.vocab, dtype=np.str_),
        "idf": arrays.idf.astype(np.float32),
        "level_coef": arrays.level_coef.astype(np.float32),
        "level_intercept": arrays.level_intercept.astype(np.float32),
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
    source = str(path) if path is not None else MODEL_SOURCE
    try:
        raw = (path.read_bytes() if path is not None else
               resources.files("xinqiao.data").joinpath("crisis", "model.npz").read_bytes())
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            got = {name: npz[name] for name in _ARRAYS}
        meta = json.loads(str(got["meta"]))
        if meta.get("format") != FORMAT:
            raise CrisisModelError(f"{source}: format {meta.get('format')!r}, need {FORMAT}")
        vocab = [str(v) for v in got["vocab"]]
        arrays = ModelArrays(
            vocab, got["idf"].astype(np.float64), got["level_coef"].astype(np.float64),
            got["level_intercept"].astype(np.float64),
            got["category_coef"].astype(np.float64),
            got["category_intercept"].astype(np.float64),
            [str(c) for c in got["categories"]],
            Thresholds(float(meta["thresholds"]["crisis"]), float(meta["thresholds"]["ask"])),
            meta)
    except CrisisModelError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise CrisisModelError(f"{source}: cannot read the model: {exc}") from exc
    v = len(vocab)
    if arrays.idf.shape != (v,) or arrays.level_coef.shape != (len(LEVELS), v) or (
            arrays.category_coef.shape != (len(arrays.categories), v)):
        raise CrisisModelError(f"{source}: array shapes do not match a vocabulary of {v}")
    return arrays


class CrisisModel:
    """Scores messages with a trained model; safe to share between tasks."""

    def __init__(self, arrays: ModelArrays) -> None:
        self.arrays = arrays
        self.thresholds = arrays.thresholds
        self._index = {tok: i for i, tok in enumerate(arrays.vocab)}

    @classmethod
    def load(cls, path: Path | None = None) -> CrisisModel:
        """The packaged model, or the one in ``path``."""
        return cls(read_model(path))

    def vector(self, text: str) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """The message's sparse tf-idf vector (sublinear tf, L2-normalised), as sklearn's."""
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
        return dict(zip(LEVELS, _softmax(self._scores(idx, vals)), strict=True))

    def _scores(self, idx: NDArray[np.intp], vals: NDArray[np.float64]) -> NDArray[np.float64]:
        a = self.arrays
        return np.asarray(a.level_coef[:, idx] @ vals + a.level_intercept)

    def decide(self, probs: dict[str, float]) -> str | None:
        """The level the thresholds give these probabilities."""
        if probs["crisis"] >= self.thresholds.crisis:
            return "crisis"
        if probs["crisis"] + probs["concern"] >= self.thresholds.ask:
            return "concern"
        return None

    def read(self, text: str) -> Verdict:
        """Level, probabilities, category and the most telling feature of ``text``."""
        a = self.arrays
        idx, vals = self.vector(text)
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
    e = np.exp(z - z.max())
    return [float(x) for x in e / e.sum()]
