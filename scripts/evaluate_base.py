"""Score the base model on the test split of every corpus it was trained on.

    python scripts/evaluate_base.py training/base/model-best corpus/base metrics/base.json --markdown metrics/base.md

Each corpus of the model's recipe (its config's [corpora.train] corpora) is
scored on its own test split (corpus/base/<corpus id>/test.spacy) and its own
labels: strict span P/R/F1 and token P/R/F1 per corpus and label, over all
corpora (micro) and the mean over corpora. Writes the scores as JSON and a
Markdown table. The steps are `spacy_bioner.experiments.base.evaluation`.
"""
from __future__ import annotations

from pathlib import Path

import spacy
import srsly
import typer
from wasabi import msg

from spacy_bioner.experiments.base.evaluation import evaluate_base, render_markdown


def main(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="The trained base model"),
    corpus_root: Path = typer.Argument(..., exists=True, file_okay=False, help="The converted corpora (paths.corpus)"),
    output: Path = typer.Argument(..., help="The scores (JSON), e.g. metrics/base.json"),
    markdown: Path = typer.Option(None, "--markdown", help="Also write the table here, e.g. metrics/base.md"),
    batch_size: int = typer.Option(64, "--batch-size", help="Docs per nlp.pipe batch"),
    limit: int = typer.Option(0, "--limit", min=0, help="Score the first N test sentences of each corpus (0: all)"),
    bf16: bool = typer.Option(False, "--bf16", help="Predict under bf16 autocast (about 2x faster on CPUs with native bf16)"),
) -> None:
    """Score the base model per corpus, on each corpus's own labels."""
    overrides = {"components.bioner_prompted.model.inference_bf16": True} if bf16 else {}
    nlp = spacy.load(pipeline, config=overrides)
    try:
        report = evaluate_base(nlp, corpus_root, batch_size=batch_size, limit=limit)
    except ValueError as err:  # BioNERInputError, and the reader's E806 (a test split not converted)
        msg.fail(str(err), exits=1)
    report = {"pipeline": str(pipeline), "corpus_root": str(corpus_root), "bf16": bf16, **report}
    output.parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(output, report)
    table = render_markdown(report)
    if markdown is not None:
        markdown.parent.mkdir(parents=True, exist_ok=True)
        markdown.write_text(table, encoding="utf8")
    msg.good(f"Wrote {output}" + (f" and {markdown}" if markdown else ""))
    print(table)


if __name__ == "__main__":
    typer.run(main)
