"""One report type as data (a form's ``[report]`` table): the schema and how severity follows."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from xinqiao.services.recipients import LEVEL_ROLES
from xinqiao.services.severity import RANK
from xinqiao.storage.models import Role
from xinqiao.storage.reports import Severity

ROLES = frozenset(r.value for r in Role)


class SeverityRule(BaseModel):
    """When an answer is (or, for a multi question, includes) a value: this severity."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    # A question's key; in a report about several people, "{subject}_tier" names each one's.
    field: str
    equals: str | None = None
    contains: str | None = None
    severity: Severity
    factor: str | None = None  # a risk factor the answer means (自伤 → self_harm)

    @model_validator(mode="after")
    def _one_test(self) -> SeverityRule:
        if (self.equals is None) == (self.contains is None):
            raise ValueError("a rule needs exactly one of 'equals' or 'contains'")
        return self

    def answer_key(self, subject: str) -> str:
        """The question this rule reads for one subject."""
        return self.field.replace("{subject}", subject)

    def holds(self, answers: dict[str, Any], subject: str) -> bool:
        """Whether the answers meet the rule."""
        value = answers.get(self.answer_key(subject))
        if self.contains is not None:
            return isinstance(value, list) and self.contains in value
        return value is not None and str(value) == self.equals


class Tell(BaseModel):
    """Others told that a report was filed: never what it says or about whom."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    levels: tuple[str, ...] = Field(min_length=1)
    text: str = Field(min_length=1)

    @model_validator(mode="after")
    def _known_levels(self) -> Tell:
        if unknown := sorted(set(self.levels) - set(LEVEL_ROLES)):
            raise ValueError(f"unknown levels {unknown}; known: {sorted(LEVEL_ROLES)}")
        return self


class ReportType(BaseModel):
    """What a filed report is and where it goes; the escalation chain is the policy's for the
    severity (data/policy.toml), snapshotted when the item opens."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")  # Report.kind is 16 characters
    title: str = Field(min_length=1)  # as staff see it in pushes and 待办
    source: str = ""  # as an item's view names the report (default: the title)
    monthly: bool = True  # false only for what is not the network's report (a chat's concern)
    monthly_label: str | None = None  # its row in the 月报
    filed_by: tuple[str, ...] = ()  # the roles that file it: the menu and the form read this
    # Who may read the free text, as the form promises (empty: every level it reaches).
    shown_to: tuple[str, ...] = ()
    subjects: tuple[str, ...] = ()  # the person question(s) the report is about
    factors: str | None = None  # the multi question of risk factors ("{subject}_factors" …)
    severity: Severity = Severity.routine  # when no rule holds
    rules: tuple[SeverityRule, ...] = ()  # the first that holds decides
    tell: Tell | None = None
    answer_labels: dict[str, str] = {}  # the answers staff read in 待办, by question key
    reply: str = "已提交（{ref}），老师会尽快跟进。"  # to the reporter; {ref} is the item number
    hotlines: Literal["always", "urgent", "never"] = "urgent"  # urgent: when urgent or crisis
    filing: Literal["report", "checkin"] = "report"  # checkin: the weekly bookkeeping too
    form: str | None = None  # the form that files it (set by the loader)
    form_title: str = ""
    path: Path | None = None  # the file it came from, for messages

    @model_validator(mode="after")
    def _consistent(self) -> ReportType:
        if self.monthly and not self.monthly_label:
            raise ValueError("monthly_label: every report type has a 月报 row "
                             "(or says monthly = false)")
        for name, roles in (("filed_by", self.filed_by), ("shown_to", self.shown_to)):
            if unknown := sorted(set(roles) - ROLES):
                raise ValueError(f"{name}: unknown roles {unknown}")
        if self.form is not None and not self.filed_by:
            raise ValueError("filed_by: a report form names the roles that file it")
        if self.filing == "report" and len(self.subjects) > 1:
            raise ValueError("subjects: a report is about one person (the check-in lists more)")
        try:
            ok = "{ref}" in self.reply and bool(self.reply.format(ref="X"))
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            raise ValueError("reply: needs {ref} (the item number) and no other {…}")
        return self

    def factor_field(self, subject: str) -> str:
        """The risk-factor question for one subject."""
        return (self.factors or "").replace("{subject}", subject)

    def assess(self, answers: dict[str, Any], subject: str = "") -> tuple[Severity, list[str]]:
        """Severity and risk factors of the answers (about one subject)."""
        raw = answers.get(self.factor_field(subject)) if self.factors else None
        factors = [f for f in (raw if isinstance(raw, list) else []) if f != "none"]
        for rule in self.rules:
            if rule.holds(answers, subject):
                if rule.factor and rule.factor not in factors:
                    factors.append(rule.factor)
                return rule.severity, factors
        return self.severity, factors


def gravest(severities: list[Severity], default: Severity) -> Severity:
    """The most severe of several (a check-in naming several students), else ``default``."""
    return max(severities, key=RANK.__getitem__) if severities else default
