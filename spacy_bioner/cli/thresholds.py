"""``python -m spacy_bioner tune-thresholds``: choose bioner_prompted's
per-label thresholds on dev data and save the pipeline with them.

A thin wrapper over :meth:`PromptedTagger.tune_thresholds`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import srsly
import typer
from spacy.training import Example
from wasabi import msg

from spacy_bioner.cli import app
from spacy_bioner.cli._util import fail, get_docs, load_pipeline, read_doc_bin
from spacy_bioner.errors import Errors
from spacy_bioner.pipeline._thresholds import THRESHOLD_GRID
from spacy_bioner.pipeline.prompted import PromptedTagger
from spacy_bioner.util import pct


@app.command("tune-thresholds")
def tune_thresholds_cli(
    pipeline: Annotated[str, typer.Argument(metavar="PIPELINE", help="Pipeline package name or directory.")],
    data_path: Annotated[Path, typer.Argument(metavar="DEV", help="Dev documents as a DocBin (.spacy) file; never the test set.")],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Directory to save the tuned pipeline to.")],
    component: Annotated[
        str | None, typer.Option("--component", "-c", help="Name of the bioner_prompted component (default: the only one).")
    ] = None,
    grid: Annotated[
        str, typer.Option("--grid", help="Comma-separated thresholds to try.")
    ] = ",".join(str(t) for t in THRESHOLD_GRID),
) -> None:
    """Set each label's threshold to the one with the best strict span F1 on dev data."""
    try:
        values = [float(v) for v in grid.split(",") if v.strip()]
    except ValueError:
        fail(Errors.E319.format(grid=grid))
    doc_bin = read_doc_bin(data_path)
    nlp = load_pipeline(pipeline)
    taggers = {name: pipe for name, pipe in nlp.pipeline if isinstance(pipe, PromptedTagger)}
    names = [name for name in taggers if component is None or name == component]
    if len(names) != 1:
        fail(Errors.E320.format(pipeline=pipeline, found=names or "none", component=component))
    name = names[0]
    gold_docs = get_docs(doc_bin, nlp, data_path)
    # the tagger sees what the components before it produce from the text alone
    predicted = list(nlp.pipe((doc.text for doc in gold_docs), disable=[name]))
    examples = [Example(pred, gold) for pred, gold in zip(predicted, gold_docs, strict=True)]
    try:
        report = taggers[name].tune_thresholds(examples, values)
    except ValueError as err:
        fail(str(err))
    rows = [
        (label, r["n_gold"], f"{r['before']:.2f}", pct(r["f_before"]), f"{r['threshold']:.2f}", pct(r["f"]))
        for label, r in report.items()
    ]
    msg.table(rows, header=("label", "gold", "threshold before", "dev F", "threshold", "dev F"),
              aligns=("l", "r", "r", "r", "r", "r"), divider=True)
    output.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    srsly.write_json(output / "thresholds.json", report)
    msg.good(f"Saved the pipeline with tuned thresholds to {output}")

