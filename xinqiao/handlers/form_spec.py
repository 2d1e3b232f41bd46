"""Form specifications as data: the fields a form asks, loaded and validated from TOML."""

from __future__ import annotations

import tomllib
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class FieldKind(StrEnum):
    """The kinds of question a form can ask."""

    single = "single"
    multi = "multi"
    number = "number"
    text = "text"
    yesno = "yesno"
    person = "person"


class Option(BaseModel):
    """One answer option; ``aliases`` are other words that mean the same answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    value: str
    label: str
    aliases: tuple[str, ...] = ()
    exclusive: bool = False


class Condition(BaseModel):
    """Ask a field only when an earlier answer has a given value (or, ``answered``, any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    field: str
    equals: str | None = None
    answered: bool | None = None

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        if (self.equals is None) == (self.answered is None):
            raise ValueError("show_if needs exactly one of 'equals' or 'answered'")
        return self

    def holds(self, answers: dict[str, Any]) -> bool:
        """Whether the condition is met by the answers so far."""
        value = answers.get(self.field)
        if self.answered is not None:
            return (value not in (None, "", [])) == self.answered
        return str(value) == self.equals


class FormField(BaseModel):
    """One question of a form."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kind: FieldKind
    prompt: str
    options: tuple[Option, ...] = ()
    required: bool = True
    min: int | None = None
    max: int | None = None
    max_length: int = 500
    scope: str = "class"
    allow_free_text: bool = True
    show_if: Condition | None = None

    @model_validator(mode="after")
    def _options_fit_kind(self) -> FormField:
        choice_kinds = (FieldKind.single, FieldKind.multi)
        if self.kind in choice_kinds and not self.options:
            raise ValueError(f"field {self.key!r}: a {self.kind} field needs options")
        if self.kind not in choice_kinds and self.options:
            raise ValueError(f"field {self.key!r}: only choice fields take options")
        values = [o.value for o in self.options]
        if len(values) != len(set(values)):
            raise ValueError(f"field {self.key!r}: option values repeat")
        if self.scope not in ("class", "dorm"):
            raise ValueError(f"field {self.key!r}: scope must be 'class' or 'dorm'")
        return self


class FormSpec(BaseModel):
    """A whole form: its id, wording and ordered fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    title: str
    intro: str = ""
    done: str = "已提交，谢谢你！"
    triggers: tuple[str, ...] = ()
    roles: tuple[str, ...] = ("*",)
    # A report form's [report] table: read and checked by services/report_types.
    report: dict[str, Any] | None = None
    fields: tuple[FormField, ...]

    @model_validator(mode="after")
    def _fields_consistent(self) -> FormSpec:
        keys = [f.key for f in self.fields]
        if not keys:
            raise ValueError("a form needs at least one field")
        if len(keys) != len(set(keys)):
            raise ValueError("field keys repeat")
        for i, f in enumerate(self.fields):
            if f.show_if and f.show_if.field not in keys[:i]:
                raise ValueError(f"field {f.key!r}: show_if must name an earlier field")
        return self

    def field(self, key: str) -> FormField | None:
        """The field with this key."""
        return next((f for f in self.fields if f.key == key), None)


class FormSpecError(ValueError):
    """A form file that cannot be used, with the file and the problem named."""


OPTION_SETS = Path(__file__).with_name("forms") / "option_sets.toml"


def load_form(path: Path) -> FormSpec:
    """Load and validate one form file; errors name the file and the field."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
        sets: dict[str, Any] = tomllib.loads(OPTION_SETS.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FormSpecError(f"{path}: cannot read: {exc}") from exc
    for i, field in enumerate(raw.get("fields", [])):
        if isinstance(field, dict) and "options_set" in field:
            name = field.pop("options_set")
            if name not in sets:
                raise FormSpecError(f"{path}: fields.{i}.options_set: unknown set {name!r}")
            field["options"] = sets[name]
    try:
        return FormSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'form'}: {err['msg']}"
            for err in exc.errors()
        )
        raise FormSpecError(f"{path}: {problems}") from exc


def packaged_form(form_id: str) -> FormSpec:
    """One of the forms shipped with xinqiao (handlers/forms/<id>.toml)."""
    return load_form(Path(__file__).with_name("forms") / f"{form_id}.toml")
