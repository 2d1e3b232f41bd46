"""Checks on a scored form's scale and bands and on an exercise, and how answers are compared."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Protocol

_NOISE = re.compile(r"[\s\"'“”‘’「」。．.，,！!？?；;：:、~～]+")


class _ScaleOption(Protocol):
    @property
    def value(self) -> int: ...
    @property
    def label(self) -> str: ...
    @property
    def aliases(self) -> tuple[str, ...]: ...


class _Band(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def min(self) -> int: ...
    @property
    def max(self) -> int: ...


def known(used: Sequence[str], names: Sequence[str], where: str, what: str) -> None:
    """Raise naming ``where`` when ``used`` holds a name not among ``names``."""
    unknown = [u for u in used if u not in names]
    if unknown:
        raise ValueError(f"{where}: unknown {what} {', '.join(map(repr, unknown))}")


def normalise(text: str) -> str:
    """A typed answer without width, punctuation, spaces or case."""
    return _NOISE.sub("", unicodedata.normalize("NFKC", text)).casefold()


def words(option: _ScaleOption, digits: bool) -> list[str]:
    """Every text that means this option: its label, aliases and (if allowed) its digit."""
    return [option.label, *option.aliases, *([str(option.value)] if digits else [])]


def check_scale(low: int, high: int, digits: bool, options: Sequence[_ScaleOption]) -> None:
    """Each value of the scale exactly once, and no word meaning two values."""
    values = sorted(o.value for o in options)
    wanted = list(range(low, high + 1))
    if values != wanted:
        raise ValueError(f"scale.options: values {values} do not match scale {low}..{high}"
                         f" (need each of {wanted} exactly once)")
    seen: dict[str, int] = {}
    for n, option in enumerate(options):
        for word in words(option, digits):
            key = normalise(word)
            if not key:
                raise ValueError(f"scale.options.{n}: empty label or alias")
            if seen.get(key, option.value) != option.value:
                part = "label" if word == option.label else "aliases"
                raise ValueError(f"scale.options.{n}.{part}: {word!r} already means another value")
            seen[key] = option.value


def check_bands(bands: Sequence[_Band], low: int, high: int) -> None:
    """Bands cover every total ``low..high`` once, without gaps or overlaps."""
    ordered = sorted(bands, key=lambda b: b.min)
    if len({b.id for b in ordered}) != len(ordered):
        raise ValueError("bands: band ids repeat")
    expect, before = low, ""
    for band in ordered:
        where = f"bands ({band.id!r} {band.min}..{band.max})"
        if band.min > band.max:
            raise ValueError(f"{where}: min is above max")
        if band.min > expect:
            raise ValueError(f"{where}: gap, totals {expect}..{band.min - 1} have no band")
        if band.min < expect:
            what = (f"overlaps band {before!r}" if before
                    else f"starts below the lowest total {low}")
            raise ValueError(f"{where}: {what}")
        expect, before = band.max + 1, band.id
    if expect != high + 1:
        raise ValueError(f"bands: must cover totals {low}..{high}, they end at {expect - 1}")


def check_exercise(kinds: Sequence[str], intro: str, done_given: bool) -> None:
    """An exercise is read steps only, with an intro page and its own closing words."""
    for n, kind in enumerate(kinds):
        if kind != "read":
            raise ValueError(f"fields.{n}.kind: an exercise's steps are all 'read' (not '{kind}')")
    if not intro:
        raise ValueError("intro: an exercise needs one, shown before its first step")
    if not done_given:
        raise ValueError("done: an exercise needs its closing words")
