"""``xinqiao crisis``: train the learned crisis classifier from the shipped corpus."""

from __future__ import annotations

from pathlib import Path

import click

import xinqiao.data


def packaged_model_path() -> Path:
    """Where the package keeps its model file (in a source checkout: the repository)."""
    return Path(xinqiao.data.__file__).parent / "crisis" / "model.npz"


@click.group()
def crisis() -> None:
    """The crisis-language classifier."""


@crisis.command()
@click.option("--corpus", "corpus_dir", type=click.Path(path_type=Path, file_okay=False),
              default=None, help="A folder of batch_*.tsv files (default: the packaged corpus).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Model file to write (default: the packaged xinqiao/data/crisis/model.npz).")
def train(corpus_dir: Path | None, out: Path | None) -> None:
    """Train the model (fixed seeds: the same corpus gives the same file) and write it."""
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:  # scikit-learn is a training-time dependency only
        raise click.ClickException(f"training needs scikit-learn: {exc}") from exc
    from xinqiao.services.crisis_language import train as crisis_train
    from xinqiao.services.crisis_language.corpus import CorpusError, load_corpus
    from xinqiao.services.crisis_language.model import write_model

    try:
        examples = load_corpus(corpus_dir)
    except CorpusError as exc:
        raise click.ClickException(str(exc)) from exc
    target = out or packaged_model_path()
    click.echo(f"training on {len(examples)} messages from "
               f"{len({e.batch for e in examples})} writers …")
    arrays = crisis_train.train(examples)
    write_model(arrays, target)
    t = arrays.thresholds
    click.echo(f"wrote {target}: {len(arrays.vocab)} features, thresholds crisis {t.crisis:.2f}, "
               f"ask {t.ask:.2f}")
