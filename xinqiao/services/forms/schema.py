"""The one form schema: reports, check-ins and questionnaires are all a FormSpec.

A form asks its ``fields`` in order. A **condition** (a field's ``show_if``, a rule's
``when``) tests one subject, ``field = "q9"``, ``any_field = ["q1", "q2"]`` (any one passing is
enough) or, in rules only, ``total = true`` (the scored total), with ``equals``, ``answered``,
``at_least`` or ``at_most``; an unasked field never passes a value test. A scored form (a
questionnaire) adds a ``[scale]`` with its options, asks ``scale`` fields on it, and has
``bands`` covering every total and ``rules`` (``when`` plus actions: ``followup``, ``positive``,
``acute``, ``tier``); ``scoring.shown = false`` makes it a screen read by its result, never
a score (the ASQ). An option may say what it means to the code that files the form
(``means = "nothing_to_report"``); what a report's answers mean (the student named, the
factors, the severity) is its ``[report]`` table's (services/report_types), so no code depends
on a form's field names. An **exercise** is a form of ``read`` steps (a page to read, then
下一步), with an ``intro`` page and ``done`` words.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xinqiao.services.forms.checks import check_bands, check_exercise, check_scale, known
from xinqiao.services.forms.condition import Condition
from xinqiao.storage.models import Tier

ID = r"^[a-z][a-z0-9_]*$"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldKind(StrEnum):
    """The kinds of question a form can ask."""

    single = "single"
    multi = "multi"
    number = "number"
    text = "text"
    yesno = "yesno"
    person = "person"
    scale = "scale"  # one answer on the form's scored scale
    read = "read"  # a page to read, then 下一步: an exercise's step


class Option(_Frozen):
    """One answer option of a choice field; ``aliases`` are other words for the same answer."""

    value: str
    label: str
    aliases: tuple[str, ...] = ()
    exclusive: bool = False
    means: Literal["nothing_to_report"] | None = None


class ScaleOption(_Frozen):
    """One answer on a scored scale; aliases are free-text words that mean it."""

    value: int
    label: str = Field(min_length=1)
    aliases: tuple[str, ...] = ()


class Scale(_Frozen):
    """The scored answers, values ``min..max``; with ``digits`` a typed digit means its value."""

    min: int = 0
    max: int = 3
    digits: bool = True
    options: tuple[ScaleOption, ...] = Field(min_length=1)


class FormField(_Frozen):
    """One question of a form; ``short`` is what staff read in a record (else the prompt)."""

    key: str = Field(pattern=ID)
    kind: FieldKind
    prompt: str = Field(min_length=1)
    short: str = ""
    options: tuple[Option, ...] = ()
    required: bool = True
    min: int | None = None
    max: int | None = None
    max_length: int = 500
    scope: Literal["class", "dorm"] = "class"
    allow_free_text: bool = True
    own_words: bool = False  # a multi field that also keeps the person's own words
    show_if: Condition | None = None

    @model_validator(mode="after")
    def _options_fit_kind(self) -> FormField:
        choice_kinds = (FieldKind.single, FieldKind.multi)
        if self.kind in choice_kinds and not self.options:
            raise ValueError(f"a {self.kind} field needs options")
        if self.kind not in choice_kinds and self.options:
            raise ValueError("only choice fields take options (a scale field uses [scale])")
        if self.own_words and self.kind is not FieldKind.multi:
            raise ValueError("own_words: only a multi field takes the person's own words")
        values = [o.value for o in self.options]
        if len(values) != len(set(values)):
            raise ValueError("option values repeat")
        return self

    def brief(self) -> str:
        """The short form: ``short``, else the prompt without its timeframe and "？"."""
        if self.short:
            return self.short
        text = re.sub(r"^在过去[^，,]{1,6}[里内中][，,]\s*", "", self.prompt)
        return text.rstrip("？?。")


class Scoring(_Frozen):
    """Which scale fields are summed into the total (empty means all of them), and whether
    people are shown the total (``shown = false``: a screen such as the ASQ, read by its result
    alone)."""

    fields: tuple[str, ...] = ()
    shown: bool = True


class Band(_Frozen):
    """A total range min..max (inclusive) with a label, a non-diagnostic message and a tier."""

    id: str = Field(pattern=ID)
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


class FormSpec(_Frozen):
    """A whole form: wording, fields and, for a questionnaire, its scale and scoring."""

    id: str = Field(pattern=ID)
    title: str = Field(min_length=1)
    intro: str = ""
    done: str = "已提交，谢谢你！"
    triggers: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("*",)
    # A questionnaire's provenance and its place in the 心理测评 menu.
    version: str = "1"
    licence: str = ""
    timeframe: str = ""
    replaces: bool = False
    offer_order: int | None = None  # its place in the 心理测评 menu; None: only as a follow-up
    report: dict[str, Any] | None = None  # read by the report-type registry, not here
    article: str | None = None  # an exercise's article, the same steps to read at leisure
    scale: Scale | None = None
    scoring: Scoring = Scoring()
    bands: tuple[Band, ...] = ()
    rules: tuple[Rule, ...] = ()
    fields: tuple[FormField, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> FormSpec:
        keys = [f.key for f in self.fields]
        if not keys:
            raise ValueError("fields: a form needs at least one field")
        if len(keys) != len(set(keys)):
            raise ValueError("fields: field keys repeat")
        for n, f in enumerate(self.fields):
            if f.show_if is not None:
                if f.show_if.total:
                    raise ValueError(f"fields.{n}.show_if: may test earlier fields, not the total")
                known(f.show_if.fields(), keys[:n], f"fields.{n}.show_if", "earlier field")
        if any(f.kind is FieldKind.read for f in self.fields):
            check_exercise([f.kind for f in self.fields], self.intro,
                           "done" in self.model_fields_set)
        scored = [f.key for f in self.fields if f.kind is FieldKind.scale]
        if scored and self.scale is None:
            raise ValueError("scale: a form with scale fields needs a [scale]")
        missing = [k for k in ("intro", "licence", "timeframe") if not getattr(self, k)]
        if self.bands and (missing or not scored):
            raise ValueError(f"{missing[0]}: a questionnaire needs one" if missing
                             else "bands: a scored form needs scale fields")
        if self.rules and not self.bands:
            raise ValueError("rules: rules need bands")
        known(self.scoring.fields, scored, "scoring.fields", "scale field")
        if not self.scoring.shown and not self.bands:
            raise ValueError("scoring.shown: only a scored form (with bands) has a score to hide")
        if self.scale is not None:
            check_scale(self.scale.min, self.scale.max, self.scale.digits, self.scale.options)
        if self.bands:
            check_bands(self.bands, *self.total_range())
        for n, rule in enumerate(self.rules):
            known(rule.when.fields(), keys, f"rules.{n}.when", "field")
            if rule.followup == self.id:
                raise ValueError(f"rules.{n}.followup: a form cannot follow up itself")
        return self

    @property
    def scored(self) -> bool:
        """True for a questionnaire: answers are scored into a band."""
        return bool(self.bands)

    @property
    def exercise(self) -> bool:
        """True for an exercise: every step is a page to read."""
        return all(f.kind is FieldKind.read for f in self.fields)

    def field(self, key: str) -> FormField | None:
        """The field with this key."""
        return next((f for f in self.fields if f.key == key), None)

    def scored_fields(self) -> tuple[str, ...]:
        """Keys of the fields summed into the total."""
        return self.scoring.fields or tuple(
            f.key for f in self.fields if f.kind is FieldKind.scale)

    def score_text(self, total: int) -> str | None:
        """"9 分（满分 27 分）" as a person reads a score; None for a screen with no score."""
        return f"{total} 分（满分 {self.total_range()[1]} 分）" if self.scoring.shown else None

    def total_range(self) -> tuple[int, int]:
        """The lowest and highest possible total."""
        n, scale = len(self.scored_fields()), self.scale
        return (n * scale.min, n * scale.max) if scale is not None else (0, 0)

    def nothing_to_report(self) -> dict[str, str]:
        """The answers that say "nothing to report" (an option with that meaning), if any."""
        return {f.key: o.value for f in self.fields for o in f.options
                if o.means == "nothing_to_report"}

    def reports_nothing(self, answers: dict[str, Any]) -> bool:
        """Whether these answers are the form's "nothing to report"."""
        nothing = self.nothing_to_report()
        return bool(nothing) and all(answers.get(k) == v for k, v in nothing.items())
