"""Loading crisis rules: the data-driven first pass of the crisis detector.

The rules live in ``xinqiao/data/crisis_rules.toml``; a bad file raises CrisisRulesError naming
the file and the rule. The detector itself is detector.py.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_SOURCE = "xinqiao/data/crisis_rules.toml"
CATEGORIES = ("explicit", "veiled", "harm_others")
SCRIPTS = ("zh", "en")
KINDS = ("self", "other", "remote", "neutral")
MAX_REPEAT = 24  # the largest {m,n} bound a pattern may use
_RULE_KEYS = {"id", "category", "severity", "script", "who", "patterns", "requires", "unless",
              "spare", "note"}
_EXCLUDE_KEYS = {"id", "script", "patterns", "note"}
_ESCAPES_AND_CLASSES = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]")
_REPEAT = re.compile(r"[*+]|\{(?:\d*,)?(\d*)\}")
_EN_WRAP = "(?<![a-z0-9'])(?:{})(?![a-z0-9'])"


class CrisisRulesError(ValueError):
    """A crisis rules file that cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Rule:
    """One compiled rule: any pattern fires it, given a ``requires`` cue and no ``unless`` cue;
    text that ``spare`` matches is blanked for this rule only (another rule reads it)."""

    id: str
    category: str
    severity: int
    script: str
    who: str  # "infer" or "other"
    pattern: re.Pattern[str]
    requires: re.Pattern[str] | None
    unless: re.Pattern[str] | None
    spare: re.Pattern[str] | None = None


@dataclass(frozen=True)
class Subjects:
    """Who a sentence is about, per script: marker words, report cues and the look-back window."""

    markers: re.Pattern[str]
    kinds: dict[str, str]
    cues: re.Pattern[str]
    window: int


@dataclass(frozen=True)
class CrisisRules:
    """A loaded rule set: rules strongest first, exclusions and subject markers per script."""

    source: str
    rules: tuple[Rule, ...]
    excludes: dict[str, re.Pattern[str] | None]
    subjects: dict[str, Subjects]
    variants: dict[int, str]


def _fail(source: str, where: str, problem: str) -> CrisisRulesError:
    return CrisisRulesError(f"{source}: {where}: {problem}")


def _check_bounded(pattern: str) -> str | None:
    """Why ``pattern`` could backtrack without limit (``*``, ``+``, open or large ``{m,n}``)."""
    for m in _REPEAT.finditer(_ESCAPES_AND_CLASSES.sub("", pattern)):
        if m.group(0) in "*+" or not m.group(1) or int(m.group(1)) > MAX_REPEAT:
            return (f"repetition {m.group(0)!r} is unbounded or too wide: "
                    f"use {{m,n}} with an upper bound n <= {MAX_REPEAT}")
    return None


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v for v in value)


def _compile(source: str, where: str, patterns: Any, script: str) -> re.Pattern[str]:
    if not patterns or not _strings(patterns):
        raise _fail(source, where, "must be a non-empty list of non-empty strings")
    for n, pattern in enumerate(patterns, 1):
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise _fail(source, f"{where} pattern {n} {pattern!r}", f"bad regex: {exc}") from exc
        if why := _check_bounded(pattern) or (
            "matches empty text" if compiled.fullmatch("") is not None else None
        ):
            raise _fail(source, f"{where} pattern {n} {pattern!r}", why)
    joined = "|".join(f"(?:{p})" for p in patterns)
    return re.compile(_EN_WRAP.format(joined) if script == "en" else joined)


def _rule(source: str, n: int, raw: Any) -> Rule:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str) or not raw["id"]:
        raise _fail(source, f"rule {n}", "needs a table with a non-empty string id")
    where, sev = f"rule {n} {raw['id']!r}", raw.get("severity")
    severity = sev if type(sev) is int else 0
    script, who = raw.get("script", "zh"), raw.get("who", "infer")
    for bad, problem in (
        (set(raw) - _RULE_KEYS, f"unknown keys {sorted(set(raw) - _RULE_KEYS)}"),
        (raw.get("category") not in CATEGORIES, f"category must be one of {list(CATEGORIES)}"),
        (not 1 <= severity <= 3, "severity must be an integer 1..3"),
        (script not in SCRIPTS, f"script must be one of {list(SCRIPTS)}"),
        (who not in ("infer", "other"), "who must be 'infer' or 'other'"),
    ):
        if bad:
            raise _fail(source, where, problem)
    opt = {
        key: _compile(source, f"{where} {key}", raw[key], script) if key in raw else None
        for key in ("requires", "unless", "spare")
    }
    return Rule(raw["id"], raw["category"], severity, script, who,
                _compile(source, f"{where} patterns", raw.get("patterns"), script),
                opt["requires"], opt["unless"], opt["spare"])


def _subjects(source: str, script: str, raw: Any) -> Subjects:
    where = f"subjects.{script}"
    if not isinstance(raw, dict):
        raise _fail(source, where, "missing table")
    kinds: dict[str, str] = {}
    for kind in KINDS:
        if not _strings(words := raw.get(kind, [])):
            raise _fail(source, f"{where}.{kind}", "must be a list of non-empty strings")
        for word in words:
            if kinds.setdefault(word, kind) != kind:
                raise _fail(source, f"{where}.{kind}", f"{word!r} is also in {kinds[word]}")
    window = raw.get("window")
    if type(window) is not int or not 1 <= window <= 200:
        raise _fail(source, f"{where}.window", "must be an integer 1..200")
    alt = "|".join(re.escape(w) for w in sorted(kinds, key=len, reverse=True)) or "(?!)"
    markers = re.compile(_EN_WRAP.format(alt) if script == "en" else alt)
    cues = _compile(source, f"{where}.cues", raw.get("cues"), script)
    return Subjects(markers, kinds, cues, window)


def _build(raw: dict[str, Any], source: str) -> CrisisRules:
    norm = raw.get("normalise", {})
    pairs = norm.get("variants", []) if isinstance(norm, dict) else None
    if not isinstance(pairs, list) or not all(isinstance(p, str) and len(p) == 2 for p in pairs):
        raise _fail(source, "normalise.variants", "must be a list of two-character strings")
    if not isinstance(raw.get("rule"), list) or not raw["rule"]:
        raise _fail(source, "rule", "needs at least one [[rule]] table")
    rules = [_rule(source, n, r) for n, r in enumerate(raw["rule"], 1)]
    ids = [rule.id for rule in rules]
    if twice := next((i for i in ids if ids.count(i) > 1), None):
        raise _fail(source, f"rule {twice!r}", "duplicate id")
    excludes: dict[str, list[str]] = {s: [] for s in SCRIPTS}
    listed = raw.get("exclude", [])
    for n, ex in enumerate(listed if isinstance(listed, list) else [None], 1):
        ok = isinstance(ex, dict) and not set(ex) - _EXCLUDE_KEYS
        where = f"exclude {n} {ex.get('id')!r}" if ok else f"exclude {n}"
        if not ok or (script := ex.get("script", "zh")) not in SCRIPTS:
            raise _fail(source, where, f"needs keys from {sorted(_EXCLUDE_KEYS)}, script zh|en")
        excludes[script].append(_compile(source, where, ex.get("patterns"), script).pattern)
    subjects = raw["subjects"] if isinstance(raw.get("subjects"), dict) else {}
    return CrisisRules(
        source=source,
        rules=tuple(sorted(rules, key=lambda r: -r.severity)),  # stable: file order within a level
        excludes={s: re.compile("|".join(p)) if p else None for s, p in excludes.items()},
        subjects={s: _subjects(source, s, subjects.get(s)) for s in SCRIPTS},
        variants={ord(p[0]): p[1] for p in pairs},
    )


def load_rules(path: Path | None = None) -> CrisisRules:
    """The packaged rules, or those in ``path``; a bad file raises CrisisRulesError."""
    source = str(path) if path is not None else DEFAULT_SOURCE
    try:
        text = (path.read_text(encoding="utf-8") if path is not None else
                resources.files("xinqiao.data").joinpath("crisis_rules.toml")
                .read_text(encoding="utf-8"))
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CrisisRulesError(f"{source}: cannot read: {exc}") from exc
    return _build(raw, source)
