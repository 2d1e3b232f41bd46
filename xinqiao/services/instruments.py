"""Questionnaires (PHQ-9, GAD-7, ASQ, a centre's own): scored forms, their answers and scores.

A questionnaire is a :class:`FormSpec` with a ``[scale]``, ``scale`` fields, ``bands`` and
``rules`` (the schema and its rule language: ``services/forms/schema.py``). The result's tier is
the highest of the band's and the fired rules' tiers; acute is always ``crisis`` and always
positive, whatever the file says.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xinqiao.services.forms.checks import normalise, words
from xinqiao.services.forms.loader import PACKAGED_DIRS, FormSpecError, load_form, load_forms
from xinqiao.services.forms.schema import FieldKind, FormField, FormSpec
from xinqiao.storage.models import Tier

Instrument = FormSpec  # a questionnaire is a form with a scale and scoring
InstrumentError = FormSpecError
PACKAGED_DIR = PACKAGED_DIRS[1]
_TIER_RANK = {Tier.routine: 0, Tier.key: 1, Tier.crisis: 2}


@dataclass(frozen=True)
class Result:
    """The outcome of one completed questionnaire."""

    instrument: str
    total: int
    band: str
    label: str
    message: str
    tier: Tier
    positive: bool
    acute: bool
    followups: tuple[str, ...]


def load_instrument(path: Path) -> FormSpec:
    """Load one questionnaire file; errors name the file and the field."""
    spec = load_form(path)
    if not spec.scored:
        raise FormSpecError(f"{path}: bands: a questionnaire needs a scale, fields and bands")
    return spec


def load_instruments(content_dir: Path | None = None) -> dict[str, FormSpec]:
    """The scored forms: packaged ones plus a centre's own from ``<content_dir>/forms``."""
    return {k: spec for k, spec in load_forms(content_dir).items() if spec.scored}


def parse_answer(instrument: FormSpec, item_id: str, text: str) -> int | None:
    """The scale value a free-text answer means, or None if it is not understood."""
    field = instrument.field(item_id)
    if field is None or field.kind is not FieldKind.scale or instrument.scale is None:
        raise ValueError(f"{instrument.id}: no item {item_id!r}")
    key = normalise(text)
    if not key:
        return None
    for option in instrument.scale.options:
        if any(normalise(w) == key for w in words(option, instrument.scale.digits)):
            return option.value
    return None


def _applicable(form: FormSpec, answers: dict[str, Any]) -> list[FormField]:
    return [f for f in form.fields if f.show_if is None or f.show_if.holds(answers)]


def next_item(form: FormSpec, answers: dict[str, Any]) -> FormField | None:
    """The next field to ask given the answers so far, or None when the form is done."""
    return next((f for f in _applicable(form, answers) if f.key not in answers), None)


def score(instrument: FormSpec, answers: dict[str, int]) -> Result:
    """Score a complete answer set (ValueError if it is incomplete or invalid)."""
    scale = instrument.scale
    if scale is None or not instrument.bands:
        raise ValueError(f"{instrument.id}: not a scored form")
    asked = {f.key for f in _applicable(instrument, answers)}
    for key, value in answers.items():
        if key not in asked:
            raise ValueError(f"{instrument.id}: {key!r} is unknown or should not have been asked")
        if not scale.min <= value <= scale.max:
            raise ValueError(f"{instrument.id}: {key!r} = {value} is outside the scale")
    missing = sorted(asked - answers.keys())
    if missing:
        raise ValueError(f"{instrument.id}: unanswered items {missing}")
    total = sum(answers.get(k, 0) for k in instrument.scored_fields())
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
