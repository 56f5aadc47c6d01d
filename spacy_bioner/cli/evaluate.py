"""``python -m spacy_bioner evaluate``: score a pipeline on gold documents.

A thin wrapper over :func:`spacy_bioner.scoring.evaluate_docs`: load, score,
print a per-label table, optionally write every score as JSON.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import srsly
import typer
from wasabi import msg

from spacy_bioner.cli import app
from spacy_bioner.cli._util import fail, get_docs, load_pipeline, read_doc_bin
from spacy_bioner.errors import BioNERInputError, Errors
from spacy_bioner.scoring import evaluate_docs
from spacy_bioner.util import pct


@app.command("evaluate")
def evaluate_cli(
    pipeline: Annotated[
        str, typer.Argument(metavar="PIPELINE", help="Pipeline package name or directory (anything spacy.load accepts).")
    ],
    data_path: Annotated[Path, typer.Argument(metavar="DATA", help="Gold documents as a DocBin (.spacy) file.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write all scores to this JSON file.")
    ] = None,
    spans_key: Annotated[
        str | None,
        typer.Option("--spans-key", "-k", help="Score doc.spans[KEY] instead of doc.ents."),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", min=1, help="Documents per nlp.pipe batch.")
    ] = 64,
) -> None:
    """Score a pipeline on gold documents: strict span and token-level P/R/F per label."""
    doc_bin = read_doc_bin(data_path)
    nlp = load_pipeline(pipeline)
    gold_docs = get_docs(doc_bin, nlp, data_path)
    if spans_key is not None and not any(spans_key in doc.spans for doc in gold_docs):
        keys = ", ".join(sorted({k for doc in gold_docs for k in doc.spans.keys()})) or "none"
        fail(Errors.E021.format(key=spans_key, path=data_path, keys=keys))
    try:
        scores = evaluate_docs(nlp, gold_docs, spans_key=spans_key, batch_size=batch_size)
    except BioNERInputError as err:
        fail(str(err))
    _print_scores(scores, spans_key, pipeline, data_path)
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        srsly.write_json(output, scores)
        msg.good(f"Saved scores to {output}")


def _print_scores(scores: dict[str, Any], spans_key: str | None, pipeline: str, path: Path) -> None:
    span_prefix = "ents" if spans_key is None else f"spans_{spans_key}"
    token_prefix = "token" if spans_key is None else f"spans_{spans_key}_token"
    span_types: dict[str, dict[str, Any]] = scores[f"{span_prefix}_per_type"] or {}
    token_types: dict[str, dict[str, Any]] = scores[f"{token_prefix}_per_type"] or {}
    what = "doc.ents" if spans_key is None else f"doc.spans['{spans_key}']"
    msg.divider(f"Evaluating {pipeline} on {path} ({what})")
    rows: list[tuple[str, ...]] = []
    for label in sorted(set(span_types) | set(token_types)):
        span = span_types.get(label, {})
        rows.append(
            (
                label,
                str(span.get("n_gold", 0)),
                str(span.get("n_pred", 0)),
                pct(span.get("p")),
                pct(span.get("r")),
                pct(span.get("f")),
                pct(token_types.get(label, {}).get("f")),
            )
        )
    n_gold = sum(t["n_gold"] for t in span_types.values())
    n_pred = sum(t["n_pred"] for t in span_types.values())
    for name, infix, gold, pred in (
        ("MICRO", "", str(n_gold), str(n_pred)),
        ("MACRO", "_macro", "", ""),
    ):
        rows.append(
            (
                name,
                gold,
                pred,
                pct(scores[f"{span_prefix}{infix}_p"]),
                pct(scores[f"{span_prefix}{infix}_r"]),
                pct(scores[f"{span_prefix}{infix}_f"]),
                pct(scores[f"{token_prefix}{infix}_f"]),
            )
        )
    msg.table(
        rows,
        header=("label", "gold", "predicted", "P", "R", "F", "token F"),
        aligns=("l", "r", "r", "r", "r", "r", "r"),
        divider=True,
    )
    wps = scores["words_per_second"]
    speed = "-" if wps is None else f"{wps:,.0f}"
    msg.info(f"{scores['docs']} docs, {scores['words']} words, {speed} words/second")
