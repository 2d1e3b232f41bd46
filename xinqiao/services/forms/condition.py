"""A condition on a form's answers: a field's ``show_if`` and a rule's ``when``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator


class Condition(BaseModel):
    """A test on one earlier answer, any of several, or (in rules) the scored total."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    field: str | None = None
    any_field: tuple[str, ...] = ()
    total: bool = False
    equals: str | int | None = None
    answered: bool | None = None
    at_least: int | None = None
    at_most: int | None = None

    @model_validator(mode="after")
    def _well_formed(self) -> Condition:
        if sum((self.field is not None, bool(self.any_field), self.total)) != 1:
            raise ValueError("give exactly one of 'field', 'any_field' or 'total = true'")
        if (self.answered is None) == (
            self.equals is None and self.at_least is None and self.at_most is None
        ):
            raise ValueError("give 'answered', or one or more of 'equals', 'at_least', 'at_most'")
        return self

    def fields(self) -> tuple[str, ...]:
        """The field keys this condition reads."""
        return (self.field,) if self.field is not None else self.any_field

    def holds(self, answers: dict[str, Any], total: int | None = None) -> bool:
        """Whether the tested value (the total, or any one of the fields) passes."""
        values = [total] if self.total else [answers.get(k) for k in self.fields()]
        return any(self._passes(v) for v in values)

    def _passes(self, value: Any) -> bool:
        if self.answered is not None:
            return (value not in (None, "", [])) == self.answered
        if value is None or (self.equals is not None and str(value) != str(self.equals)):
            return False
        if self.at_least is None and self.at_most is None:
            return True
        return (isinstance(value, int) and not isinstance(value, bool)
                and (self.at_least is None or value >= self.at_least)
                and (self.at_most is None or value <= self.at_most))
