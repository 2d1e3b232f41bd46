"""Screening instruments as data: load and validate them, parse answers, ask, and score.

The rule language (documented here, used by the TOML files under ``data/instruments``):
a **condition** tests one subject, ``item = "q9"``, ``any_item = ["q1", "q2"]`` (any one
passing is enough) or ``total = true`` (the scored total), against ``at_least`` / ``at_most``
/ ``equals``; an unasked item never passes. An item's ``ask_if`` (a condition on earlier items)
makes it asked, and required, only when it holds. A **rule** is ``when`` (one condition) plus
actions: ``followup = "<instrument id>"``, ``positive = true``, ``acute = true``, ``tier``.
The result's tier is the highest of the band's and the fired rules' tiers; acute is always
``crisis`` and always positive, whatever the file says.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xinqiao.storage.models import Tier

PACKAGED_DIR = Path(__file__).resolve().parent.parent / "data" / "instruments"
_ID = r"^[a-z][a-z0-9_]*$"
_TIER_RANK = {Tier.routine: 0, Tier.key: 1, Tier.crisis: 2}
_NOISE = re.compile(r"[\s\"'“”‘’「」。．.，,！!？?；;：:、~～]+")


class InstrumentError(ValueError):
    """An instrument file that cannot be used, with the file and the field named."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Frozen):
    """A test on one item, any of several items, or the scored total."""

    item: str | None = None
    any_item: tuple[str, ...] = ()
    total: bool = False
    at_least: int | None = None
    at_most: int | None = None
    equals: int | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Condition:
        if sum((self.item is not None, bool(self.any_item), self.total)) != 1:
            raise ValueError("give exactly one of 'item', 'any_item' or 'total = true'")
        if self.at_least is None and self.at_most is None and self.equals is None:
            raise ValueError("give at least one of 'at_least', 'at_most', 'equals'")
        return self

    def items(self) -> tuple[str, ...]:
        """The item ids this condition reads."""
        return (self.item,) if self.item is not None else self.any_item

    def holds(self, answers: dict[str, int], total: int | None = None) -> bool:
        """Whether any tested value (the total, or one of the items) meets every bound."""
        values = [total] if self.total else [answers.get(k) for k in self.items()]
        return any(
            v is not None
            and (self.at_least is None or v >= self.at_least)
            and (self.at_most is None or v <= self.at_most)
            and (self.equals is None or v == self.equals)
            for v in values
        )


class Option(_Frozen):
    """One answer on the shared scale; aliases are free-text words that mean it."""

    value: int
    label: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()


class Scale(_Frozen):
    """The range of the option values; ``digits`` lets a bare typed digit mean its value."""

    min: int = 0
    max: int = 3
    digits: bool = True


class Item(_Frozen):
    """One question; ``ask_if`` makes it conditional on earlier answers; ``short`` is what staff
    read in a student's record (the question itself when absent)."""

    id: str = Field(pattern=_ID)
    text: str = Field(min_length=1)
    short: str = ""
    ask_if: Condition | None = None

    def brief(self) -> str:
        """The short form: ``short``, else the question without its timeframe and "？"."""
        if self.short:
            return self.short
        text = re.sub(r"^在过去[^，,]{1,6}[里内中][，,]\s*", "", self.text)
        return text.rstrip("？?。")


class Scoring(_Frozen):
    """Which items are summed into the total (empty means all items), and whether people are
    shown the total (``shown = false``: a screen such as the ASQ, read by its result alone)."""

    items: tuple[str, ...] = ()
    shown: bool = True


class Band(_Frozen):
    """A total range min..max (inclusive) with a label, a non-diagnostic message and a tier."""

    id: str = Field(pattern=_ID)
    min: int
    max: int
    label: str = Field(min_length=1)
    message: str = Field(min_length=1)
    tier: Tier = Tier.routine


class Rule(_Frozen):
    """When the condition holds, apply the actions."""

    note: str = ""
    when: Condition
    followup: str | None = None
    positive: bool = False
    acute: bool = False
    tier: Tier | None = None

    @model_validator(mode="after")
    def _has_action(self) -> Rule:
        if self.followup is None and not self.positive and not self.acute and self.tier is None:
            raise ValueError("a rule needs an action: followup, positive, acute or tier")
        return self


class Instrument(_Frozen):
    """A whole screening instrument."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    licence: str = Field(min_length=1)
    instructions: str = Field(min_length=1)
    timeframe: str = Field(min_length=1)
    replaces: bool = False
    scale: Scale = Scale()
    options: tuple[Option, ...]
    items: tuple[Item, ...] = Field(min_length=1)
    scoring: Scoring = Scoring()
    bands: tuple[Band, ...] = Field(min_length=1)
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Instrument:
        ids = [i.id for i in self.items]
        if len(ids) != len(set(ids)):
            raise ValueError("items: item ids repeat")
        for n, item in enumerate(self.items):
            if item.ask_if is not None:
                if item.ask_if.total:
                    raise ValueError(f"items.{n}.ask_if: may test earlier items, not the total")
                _known(item.ask_if.items(), ids[:n], f"items.{n}.ask_if", "earlier item")
        _known(self.scoring.items, ids, "scoring.items", "item")
        self._check_options()
        self._check_bands()
        for n, rule in enumerate(self.rules):
            _known(rule.when.items(), ids, f"rules.{n}.when", "item")
            if rule.followup == self.id:
                raise ValueError(f"rules.{n}.followup: an instrument cannot follow up itself")
        return self

    def _check_options(self) -> None:
        values = sorted(o.value for o in self.options)
        wanted = list(range(self.scale.min, self.scale.max + 1))
        if values != wanted:
            raise ValueError(
                f"options: values {values} do not match scale {self.scale.min}..{self.scale.max}"
                f" (need each of {wanted} exactly once)"
            )
        seen: dict[str, int] = {}
        for n, option in enumerate(self.options):
            for word in _words(option, self.scale.digits):
                key = _normalise(word)
                if not key:
                    raise ValueError(f"options.{n}: empty label or alias")
                if seen.get(key, option.value) != option.value:
                    part = "label" if word == option.label else "aliases"
                    raise ValueError(f"options.{n}.{part}: {word!r} already means another value")
                seen[key] = option.value

    def _check_bands(self) -> None:
        low, high = self.total_range()
        bands = sorted(self.bands, key=lambda b: b.min)
        if len({b.id for b in bands}) != len(bands):
            raise ValueError("bands: band ids repeat")
        expect, before = low, ""
        for band in bands:
            where = f"bands ({band.id!r} {band.min}..{band.max})"
            if band.min > band.max:
                raise ValueError(f"{where}: min is above max")
            if band.min > expect:
                raise ValueError(f"{where}: gap, totals {expect}..{band.min - 1} have no band")
            if band.min < expect:
                what = (
                    f"overlaps band {before!r}"
                    if before
                    else f"starts below the lowest total {low}"
                )
                raise ValueError(f"{where}: {what}")
            expect, before = band.max + 1, band.id
        if expect != high + 1:
            raise ValueError(f"bands: must cover totals {low}..{high}, they end at {expect - 1}")

    def scored_items(self) -> tuple[str, ...]:
        """Ids of the items summed into the total."""
        return self.scoring.items or tuple(i.id for i in self.items)

    def score_text(self, total: int) -> str | None:
        """"9 分（满分 27 分）" as a person reads a score; None for a screen with no score."""
        return f"{total} 分（满分 {self.total_range()[1]} 分）" if self.scoring.shown else None

    def total_range(self) -> tuple[int, int]:
        """The lowest and highest possible total."""
        n = len(self.scored_items())
        return n * self.scale.min, n * self.scale.max

    def item(self, item_id: str) -> Item:
        """The item with this id (ValueError if there is none)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise ValueError(f"{self.id}: no item {item_id!r}")


def _known(used: tuple[str, ...], known: list[str], where: str, what: str) -> None:
    unknown = [u for u in used if u not in known]
    if unknown:
        raise ValueError(f"{where}: unknown {what} {', '.join(map(repr, unknown))}")


def _words(option: Option, digits: bool) -> list[str]:
    return [option.label, *option.aliases, *([str(option.value)] if digits else [])]


def _normalise(text: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", text)).casefold()


@dataclass(frozen=True)
class Result:
    """The outcome of one completed instrument."""

    instrument: str
    total: int
    band: str
    label: str
    message: str
    tier: Tier
    positive: bool
    acute: bool
    followups: tuple[str, ...]


def load_instrument(path: Path) -> Instrument:
    """Load and validate one instrument file; errors name the file and the field."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InstrumentError(f"{path}: cannot read: {exc}") from exc
    try:
        return Instrument.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise InstrumentError(f"{path}: {'; '.join(problems)}") from exc


def load_instruments(content_dir: Path | None = None) -> dict[str, Instrument]:
    """The packaged instruments plus a centre's own from ``<content_dir>/instruments``."""
    found: dict[str, tuple[Instrument, Path]] = {}
    for path in sorted(PACKAGED_DIR.glob("*.toml")):
        inst = load_instrument(path)
        found[inst.id] = (inst, path)
    builtin = set(found)
    centre = content_dir / "instruments" if content_dir is not None else None
    centre_files = sorted(centre.glob("*.toml")) if centre is not None and centre.is_dir() else []
    for path in centre_files:
        inst = load_instrument(path)
        if inst.id in found and (inst.id not in builtin or not inst.replaces):
            hint = "; set replaces = true to replace it" if inst.id in builtin else ""
            other = found[inst.id][1]
            raise InstrumentError(f"{path}: id: {inst.id!r} is already defined in {other}{hint}")
        if inst.replaces and inst.id not in builtin:
            raise InstrumentError(f"{path}: replaces: there is no built-in {inst.id!r} to replace")
        builtin.discard(inst.id)
        found[inst.id] = (inst, path)
    for inst, path in found.values():
        for n, rule in enumerate(inst.rules):
            if rule.followup is not None and rule.followup not in found:
                raise InstrumentError(
                    f"{path}: rules.{n}.followup: unknown instrument {rule.followup!r}"
                )
    return {key: inst for key, (inst, _) in found.items()}


def parse_answer(instrument: Instrument, item_id: str, text: str) -> int | None:
    """The option value a free-text answer means, or None if it is not understood."""
    instrument.item(item_id)
    key = _normalise(text)
    if not key:
        return None
    for option in instrument.options:
        if any(_normalise(w) == key for w in _words(option, instrument.scale.digits)):
            return option.value
    return None


def _applicable(instrument: Instrument, answers: dict[str, int]) -> list[Item]:
    return [i for i in instrument.items if i.ask_if is None or i.ask_if.holds(answers)]


def next_item(instrument: Instrument, answers: dict[str, int]) -> Item | None:
    """The next item to ask given the answers so far, or None when the instrument is done."""
    return next((i for i in _applicable(instrument, answers) if i.id not in answers), None)


def score(instrument: Instrument, answers: dict[str, int]) -> Result:
    """Score a complete answer set (ValueError if it is incomplete or invalid)."""
    asked = {i.id for i in _applicable(instrument, answers)}
    for key, value in answers.items():
        if key not in asked:
            raise ValueError(f"{instrument.id}: {key!r} is unknown or should not have been asked")
        if not instrument.scale.min <= value <= instrument.scale.max:
            raise ValueError(f"{instrument.id}: {key!r} = {value} is outside the scale")
    missing = sorted(asked - answers.keys())
    if missing:
        raise ValueError(f"{instrument.id}: unanswered items {missing}")
    total = sum(answers.get(k, 0) for k in instrument.scored_items())
    band = next(b for b in instrument.bands if b.min <= total <= b.max)
    tiers: list[Tier] = [band.tier]
    followups: list[str] = []
    positive = acute = False
    for rule in instrument.rules:
        if not rule.when.holds(answers, total):
            continue
        positive = positive or rule.positive
        acute = acute or rule.acute
        if rule.tier is not None:
            tiers.append(rule.tier)
        if rule.followup is not None and rule.followup not in followups:
            followups.append(rule.followup)
    if acute:
        tiers.append(Tier.crisis)
    return Result(
        instrument=instrument.id,
        total=total,
        band=band.id,
        label=band.label,
        message=band.message,
        tier=max(tiers, key=_TIER_RANK.__getitem__),
        positive=positive or acute,
        acute=acute,
        followups=tuple(followups),
    )
