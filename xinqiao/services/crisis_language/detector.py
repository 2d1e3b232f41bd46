"""Crisis language in any message: rules first, then a learned model, and whom a flag is about.

Two passes (issue 14). The rules (``xinqiao/data/crisis_rules.toml``, rules.py)
catch the unmistakable — an explicit wish to die, a method with intent, harm to others — and
explain it (``rule_id``). The learned model (model.py, trained on the shipped
corpus) decides the rest and grades it: ``crisis`` or ``concern``. The detector never decides
that a student is safe and is stateless, so a later "我开玩笑的" or "我没有想自杀" cancels
nothing; closing a flag is the on-duty counsellor's job.
"""

from __future__ import annotations

import asyncio
import bisect
from dataclasses import dataclass, replace
from pathlib import Path

from xinqiao.services.crisis_language.memo import QuietTexts
from xinqiao.services.crisis_language.model import CrisisModel, Verdict
from xinqiao.services.crisis_language.rules import (
    CATEGORIES,
    DEFAULT_SOURCE,
    CrisisRules,
    CrisisRulesError,
    Rule,
    Subjects,
    load_rules,
)
from xinqiao.services.crisis_language.subject import View, split_views, whom
from xinqiao.services.crisis_language.text import TOKENIZER, WORD_PREFIX, normalise_char, warm_up
from xinqiao.services.warm import Once

__all__ = ["CATEGORIES", "DEFAULT_SOURCE", "GUARD", "CrisisDetector", "CrisisRules",
           "CrisisRulesError", "Detection", "LengthGuard", "Rule", "Subjects", "load_rules",
           "read_labelled"]

_MASK = "\x00"
# Remote markers that name whom a message speaks to rather than a story (see __init__).
ADDRESSEES = frozenset({"你", "你们", "您", "妳", "you", "your", "you're"})
# A rule hit stands (crisis at once) unless the model is at least this sure the message is
# ``none``: topic talk, news, a course essay. When the subject logic says the writer speaks of
# themselves or someone else, the model must be surer (hypotheticals and old stories about a
# friend or an uncle name someone too). Chosen on leave-one-writer-out predictions.
RULE_VETO = 0.5
RULE_VETO_MARKED = 0.7
# Topic talk, a hypothetical or an old story needs words; a rule hit in a message this short
# (letters, digits and CJK counted) stands whatever the model says: 好想死啊, 想 自 杀.
SHORT_TEXT = 12
# The verdict on a text is a pure function of the text (whom it is about and the 24 h memory
# are decided later, per person, in handlers/crisis_watch.py), so a repeated quiet text — 菜单,
# 好的, a form's 1-5 — is not read again: up to MEMO_SIZE texts of at most MEMO_CHARS characters
# whose verdict was none (memo.py; crisis wording is never kept).
MEMO_SIZE = 4096
MEMO_CHARS = 16


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
class LengthGuard:
    """How far the model alone is trusted on very short messages (letters, digits and CJK
    counted): a crisis in ``alert`` characters or fewer is asked about instead, a concern in
    ``ask`` characters or fewer is let go. A rule hit is never guarded."""

    alert: int
    ask: int

    def apply(self, level: str | None, length: int) -> str | None:
        """The model-only ``level`` of a message of ``length``, one step down if too short."""
        if level == "crisis" and length <= self.alert:
            return "concern"
        if level == "concern" and length <= self.ask:
            return None
        return level


# A few characters with no rule behind them ("又一次") are too little to alert on: asking the
# writer directly is the safe reading. Three or fewer are too little even to ask about (a reply
# typed mid-booking or mid-exercise); a risk word the rules know still counts at any length. On
# leave-one-writer-out: short everyday replies asked 6.7% → 3.0% for one self-harm and one
# goodbye line of the corpus (README "The crisis model").
GUARD = LengthGuard(alert=4, ask=3)


class CrisisDetector:
    """Checks one message at a time: rules, then the model; safe to share, holds no
    conversation. ``learned=False`` keeps the rules alone (their regression tests)."""

    def __init__(self, rules: CrisisRules | None = None, model: CrisisModel | None = None,
                 *, learned: bool = True, memo: int = MEMO_SIZE) -> None:
        self.rules = rules if rules is not None else load_rules()
        self._model = model
        self.learned = learned
        self._cache: dict[str, str] = {}
        # Keyed by the exact text, not the normalised one (a repeat must be the same message).
        self._quiet = QuietTexts(memo) if memo > 0 else None
        self._memo_rules, self._memo_learned = self.rules, learned
        # The model path reads "你/你们/you" as the message's readers, not as a story: a goodbye
        # addresses them (你们以后不用担心我了). The rules keep them remote (banter, hotline copy).
        self._model_subjects = {
            script: replace(subj, kinds={w: ("neutral" if w in ADDRESSEES else k)
                                         for w, k in subj.kinds.items()})
            for script, subj in self.rules.subjects.items()}

    @property
    def model(self) -> CrisisModel:
        """The learned model: the one given, else the packaged one, loaded once per process."""
        if self._model is None:
            self._model = packaged_model()
        return self._model

    def warm_up(self) -> None:
        """Load the model, jieba's dictionary and the character tables now: about a second,
        so start-up calls it off the event loop rather than the first message paying it."""
        if self.learned:
            _ = self.model
            warm_up()

    @property
    def warm(self) -> bool:
        """Whether ``check`` can run without loading anything."""
        return not self.learned or (self._model is not None and TOKENIZER.built)

    async def ready(self) -> None:
        """Wait, off the event loop, for what ``check`` needs and the warm-up may still be
        loading: a message during start-up waits for that one load instead of a second one."""
        if not self.warm:
            await asyncio.to_thread(self.warm_up)

    def _norm(self, ch: str) -> str:
        got = self._cache.get(ch)
        if got is None:
            # NFKC, lower case and traditional → simplified, then the rules' own variants.
            got = normalise_char(ch).translate(self.rules.variants)
            if len(self._cache) < 100_000:
                self._cache[ch] = got
        return got

    def _views(self, text: str) -> dict[str, View]:
        """The message as the rules read it (subject.py)."""
        return split_views(text, self._norm)

    def _who(self, script: str, view: View, at: int) -> str:
        """Whom the match at ``at`` in ``view`` is about (self, other, remote, unmarked)."""
        return whom(self.rules.subjects[script], view, at)

    def check(self, text: str) -> Detection | None:
        """The crisis signal in ``text`` with its level, or None for ``none``. Denials and jokes
        cancel nothing. A repeated short quiet text is answered from memory."""
        quiet = self._quiet
        if quiet is None or len(text) > MEMO_CHARS:
            return self._check(text)
        if self._memo_rules is not self.rules or self._memo_learned != self.learned:
            quiet.clear()  # the rules were swapped: what was quiet under them may not be now
            self._memo_rules, self._memo_learned = self.rules, self.learned
        if quiet.knows(text):
            return None
        hit = self._check(text)
        if hit is None:
            quiet.add(text)
        return hit

    def _check(self, text: str) -> Detection | None:
        """``check`` without the memo: the rules, then the model."""
        views = self._views(text)
        hit = self._rule_hit(text, views)
        if not self.learned or not views["zh"].chars:  # no word at all: nothing to read
            return hit
        verdict = self.model.read(text)
        p = verdict.probabilities
        if hit is not None and rule_stands(hit, p["none"], len(views["zh"].chars)):
            if hit.category != "veiled":  # explicit words, a method with intent, harm to others
                return replace(hit, level="crisis", score=1.0)
            # The rules' veiled phrases (活着好累, 不想醒来): the model's level, concern at least.
            crisis = verdict.level == "crisis"
            return replace(hit, level="crisis" if crisis else "concern",
                           severity=2 if crisis else 1,
                           score=round(p["crisis"] + (0 if crisis else p["concern"]), 4))
        if verdict.level is None:
            return None
        found = self._model_detection(text, views, verdict)
        if found is None:
            return None
        level = GUARD.apply(found.level, len(views["zh"].chars))
        if level is None:
            return None
        return found if level == found.level else replace(found, level=level, severity=1)

    def length(self, text: str) -> int:
        """Letters, digits and CJK characters in ``text`` after normalising: what the rules
        read and the length guards count."""
        return len(self._views(text)["zh"].chars)

    def _model_detection(self, text: str, views: dict[str, View],
                         verdict: Verdict) -> Detection | None:
        """A detection the model decided, about whomever the subject logic finds at the
        feature that weighed most; read as remote (a story, the news, an addressee) it is asked
        about, never alerted on nor dropped."""
        token = verdict.token.removeprefix(WORD_PREFIX)
        start, end = _locate(text, token)
        script = "en" if token.isascii() and any(c.isalpha() for c in token) else "zh"
        view = views[script]
        who = "unmarked"
        if view.chars:
            at = min(bisect.bisect_left(view.origin, start), len(view.chars) - 1)
            who = whom(self._model_subjects[script], view, at)
        third = who == "other" or (who != "self" and verdict.category == "third_party")
        crisis = verdict.level == "crisis" and who != "remote"
        # A story or the news before the feature cannot clear what the model read as danger:
        # the writer is asked rather than nothing said. Rules still skip remote hits.
        return Detection(verdict.category, text[start:end] or text[:20], third, "model",
                         2 if crisis else 1, self_marked=who == "self",
                         level="crisis" if crisis else "concern", score=round(verdict.score, 4))

    def _rule_hit(self, text: str, views: dict[str, View]) -> Detection | None:
        """The strongest rule that fires on ``text``, or None."""
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
            seen = masked[rule.script]
            if rule.spare is not None:  # read by a weaker rule: <feeling>到想死 is asked about
                seen = rule.spare.sub(lambda m: _MASK * len(m.group(0)), seen)
            for m in rule.pattern.finditer(seen):
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


def rule_stands(hit: Detection, p_none: float, length: int) -> bool:
    """Whether a rule hit holds against the model's P(none) in a message of ``length``."""
    veto = RULE_VETO_MARKED if hit.self_marked or hit.third_party else RULE_VETO
    return length <= SHORT_TEXT or p_none < veto


PACKAGED: Once[CrisisModel] = Once(CrisisModel.load)


def packaged_model() -> CrisisModel:
    """The shipped model, read once per process (a caller during the read waits for it)."""
    return PACKAGED.get()


def _locate(text: str, token: str) -> tuple[int, int]:
    """Where the model's feature ``token`` (normalised text) sits in the original ``text``."""
    norm, origin = [], []
    for i, ch in enumerate(text):
        for c in normalise_char(ch):
            norm.append(c)
            origin.append(i)
    at = "".join(norm).find(token) if token else -1
    if at < 0:
        return 0, 0
    return origin[at], origin[at + len(token) - 1] + 1


def read_labelled(path: Path) -> list[tuple[int, str]]:
    """The (label, text) lines of a labelled TSV; lines starting with # are comments."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((int(label), text))
    return rows
