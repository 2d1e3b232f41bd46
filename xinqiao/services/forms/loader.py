"""Form files: load and validate one, or every form of the package and of a centre.

Packaged forms live in ``xinqiao/handlers/forms`` (reports, check-ins),
``xinqiao/data/instruments`` (questionnaires) and ``xinqiao/data/exercises``; a centre adds its
own as one TOML file each in ``<CONTENT_DIR>/forms`` (``<CONTENT_DIR>/instruments`` is read too,
as before). A centre file may replace a packaged form only with ``replaces = true``. Every error
names the file and the field.
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from xinqiao.services.forms.schema import FormSpec

_ROOT = Path(__file__).resolve().parents[2]  # xinqiao/
PACKAGED_DIRS = (_ROOT / "handlers" / "forms", _ROOT / "data" / "instruments",
                 _ROOT / "data" / "exercises")
OPTION_SETS = _ROOT / "handlers" / "forms" / "option_sets.toml"
CENTRE_DIRS = ("forms", "instruments")


class FormSpecError(ValueError):
    """A form file that cannot be used, with the file and the problem named."""


def _read(path: Path) -> dict[str, Any]:
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FormSpecError(f"{path}: cannot read: {exc}") from exc
    return raw


@cache
def _option_sets() -> dict[str, Any]:
    return _read(OPTION_SETS)


def load_form(path: Path) -> FormSpec:
    """Load and validate one form file; errors name the file and the field."""
    raw = _read(path)
    for i, field in enumerate(raw.get("fields", [])):
        if isinstance(field, dict) and "options_set" in field:
            name = field.pop("options_set")
            if name not in _option_sets():
                raise FormSpecError(f"{path}: fields.{i}.options_set: unknown set {name!r}")
            field["options"] = _option_sets()[name]
    try:
        return FormSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = str(err["msg"]).removeprefix("Value error, ")
            loc = ".".join(str(p) for p in err["loc"])
            problems.append(f"{loc}: {msg}" if loc else msg)
        raise FormSpecError(f"{path}: {'; '.join(problems)}") from exc


def _form_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return [p for p in sorted(folder.glob("*.toml")) if p.resolve() != OPTION_SETS]


def packaged_form(form_id: str) -> FormSpec:
    """One of the forms shipped with xinqiao, by id."""
    for folder in PACKAGED_DIRS:
        path = folder / f"{form_id}.toml"
        if path.is_file():
            return load_form(path)
    raise FormSpecError(f"no packaged form {form_id!r}")


def load_forms(content_dir: Path | None = None) -> dict[str, FormSpec]:
    """Every packaged form plus a centre's own from ``<content_dir>/forms``, by id."""
    found: dict[str, tuple[FormSpec, Path]] = {}
    for folder in PACKAGED_DIRS:
        for path in _form_files(folder):
            spec = load_form(path)
            found[spec.id] = (spec, path)
    builtin = set(found)
    centre = [
        path for name in CENTRE_DIRS if content_dir is not None
        for path in _form_files(content_dir / name)
    ]
    for path in centre:
        spec = load_form(path)
        if spec.id in found and (spec.id not in builtin or not spec.replaces):
            hint = "; set replaces = true to replace it" if spec.id in builtin else ""
            other = found[spec.id][1]
            raise FormSpecError(f"{path}: id: {spec.id!r} is already defined in {other}{hint}")
        if spec.replaces and spec.id not in builtin:
            raise FormSpecError(f"{path}: replaces: there is no built-in {spec.id!r} to replace")
        builtin.discard(spec.id)
        found[spec.id] = (spec, path)
    for spec, path in found.values():
        for n, rule in enumerate(spec.rules):
            target = found.get(rule.followup or "")
            if rule.followup is not None and (target is None or not target[0].scored):
                raise FormSpecError(
                    f"{path}: rules.{n}.followup: unknown questionnaire {rule.followup!r}")
    return {key: spec for key, (spec, _) in found.items()}
