"""The crisis model's view of a message: normalised text and its features.

Training (train.py) and inference (model.py) both call
``features`` so the two can never drift apart. Normalisation: NFKC (full-width → half-width),
lower case, traditional → simplified one character at a time (OpenCC's character table, from
``opencc-python-reimplemented``), whitespace runs → one space. Features: jieba words (prefixed
``w:``) and character 1–3-grams; emoji are characters, so they stay as tokens.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from importlib import resources
from typing import Any

from xinqiao.services.warm import Once

WORD_PREFIX = "w:"
MAX_GRAM = 3
_SPACES = re.compile(r"\s+")
_MEANINGFUL = re.compile(r"\w", re.UNICODE)
_CACHE_LIMIT = 50_000


@functools.cache
def _traditional() -> dict[int, str]:
    """Traditional → simplified, per character; a character with several readings takes the
    first, which OpenCC lists as the most common."""
    text = (resources.files("opencc").joinpath("dictionary/TSCharacters.txt")
            .read_text(encoding="utf-8"))
    table: dict[int, str] = {}
    for line in text.splitlines():
        source, _, targets = line.partition("\t")
        if len(source) == 1 and targets:
            table[ord(source)] = targets.split()[0]
    return table


def _load_tokenizer() -> Any:
    import jieba  # imported here: it takes a tenth of a second, and start-up need not wait

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    return tok


# jieba with its own default dictionary (never the content library's user dictionary: a changed
# article dictionary must not change what the model sees). Loading takes about a second;
# start-up's ``warm_up`` pays it off the event loop, and a message that comes sooner waits for
# that same load (``TOKENIZER.ready``) rather than loading a second one.
TOKENIZER: Once[Any] = Once(_load_tokenizer)


def tokenizer() -> Any:
    """The model's jieba, loaded once per process (a caller during the load waits for it)."""
    return TOKENIZER.get()


_char_cache: dict[str, str] = {}


def normalise_char(ch: str) -> str:
    """One original character as the model sees it (may be empty or several characters)."""
    got = _char_cache.get(ch)
    if got is None:
        got = unicodedata.normalize("NFKC", ch).lower().translate(_traditional())
        got = " " if got.isspace() else got
        if len(_char_cache) < _CACHE_LIMIT:
            _char_cache[ch] = got
    return got


def normalise(text: str) -> str:
    """``text`` normalised for the model."""
    return _SPACES.sub(" ", "".join(normalise_char(c) for c in text)).strip()


def features(text: str) -> list[str]:
    """The tokens of ``text``: jieba words and character n-grams of the normalised text."""
    norm = normalise(text)
    tokens = [WORD_PREFIX + w for w in tokenizer().lcut(norm, HMM=False)
              if w.strip() and _MEANINGFUL.search(w)]
    for n in range(1, MAX_GRAM + 1):
        for i in range(len(norm) - n + 1):
            gram = norm[i:i + n]
            if not gram.isspace():
                tokens.append(gram)
    return tokens


def warm_up() -> None:
    """Load jieba's dictionary and the character table now (call off the event loop)."""
    features("预热")
