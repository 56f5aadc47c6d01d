"""Per-label thresholds for ``bioner_prompted``, chosen on dev data.

A binary tagger trained on few epochs is often well ranked but badly
calibrated (too many positive words, or too few), and 0.5 is an arbitrary cut;
choosing it on dev data is model selection, not test tuning. The encoder runs
once; each threshold only re-decodes.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy
from spacy.tokens import Doc
from spacy.training import Example, validate_examples

from ..errors import Errors
from ..models.tagger_layer import PromptScores
from ._decode import DocPrediction

#: Per global word of a batch of queries: P(inside an entity), and in BIO the begin margin (None otherwise).
WordProbabilities = tuple[numpy.ndarray, "numpy.ndarray | None"]

#: Thresholds `tune_thresholds` tries by default: 0.05, 0.10, ..., 0.95.
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))


def check_grid(grid: Iterable[float]) -> list[float]:
    """grid (Iterable[float]): Thresholds. RETURNS (list[float]): Sorted, each
    once. RAISES (ValueError): E319 if empty or one is outside (0, 1]."""
    values = sorted({float(t) for t in grid})
    if not values or values[0] <= 0.0 or values[-1] > 1.0:
        raise ValueError(Errors.E319.format(grid=values))
    return values


def tune_thresholds(
    pipe: Any, examples: Iterable[Example], grid: Sequence[float] = THRESHOLD_GRID
) -> dict[str, dict[str, Any]]:
    """Set each label's threshold of a bioner_prompted component to the one
    with the best strict span F1 on dev examples (see PromptedTagger.tune_thresholds).

    pipe (PromptedTagger): The component.
    examples (Iterable[Example]): Dev examples.
    grid (Sequence[float]): The thresholds to try, each in (0, 1].
    RETURNS (dict[str, dict[str, Any]]): Per label: "threshold", "before",
        "f_before", "f" and "n_gold".
    """
    examples = list(examples)
    validate_examples(examples, "PromptedTagger.tune_thresholds")
    pipe._require_initialized()
    grid = check_grid(grid)
    before = dict(pipe.thresholds)
    # the current thresholds are scored too, so "f_before" is always known
    grid = sorted(set(grid) | set(before.values()))
    docs = [eg.predicted for eg in examples]
    queries = pipe._queries(docs, [pipe._labels_of(doc) for doc in docs])
    if not queries:
        return {}
    scores = pipe.model.predict(queries)
    gold: set[tuple[int, int, int, str]] = set()
    for i, eg in enumerate(examples):
        gold.update((i, s, e, label) for s, e, label in pipe._gold(eg) or ())
    counts = _counts_per_threshold(pipe, docs, scores, grid, gold)
    report: dict[str, dict[str, Any]] = {}
    for label in pipe.labels:
        n_gold = sum(1 for g in gold if g[3] == label)
        f_at = {value: _f1(tp, n_pred, n_gold) for value, tp, n_pred in counts[label]}
        current = before[label]
        best = max(f_at, key=lambda value: (f_at[value], -abs(value - current)))
        has_spans = n_gold > 0 or any(n_pred for _, _, n_pred in counts[label])
        chosen = best if has_spans else current
        if chosen != current:
            pipe.set_threshold(label, chosen)
        report[label] = {"threshold": chosen, "before": current, "f": f_at[chosen] if has_spans else None,
                         "f_before": f_at[current] if has_spans else None, "n_gold": n_gold}
    return report


def decode_at(
    pipe: Any, docs: list[Doc], scores: PromptScores, grid: Sequence[float], words: WordProbabilities | None = None
) -> Iterator[tuple[float, list[DocPrediction]]]:
    """Decode the same model scores (or `words`, word probabilities of the same
    queries) with every label at each threshold of the grid in turn:
    (threshold, predictions). The thresholds are restored afterwards (those
    equal to the default threshold are not stored)."""
    before = pipe.thresholds
    try:
        for value in grid:
            pipe.cfg["thresholds"] = {label: value for label in pipe.labels}
            yield value, pipe._decode(docs, scores, words)
    finally:
        pipe.cfg["thresholds"] = {label: t for label, t in before.items() if t != pipe.threshold}


def score_words(pipe: Any, docs: list[Doc]) -> tuple[PromptScores, WordProbabilities] | None:
    """The model's scores of `docs` with the component's labels and their
    word probabilities (None when there is nothing to ask): what `decode_at`
    decodes; the word probabilities of several prompts of a label align word
    by word, so they can be averaged (a prompt ensemble)."""
    queries = pipe._queries(docs, [pipe._labels_of(doc) for doc in docs])
    if not queries:
        return None
    scores = pipe.model.predict(queries)
    return scores, pipe._word_probabilities(scores)


def mean_words(values: Sequence[WordProbabilities]) -> WordProbabilities:
    """The word probabilities (and BIO begin margins) averaged over prompts."""
    word_pos = numpy.mean([w for w, _ in values], axis=0)
    margins = [m for _, m in values if m is not None]
    return word_pos, numpy.mean(margins, axis=0) if margins else None


def predict_at_thresholds(
    pipe: Any, docs: Iterable[Doc], thresholds: Sequence[float]
) -> dict[float, list[DocPrediction]]:
    """Per threshold, what `pipe.predict` gives with every label at it; the
    model runs once (see PromptedTagger.predict_at_thresholds)."""
    pipe._require_initialized()
    grid = check_grid(thresholds)
    docs = list(docs)
    scored = score_words(pipe, docs)
    if scored is None:
        return {value: [DocPrediction() for _ in docs] for value in grid}
    return dict(decode_at(pipe, docs, scored[0], grid, scored[1]))


def _counts_per_threshold(
    pipe: Any, docs: list[Doc], scores: PromptScores, grid: Sequence[float], gold: set[tuple[int, int, int, str]]
) -> dict[str, list[tuple[float, int, int]]]:
    """Per label, (threshold, true positives, predicted spans) at each threshold of the grid."""
    counts: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    for value, predictions in decode_at(pipe, docs, scores, grid):
        pred: set[tuple[int, int, int, str]] = set()
        for i, prediction in enumerate(predictions):
            doc = docs[i]
            pred.update((i, doc[s].idx, doc[e - 1].idx + len(doc[e - 1]), lab) for s, e, lab, _ in prediction.spans)
        for label in pipe.labels:
            mine = {p for p in pred if p[3] == label}
            counts[label].append((value, len(mine & gold), len(mine)))
    return counts


def _f1(tp: int, n_pred: int, n_gold: int) -> float:
    """Strict F1 from counts (0.0 when nothing was predicted or expected)."""
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0
