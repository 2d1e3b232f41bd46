"""The labelled corpus the crisis model is trained on, shipped in ``xinqiao/data/crisis/corpus``.

One file per writer (``batch_X.tsv``); each line ``level<TAB>category<TAB>register<TAB>text``.
Provenance and the writers' brief are in that folder's README.md and BRIEF.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

LEVELS = ("none", "concern", "crisis")  # the model's class order
CATEGORIES: dict[str, tuple[str, ...]] = {
    "crisis": ("explicit", "veiled", "method", "edge", "means_question", "affairs",
               "self_harm", "third_party", "harm_others"),
    "concern": ("passive", "hopeless", "burden", "goodbye"),
    "none": ("topic", "hypothetical", "past_other", "hyperbole", "everyday"),
}
LEVEL_OF = {cat: level for level, cats in CATEGORIES.items() for cat in cats}
CORPUS_SOURCE = "xinqiao/data/crisis/corpus"


class CorpusError(ValueError):
    """A corpus file that cannot be used; the message names the file and the line."""


@dataclass(frozen=True)
class Example:
    """One labelled message and where it came from."""

    level: str
    category: str
    register: str
    text: str
    batch: str  # the writer: one file per writer
    line: int


def parse_tsv(content: str, source: str, batch: str,
              seen: dict[str, str] | None = None) -> list[Example]:
    """The examples in one TSV file's text; ``seen`` (text → where) catches duplicates across
    files too. Raises CorpusError naming ``source`` and the line."""
    seen = {} if seen is None else seen
    out = []
    for n, line in enumerate(content.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        where = f"{source}:{n}"
        fields = line.split("\t")
        if len(fields) != 4:
            raise CorpusError(f"{where}: expected 4 tab-separated fields, found {len(fields)}")
        level, category, register, text = (f.strip() for f in fields)
        if level not in CATEGORIES:
            raise CorpusError(f"{where}: unknown level {level!r} (one of {list(CATEGORIES)})")
        if LEVEL_OF.get(category) != level:
            raise CorpusError(f"{where}: category {category!r} is not one of level {level!r}: "
                              f"{list(CATEGORIES[level])}")
        if not register or not text:
            raise CorpusError(f"{where}: empty register or text")
        if text in seen:
            raise CorpusError(f"{where}: duplicate of {seen[text]}")
        seen[text] = where
        out.append(Example(level, category, register, text, batch, n))
    return out


def _files(folder: Traversable | Path) -> list[Traversable | Path]:
    return sorted((f for f in folder.iterdir() if f.name.endswith(".tsv")),
                  key=lambda f: f.name)


def load_corpus(folder: Path | None = None) -> list[Example]:
    """Every example in the packaged corpus, or in ``folder``'s ``*.tsv`` files, file by file."""
    root: Traversable | Path = (
        folder if folder is not None
        else resources.files("xinqiao.data").joinpath("crisis", "corpus"))
    prefix = str(folder) if folder is not None else CORPUS_SOURCE
    seen: dict[str, str] = {}
    out: list[Example] = []
    files = _files(root)
    if not files:
        raise CorpusError(f"{prefix}: no .tsv files")
    for f in files:
        source = f"{prefix}/{f.name}"
        try:
            content = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CorpusError(f"{source}: cannot read: {exc}") from exc
        out.extend(parse_tsv(content, source, f.name.removesuffix(".tsv"), seen))
    return out


def load_tsv(path: Path) -> list[Example]:
    """The examples in one TSV file (a blind batch, say), validated like the corpus."""
    try:
        content = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: cannot read: {exc}") from exc
    return parse_tsv(content, str(path), path.stem)
