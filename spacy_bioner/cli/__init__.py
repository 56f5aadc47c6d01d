"""Command-line interface: ``python -m spacy_bioner COMMAND`` (or ``spacy-bioner COMMAND``).

Commands are thin wrappers over library functions; each lives in its own module
and registers itself on :data:`app`.
"""
from __future__ import annotations

import typer

app = typer.Typer(name="spacy_bioner", no_args_is_help=True, add_completion=False)


@app.callback()
def _root() -> None:
    """Biomedical NER for spaCy: convert corpora, export encoders and decoders,
    evaluate pipelines, tune thresholds, run few- and zero-shot experiments."""


# Importing the command modules registers their commands on ``app``.
from . import annotate, convert, decoder, encoder, evaluate, fewshot, thresholds, zeroshot  # noqa: E402,F401


def main() -> None:
    """Entry point of ``python -m spacy_bioner`` and the ``spacy-bioner`` script."""
    app()
