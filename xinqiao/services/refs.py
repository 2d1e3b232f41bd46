"""The numbers staff read and type: 待办 items are D7, 个案 cases G12.

Both used to be "#N", so "#12" could mean either. The letter is the pinyin initial of the word
that goes with it (待办 dàibàn, 个案 gè'àn): "待办 D7", "个案 G12" read as one phrase. Typed
forms are forgiving: ``D7``, ``d7``, ``Ｄ７``, ``#7`` and a bare ``7`` all work wherever
the command already says which kind it means (收到/已处理/待办/回复 take items,
个案/同意结案 cases); the bare number is what pushes said before the letters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ITEM = "D"
CASE = "G"

# Leading punctuation people put between the command and the number (收到：7, 收到，#7).
_REF = re.compile(r"^[\s#＃:：,，]*([A-Za-zＡ-Ｚａ-ｚ])?\s*(\d{1,9})(?!\d)")
# Any reference anywhere (a note that is only a command, 查看 D7 typed instead of tapped).
REF_PATTERN = r"[#＃]?\s*(?:[DdGgＤｄＧｇ]\s*)?\d{1,9}"


def item_ref(number: int | None) -> str:
    """How an item is written: D7."""
    return f"{ITEM}{number}"


def case_ref(number: int | None) -> str:
    """How a case is written: G12."""
    return f"{CASE}{number}"


@dataclass(frozen=True)
class Ref:
    """A typed reference: its letter (None when bare), number and the text after it."""

    letter: str | None
    number: int
    rest: str


def parse_ref(text: str) -> Ref | None:
    """The reference at the start of ``text`` (D7, g12, #7, 7, full-width forms), or None."""
    match = _REF.match(text)
    if match is None:
        return None
    letter = unicodedata.normalize("NFKC", match[1]).upper() if match[1] else None
    if letter not in (None, ITEM, CASE):
        return None
    return Ref(letter, int(match[2]), text[match.end():])


def starts_with_ref(text: str) -> bool:
    """Whether ``text`` begins with a lettered reference (收到D7 is a command, not a sentence)."""
    ref = parse_ref(text)
    return ref is not None and ref.letter is not None and text.lstrip()[:1].isalpha()


def wrong_kind(ref: Ref, wanted: str) -> str | None:
    """What to say when a case number is given where an item is meant, or the other way."""
    if ref.letter is None or ref.letter == wanted:
        return None
    if ref.letter == CASE:
        return f"{case_ref(ref.number)} 是个案编号，回复“个案 {case_ref(ref.number)}”查看。"
    return f"{item_ref(ref.number)} 是待办事项编号，回复“待办 {item_ref(ref.number)}”查看。"
