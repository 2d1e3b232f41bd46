"""Report types as data: every report form's ``[report]`` table, checked, in one registry.

A report type says what a filed form becomes: its kind, its title as staff see it, its row in
the 月报, who files it (the menu and the form read this), how severity follows from the answers,
who else is told, and who may read the free text. The packaged report forms, the kinds the
service raises itself (data/report_kinds.toml) and a centre's own forms (``CONTENT_DIR/forms``)
load in that order, which is also the order of the 月报's rows.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from xinqiao.services.report_spec import ReportType
from xinqiao.storage.reports import ReportKind

PACKAGED_FORMS = Path(__file__).parents[1] / "handlers" / "forms"
BUILTIN_KINDS = Path(__file__).parents[1] / "data" / "report_kinds.toml"


class ReportTypeError(ValueError):
    """A report type that cannot be used, with the file and the field named."""


class ReportTypes:
    """The registry: report types by kind, in load order, and titles of items with no report."""

    def __init__(self, types: Iterable[ReportType], item_titles: dict[str, str]) -> None:
        self._types = {t.kind: t for t in types}
        self._item_titles = dict(item_titles)

    def __iter__(self) -> Iterator[ReportType]:
        return iter(self._types.values())

    def get(self, kind: str) -> ReportType | None:
        """The report type of this kind, if there is one."""
        return self._types.get(kind)

    def title(self, kind: str, default: str = "待处理事项") -> str:
        """An item's title as staff see it in pushes and 待办."""
        found = self._types.get(kind)
        return found.title if found else self._item_titles.get(kind, default)

    def source(self, kind: str) -> str:
        """Where a report came from, as an item's view names it."""
        found = self._types.get(kind)
        return (found.source or found.title) if found else "反映"

    def filed(self) -> tuple[ReportType, ...]:
        """The types people file through a form, in load order."""
        return tuple(t for t in self if t.form is not None)

    def for_form(self, form_id: str) -> ReportType | None:
        """The report type a form files, if it is a report form."""
        return next((t for t in self if t.form == form_id), None)

    def monthly(self) -> tuple[ReportType, ...]:
        """The types with a row in the 月报, in order."""
        return tuple(t for t in self if t.monthly)

    def outside_monthly(self) -> tuple[str, ...]:
        """Kinds deliberately left out of the 月报 (each type says so itself)."""
        return tuple(t.kind for t in self if not t.monthly)

    def monthly_label(self, kind: str) -> str:
        """A kind's row label in the 月报; a kind since removed keeps its name, never vanishes."""
        found = self._types.get(kind)
        return (found.monthly_label or found.title) if found else kind


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ReportTypeError(f"{path}: cannot read: {exc}") from exc


def _validated(path: Path, raw: dict[str, Any], prefix: str) -> ReportType:
    try:
        return ReportType.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join([prefix, *(str(p) for p in err['loc'])])}: {err['msg']}"
            for err in exc.errors()
        )
        raise ReportTypeError(f"{path}: {problems}") from exc


def _fields_problem(rtype: ReportType, fields: list[Any]) -> str | None:
    """What in the ``[report]`` table names a question the form does not ask, or None."""
    kinds = {str(f.get("key")): str(f.get("kind")) for f in fields if isinstance(f, dict)}
    for name in rtype.subjects:
        if kinds.get(name) != "person":
            return f"report.subjects: {name!r} is not a person question of this form"
    for key in rtype.answer_labels:
        if key not in kinds:
            return f"report.answer_labels: the form asks no {key!r}"
    for subject in rtype.subjects or ("",):
        if rtype.factors and kinds.get(rtype.factor_field(subject)) != "multi":
            return f"report.factors: {rtype.factor_field(subject)!r} is not a multi question"
        for i, rule in enumerate(rtype.rules):
            if rule.answer_key(subject) not in kinds:
                return f"report.rules.{i}.field: the form asks no {rule.answer_key(subject)!r}"
    return None


def form_report_type(path: Path, raw: dict[str, Any]) -> ReportType | None:
    """The report type a form file declares in its ``[report]`` table, or None."""
    table = raw.get("report")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise ReportTypeError(f"{path}: report: must be a table")
    if "roles" in raw or "shown_to" in raw:
        # One place says who files a report and who reads it: the [report] table.
        raise ReportTypeError(f"{path}: roles/shown_to: a report form names them in "
                              "[report] as filed_by and shown_to")
    form_id = raw.get("id")
    rtype = _validated(path, {**table, "form": form_id, "form_title": raw.get("title", ""),
                              "path": path}, "report")
    if rtype.form is None:
        raise ReportTypeError(f"{path}: id: a report form needs an id")
    if problem := _fields_problem(rtype, list(raw.get("fields", []))):
        raise ReportTypeError(f"{path}: {problem}")
    return rtype


def _form_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


def _builtin(path: Path) -> tuple[list[ReportType], dict[str, str]]:
    raw = _read(path)
    types = [_validated(path, {**entry, "path": path}, f"kind.{i}")
             for i, entry in enumerate(raw.get("kind", []))]
    return types, {str(k): str(v) for k, v in raw.get("items", {}).items()}


def load_report_types(content_dir: Path | None = None) -> ReportTypes:
    """The packaged report types, then a centre's own from ``<content_dir>/forms``."""
    builtin, item_titles = _builtin(BUILTIN_KINDS)
    files = _form_files(PACKAGED_FORMS)
    centre = _form_files(content_dir / "forms") if content_dir is not None else []
    from_forms = [(p, form_report_type(p, _read(p))) for p in (*files, *centre)]
    packaged = [t for p, t in from_forms if t is not None and p in files]
    own = [t for p, t in from_forms if t is not None and p not in files]
    types: dict[str, ReportType] = {}
    forms: dict[str, Path | None] = {}
    for rtype in (*packaged, *builtin, *own):
        if (earlier := types.get(rtype.kind)) is not None:
            raise ReportTypeError(f"{rtype.path}: report.kind: {rtype.kind!r} is already "
                                  f"the kind of {earlier.path}")
        if rtype.kind in item_titles:
            raise ReportTypeError(f"{rtype.path}: report.kind: {rtype.kind!r} names an item")
        if rtype.form is not None and rtype.form in forms:
            raise ReportTypeError(f"{rtype.path}: id: form {rtype.form!r} is already "
                                  f"{forms[rtype.form]}")
        types[rtype.kind] = rtype
        if rtype.form is not None:
            forms[rtype.form] = rtype.path
    if missing := [k for k in ReportKind.named() if k not in types]:
        raise ReportTypeError(f"report kinds the service raises have no type: {missing}")
    return ReportTypes(types.values(), item_titles)


_active: dict[str, ReportTypes] = {}


def report_types() -> ReportTypes:
    """The process's registry: what the wiring installed, else the packaged types."""
    if "types" not in _active:
        _active["types"] = load_report_types()
    return _active["types"]


def use_report_types(types: ReportTypes | None) -> ReportTypes | None:
    """Install the registry the process serves (None: the packaged one); return the last."""
    previous = _active.pop("types", None)
    if types is not None:
        _active["types"] = types
    return previous
