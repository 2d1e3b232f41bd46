"""Crisis language in any message: data-driven rules, normalised text, and whom a flag is about.

The rules live in ``xinqiao/data/crisis_rules.toml``. The detector is a high-recall first pass
(clinical.md §7): it never decides that a student is safe. It is stateless, so a later "我开玩笑的"
or "我没有想自杀" cancels nothing; closing a flag is the on-duty counsellor's job.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
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
              "note"}
_EXCLUDE_KEYS = {"id", "script", "patterns", "note"}
# Separator strength before a kept character: none, clause (，), sentence (。).
SPACE, CLAUSE, SENTENCE = 0, 1, 2
_SENTENCE_MARKS = frozenset("。!?！？\n\r")
_CLAUSE_MARKS = frozenset(",，、;；.…~～")
_QUOTE_OPEN = frozenset("“「『:：")  # a colon introduces reported speech as often as a quote
_QUOTE_CLOSE = frozenset("”」』")
_QUOTES = _QUOTE_OPEN | _QUOTE_CLOSE | {'"'}
_MASK = "\x00"
_ESCAPES_AND_CLASSES = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]")
_REPEAT = re.compile(r"[*+]|\{(?:\d*,)?(\d*)\}")
_EN_WRAP = "(?<![a-z0-9'])(?:{})(?![a-z0-9'])"


class CrisisRulesError(ValueError):
    """A crisis rules file that cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class Detection:
    """A crisis signal: the rule's category, the text matched, and whether it is about others."""

    category: str
    matched: str
    third_party: bool
    rule_id: str
    severity: int = 2
    # The writer plainly speaks of themselves (我 …) rather than saying it with no subject:
    # inside a report about a roommate, an unmarked 总说自己是累赘 is about the roommate.
    self_marked: bool = False
    # "crisis": the crisis path at once. "concern" (a passive wish to die, hopelessness, burden,
    # a goodbye with no plan): the bot asks the writer directly first (handlers/crisis_watch).
    level: str = "crisis"
    score: float = 1.0


@dataclass(frozen=True)
class Rule:
    """One compiled rule: any pattern fires it, given a ``requires`` cue and no ``unless`` cue."""

    id: str
    category: str
    severity: int
    script: str
    who: str  # "infer" or "other"
    pattern: re.Pattern[str]
    requires: re.Pattern[str] | None
    unless: re.Pattern[str] | None


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
        for key in ("requires", "unless")
    }
    return Rule(raw["id"], raw["category"], severity, script, who,
                _compile(source, f"{where} patterns", raw.get("patterns"), script),
                opt["requires"], opt["unless"])


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


@dataclass
class _View:
    """The message as one script's rules see it, each character traced back to the original."""

    chars: list[str]
    origin: list[int]  # index in the original message
    level: list[int]  # strongest separator just before this character
    quote: list[int]  # where the quotation holding this character starts, or -1
    text: str = ""

    def add(self, c: str, origin: int, level: int, quote: int) -> None:
        self.chars.append(c)
        self.origin.append(origin)
        self.level.append(level)
        self.quote.append(quote)


class CrisisDetector:
    """Checks one message at a time against a rule set; safe to share, holds no conversation."""

    def __init__(self, rules: CrisisRules | None = None) -> None:
        self.rules = rules if rules is not None else load_rules()
        self._cache: dict[str, str] = {}

    def _norm(self, ch: str) -> str:
        got = self._cache.get(ch)
        if got is None:
            got = unicodedata.normalize("NFKC", ch).lower().translate(self.rules.variants)
            if len(self._cache) < 100_000:
                self._cache[ch] = got
        return got

    def _views(self, text: str) -> dict[str, _View]:
        """zh: letters, digits and CJK only ("自 杀" → 自杀); en: words with single spaces."""
        zh, en = _View([], [], [], []), _View([], [], [], [])
        level, gap, q_zh, q_en, in_quote = SPACE, False, -1, -1, False
        for i, raw in enumerate(text):
            for c in self._norm(raw):
                if c.isalnum() or c == "'":
                    if gap and en.chars:
                        en.add(" ", i, level, q_en)
                    if c != "'":
                        zh.add(c, i, level, q_zh)
                    en.add(c, i, level, q_en)
                    level, gap = SPACE, False
                    continue
                gap = True
                if c in _SENTENCE_MARKS:
                    level, q_zh, q_en, in_quote = SENTENCE, -1, -1, False
                    continue
                level = max(level, CLAUSE) if c in _CLAUSE_MARKS or c in _QUOTES else level
                if c in _QUOTE_OPEN or (c == '"' and not in_quote):
                    q_zh, q_en, in_quote = len(zh.chars), len(en.chars), True
                elif c in _QUOTE_CLOSE or c == '"':
                    q_zh, q_en, in_quote = -1, -1, False
        zh.text, en.text = "".join(zh.chars), "".join(en.chars)
        return {"zh": zh, "en": en}

    def _nearest(
        self, script: str, view: _View, at: int, floor: int = 0
    ) -> tuple[str, int, int] | None:
        """The last subject marker before ``at`` in its sentence, within the window."""
        subj = self.rules.subjects[script]
        lo = max(floor, at - subj.window)
        for j in range(at, lo, -1):
            if view.level[j] == SENTENCE:
                lo = j
                break
        last, story = None, False
        for m in subj.markers.finditer(view.text, lo, at):
            kind = subj.kinds[m.group(0)]
            if kind != "neutral":
                story = kind == "remote" or (story and kind == "other")
                last = (kind, m.start(), m.end())
        # "新闻说有人跳河": someone inside a story or the news is part of it, not a report.
        return ("remote", last[1], last[2]) if last is not None and story else last

    def _who(self, script: str, view: _View, at: int) -> str:
        """Whom the match at ``at`` is about: self (a self marker), other, remote (a character,
        the news) or unmarked (no subject said: the writer, unless a report says otherwise)."""
        q = max(view.quote[at], 0)
        if q > 0:  # reported speech: if someone else is speaking, it is about them
            speaker = self._nearest(script, view, q)
            if speaker is not None and speaker[0] != "self":
                return speaker[0]
        found = self._nearest(script, view, at, q)
        if found is None:
            return "unmarked"
        kind, _, end = found
        if kind != "other" or not any(view.level[j] >= CLAUSE for j in range(end, at + 1)):
            return kind
        # Someone else named in an earlier clause counts only if a report cue links them to it.
        subj = self.rules.subjects[script]
        return "other" if subj.cues.search(view.text, end, at) else "unmarked"

    def check(self, text: str) -> Detection | None:
        """The strongest crisis signal in ``text``, or None. Denials and jokes cancel nothing."""
        views = self._views(text)
        masked: dict[str, str] = {}
        for rule in self.rules.rules:
            view = views[rule.script]
            # Blanking the exclusions costs more than one rule, so do it only once a rule hits.
            if rule.pattern.search(view.text) is None or (
                rule.unless is not None and rule.unless.search(view.text)
            ):
                continue
            if rule.script not in masked:
                ex = self.rules.excludes[rule.script]
                masked[rule.script] = (
                    ex.sub(lambda m: _MASK * len(m.group(0)), view.text) if ex else view.text
                )
            for m in rule.pattern.finditer(masked[rule.script]):
                if rule.requires is not None:
                    rest = view.text[: m.start()] + _MASK + view.text[m.end():]
                    if not rule.requires.search(rest):
                        continue
                who = self._who(rule.script, view, m.start())
                if who == "remote":
                    continue
                if rule.who == "other":
                    who = "other"
                start, end = view.origin[m.start()], view.origin[m.end() - 1] + 1
                return Detection(rule.category, text[start:end], who == "other", rule.id,
                                 rule.severity, self_marked=who == "self",
                                 level="concern" if rule.severity <= 1 else "crisis")
        return None


def read_labelled(path: Path) -> list[tuple[int, str]]:
    """The (label, text) lines of a labelled TSV; lines starting with # are comments."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((int(label), text))
    return rows
