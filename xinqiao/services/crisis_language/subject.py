"""Whom a crisis signal is about: the message split into the rules' views, and the subject
markers before a match (the writer, someone else, a story or the news).

The detector (detector.py) reads every message through these views: the rules
match on them and the model's strongest feature is traced back to them, so both ask the same
question of the same text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from xinqiao.services.crisis_language.rules import Subjects

# Separator strength before a kept character: none, clause (，), sentence (。).
SPACE, CLAUSE, SENTENCE = 0, 1, 2
_SENTENCE_MARKS = frozenset("。!?！？\n\r")
_CLAUSE_MARKS = frozenset(",，、;；.…~～")
_QUOTE_OPEN = frozenset("“「『:：")  # a colon introduces reported speech as often as a quote
_QUOTE_CLOSE = frozenset("”」』")
_QUOTES = _QUOTE_OPEN | _QUOTE_CLOSE | {'"'}


@dataclass
class View:
    """The message as one script's rules see it, each character traced back to the original."""

    chars: list[str]
    origin: list[int]  # index in the original message
    level: list[int]  # strongest separator just before this character
    quote: list[int]  # where the quotation holding this character starts, or -1
    text: str = ""

    def add(self, c: str, origin: int, level: int, quote: int) -> None:
        """Keep one normalised character of the original at ``origin``."""
        self.chars.append(c)
        self.origin.append(origin)
        self.level.append(level)
        self.quote.append(quote)


def split_views(text: str, norm: Callable[[str], str]) -> dict[str, View]:
    """zh: letters, digits and CJK only ("自 杀" → 自杀); en: words with single spaces.
    ``norm`` maps one original character to what the rules read (possibly several)."""
    zh, en = View([], [], [], []), View([], [], [], [])
    level, gap, q_zh, q_en, in_quote = SPACE, False, -1, -1, False
    for i, raw in enumerate(text):
        for c in norm(raw):
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


def _nearest(subj: Subjects, view: View, at: int, floor: int = 0) -> tuple[str, int, int] | None:
    """The last subject marker before ``at`` in its sentence, within the window."""
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


def whom(subj: Subjects, view: View, at: int) -> str:
    """Whom the match at ``at`` is about: self (a self marker), other, remote (a character,
    the news) or unmarked (no subject said: the writer, unless a report says otherwise)."""
    q = max(view.quote[at], 0)
    if q > 0:  # reported speech: if someone else is speaking, it is about them
        speaker = _nearest(subj, view, q)
        if speaker is not None and speaker[0] != "self":
            return speaker[0]
    found = _nearest(subj, view, at, q)
    if found is None:
        return "unmarked"
    kind, _, end = found
    if kind != "other" or not any(view.level[j] >= CLAUSE for j in range(end, at + 1)):
        return kind
    # Someone else named in an earlier clause counts only if a report cue links them to it.
    return "other" if subj.cues.search(view.text, end, at) else "unmarked"
