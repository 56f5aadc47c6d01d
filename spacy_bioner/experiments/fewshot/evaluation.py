"""The evaluation step: test references with only the hidden labels' gold,
and per-label strict span and token-level scores of a pipeline on them."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import filter_spans

from ...scoring import score_spans, score_tokens
from .data import gold_spans

#: The scores of every run, as `score_labels` names them.
METRICS = ("span_p", "span_r", "span_f", "token_p", "token_r", "token_f")


def hidden_references(docs: Iterable[Doc], labels: Iterable[str], spans_key: str) -> list[Doc]:
    """Copies of the annotated test docs whose gold is only the given labels.

    The spans go to doc.spans[spans_key] (every other group is dropped) and,
    without overlaps, to doc.ents. Docs without gold annotation are skipped.

    docs (Iterable[Doc]): The test docs.
    labels (Iterable[str]): The labels to keep.
    spans_key (str): The component's span group.
    RETURNS (list[Doc]): The references.
    """
    keep = set(labels)
    refs: list[Doc] = []
    for doc in docs:
        gold = gold_spans(doc, spans_key)
        if gold is None:
            continue
        ref = doc.copy()
        spans = [Span(ref, s.start, s.end, label=s.label_) for s in gold if s.label_ in keep]
        ref.spans.clear()
        ref.spans[spans_key] = spans
        ref.set_ents(filter_spans(spans), default="outside")
        refs.append(ref)
    return refs


def score_labels(
    nlp: Language, references: Sequence[Doc], labels: Sequence[str], spans_key: str, *, batch_size: int = 64
) -> dict[str, dict[str, float]]:
    """Predict on the texts of the references and score each label.

    Predictions are read from doc.spans[spans_key] (all spans, overlaps
    included); only the given labels are scored.

    nlp (Language): The pipeline.
    references (Sequence[Doc]): From `hidden_references`.
    labels (Sequence[str]): The labels to score.
    spans_key (str): The span group.
    batch_size (int): Docs per nlp.pipe batch.
    RETURNS (dict[str, dict[str, float]]): Per label: span_p/r/f,
        span_n_gold/n_pred, token_p/r/f, token_n_gold/n_pred.
    """
    predicted = list(nlp.pipe((ref.text for ref in references), batch_size=batch_size))
    return score_examples_per_label([Example(pred, ref) for pred, ref in zip(predicted, references, strict=True)],
                                    labels, spans_key)


def score_examples_per_label(
    examples: Sequence[Example], labels: Sequence[str], spans_key: str
) -> dict[str, dict[str, float]]:
    """Score each label of predicted examples (see `score_labels`).

    RETURNS (dict[str, dict[str, float]]): Per label: span_p/r/f,
        span_n_gold/n_pred, token_p/r/f, token_n_gold/n_pred.
    """
    spans = score_spans(examples, spans_key=spans_key, labels=labels)[f"spans_{spans_key}_per_type"] or {}
    tokens = score_tokens(examples, spans_key=spans_key, labels=labels)[f"spans_{spans_key}_token_per_type"] or {}
    out: dict[str, dict[str, float]] = {}
    for label in labels:
        row: dict[str, float] = {}
        for prefix, table in (("span", spans), ("token", tokens)):
            prf = table.get(label, {})
            for key in ("p", "r", "f", "n_gold", "n_pred"):
                row[f"{prefix}_{key}"] = prf.get(key, 0)
        out[label] = row
    return out
