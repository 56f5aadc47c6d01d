"""The evaluation step: each corpus of the recipe scored on its own test split
and its own labels (strict span and token P/R/F1), and over all corpora.

The corpora, hold-out and generic-label settings are read from the trained
pipeline's config (what it was trained on); the test docs are read with the
catalogue reader's label mapping (``spacy_bioner.CatalogueCorpus.v1`` with
split "test"). For each corpus the component is asked only about that
corpus's labels, by the descriptions it was trained with, as a user asks a
multi-label question of one corpus."""
from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ...catalogue import LabelCatalogue, load_catalogue
from ...catalogue.reader import catalogue_datasets
from ...scoring import score_spans, score_tokens
from ...util import pct
from ..fewshot.evaluation import hidden_references
from ..zeroshot.data import corpus_docs
from .data import recipe_corpora

#: The component of the base model.
FACTORY = "bioner_prompted"
#: The scores of a corpus and of the whole, as the report names them.
SCORES = ("span_p", "span_r", "span_f", "token_p", "token_r", "token_f")


def score_examples(examples: Sequence[Example], spans_key: str, labels: Sequence[str]) -> dict[str, Any]:
    """Micro scores and per-label scores of some examples (the library scorers).

    examples (Sequence[Example]): Predicted and reference docs.
    spans_key (str): The span group.
    labels (Sequence[str]): The labels scored.
    RETURNS (dict[str, Any]): SCORES (None where nothing was scored) and
        "per_label": {label: {span_p, span_r, span_f, token_f, n_gold}}.
    """
    spans = score_spans(examples, spans_key=spans_key, labels=labels)
    tokens = score_tokens(examples, spans_key=spans_key, labels=labels)
    span_key, token_key = f"spans_{spans_key}", f"spans_{spans_key}_token"
    out: dict[str, Any] = {f"span_{m}": spans[f"{span_key}_{m}"] for m in "prf"}
    out.update({f"token_{m}": tokens[f"{token_key}_{m}"] for m in "prf"})
    span_rows, token_rows = spans[f"{span_key}_per_type"] or {}, tokens[f"{token_key}_per_type"] or {}
    out["per_label"] = {
        label: {"span_p": span_rows.get(label, {}).get("p", 0.0), "span_r": span_rows.get(label, {}).get("r", 0.0),
                "span_f": span_rows.get(label, {}).get("f", 0.0), "token_f": token_rows.get(label, {}).get("f", 0.0),
                "n_gold": span_rows.get(label, {}).get("n_gold", 0)}
        for label in labels
    }
    return out


def predict(nlp: Language, references: Sequence[Doc], batch_size: int = 64) -> list[Example]:
    """Run the pipeline on the texts of the references only (no gold leaks in).

    RETURNS (list[Example]): (prediction, reference) pairs.
    """
    predicted = nlp.pipe((ref.text for ref in references), batch_size=batch_size)
    return [Example(pred, ref) for pred, ref in zip(predicted, references, strict=True)]


def corpus_test_set(
    nlp: Language, root: Path, corpus: str, settings: Mapping[str, Any], catalogue: LabelCatalogue, known: Sequence[str],
    limit: int = 0,
) -> tuple[list[str], list[Doc]] | None:
    """The labels a corpus is scored on and its test references.

    The labels are the catalogue labels the training reader maps the corpus's
    tags to (hold-out and generic settings applied) that the pipeline knows.

    limit (int): Score only the first `limit` test docs (0: all of them).
    RETURNS (tuple[list[str], list[Doc]] | None): Labels and references; None
        when no label of the corpus is left.
    """
    if limit < 0:
        raise ValueError(f"limit must be 0 (all test docs) or positive, not {limit}")
    datasets = catalogue_datasets(root, "test", [corpus], list(settings.get("hold_out", [])),
                                  include_generic=bool(settings.get("include_generic", False)), catalogue=catalogue)
    if not datasets:
        return None
    mapping = datasets[0]["labels"]
    labels = [label for label in dict.fromkeys(mapping.values()) if label is not None and label in known]
    if not labels:
        return None
    docs = corpus_docs(nlp, root, corpus, "test", mapping)
    if limit:
        docs = docs[:limit]
    return labels, hidden_references(docs, labels, str(settings.get("spans_key", "sc")))


def evaluate_base(nlp: Language, root: Path, *, batch_size: int = 64, limit: int = 0) -> dict[str, Any]:
    """Score a trained base model on the test split of every corpus it was trained on.

    nlp (Language): The base-model pipeline (its config names the recipe's corpora).
    root (Path): Root of the converted corpora ({root}/{corpus id}/test.spacy).
    batch_size (int): Docs per nlp.pipe batch.
    limit (int): Test docs scored per corpus, the first ones (0: all of them).
    RETURNS (dict[str, Any]): {"corpora": {id: {"name", "labels", "docs", SCORES,
        "per_label"}}, "overall": micro SCORES over all corpora, "macro": the
        mean of each corpus's SCORES, "skipped": ids without a label to score}.
    """
    catalogue = load_catalogue()
    config = nlp.config.interpolate()
    settings = dict(config["corpora"]["train"])
    tagger: Any = nlp.get_pipe(FACTORY)
    # the label state to restore: descriptions, tuned thresholds, training names
    descriptions, thresholds = tagger.label_descriptions, dict(tagger.cfg.get("thresholds", {}))
    names = dict(tagger.cfg.get("names", {}))
    report: dict[str, Any] = {"corpora": {}, "skipped": [], "limit": limit}
    every: list[Example] = []
    try:
        for corpus in recipe_corpora(config):
            test_set = corpus_test_set(nlp, root, corpus, settings, catalogue, list(descriptions), limit)
            if test_set is None:
                report["skipped"].append(corpus)
                continue
            labels, references = test_set
            tagger.set_labels({label: descriptions[label] for label in labels})
            for label in labels:
                if label in thresholds:
                    tagger.set_threshold(label, thresholds[label])
            examples = predict(nlp, references, batch_size)
            every += examples
            scores = score_examples(examples, str(settings.get("spans_key", "sc")), labels)
            report["corpora"][corpus] = {"name": catalogue.corpus(corpus).name, "labels": labels,
                                         "docs": len(references), **scores}
    finally:
        tagger.set_labels(descriptions)
        for label, value in thresholds.items():
            tagger.set_threshold(label, value)
        tagger.cfg["names"] = names
    scored = sorted({label for row in report["corpora"].values() for label in row["labels"]})
    overall = score_examples(every, str(settings.get("spans_key", "sc")), scored)
    report["overall"] = {key: overall[key] for key in SCORES}
    report["macro"] = {key: _mean(c[key] for c in report["corpora"].values()) for key in SCORES}
    return report


def _mean(values: Any) -> float | None:
    numbers = [float(v) for v in values if v is not None]
    return statistics.fmean(numbers) if numbers else None


def render_markdown(report: Mapping[str, Any]) -> str:
    """The per-corpus scores as a Markdown table, with the overall rows.

    report (Mapping[str, Any]): From `evaluate_base`.
    RETURNS (str): The table.
    """
    lines = ["| corpus | labels | test docs | span P | span R | span F1 | token F1 |",
             "|---|--:|--:|--:|--:|--:|--:|"]
    for corpus, row in report["corpora"].items():
        lines.append(f"| {corpus} | {len(row['labels'])} | {row['docs']} | {pct(row['span_p'])} | "
                     f"{pct(row['span_r'])} | {pct(row['span_f'])} | {pct(row['token_f'])} |")
    for name, key in (("all corpora (micro)", "overall"), ("mean over corpora", "macro")):
        row = report[key]
        lines.append(f"| **{name}** | | | {pct(row['span_p'])} | {pct(row['span_r'])} | {pct(row['span_f'])} | "
                     f"{pct(row['token_f'])} |")
    if report.get("skipped"):
        lines += ["", f"Not scored (no label left to score): {', '.join(report['skipped'])}."]
    return "\n".join(lines) + "\n"
