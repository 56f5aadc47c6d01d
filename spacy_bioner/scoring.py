"""Registered scorers for biomedical NER: strict span scores and token-level scores.

Spans are compared by character offsets, not token indices, because the
reference and the predicted Doc of an Example may be tokenised differently
(a gold corpus converted with one tokenizer, a pipeline with another). Two
views are reported:

* strict spans (:func:`score_spans`): a predicted span is right only with the
  exact start, end and label of a gold span. This is the usual BioNER metric.
* tokens (:func:`score_tokens`): per label, each reference token is a binary
  decision, as in Košprdić et al., "From Zero to Hero" (2024). It gives credit
  for partial overlaps that the strict metric counts as wrong.

Both report micro scores (over all decisions), macro scores (the mean over
labels) and per-label scores with support counts. In a config, put a scorer on
the component whose output it should score::

    [components.ner.scorer]
    @scorers = "spacy_bioner.span_scorer.v1"
    spans_key = null
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy
import spacy
from spacy.language import Language
from spacy.scorer import PRFScore
from spacy.tokens import Doc
from spacy.training import Example

from .errors import BioNERInputError, Errors

# (start char, end char, label)
Offsets = tuple[int, int, str]
ScorerFunc = Callable[..., dict[str, Any]]


class _Annotations(NamedTuple):
    """What one Example contributes to scoring, in reference character space."""

    gold: set[Offsets]
    pred: set[Offsets]
    # Predicted spans that touch reference tokens without entity annotation:
    # neither right nor wrong (spaCy's get_ner_prf does the same).
    ignored: set[Offsets]
    starts: numpy.ndarray  # start char of each reference token
    ends: numpy.ndarray  # end char of each reference token
    skip: numpy.ndarray  # reference tokens that are not scored (whitespace, unannotated)


def _prefix(spans_key: str | None) -> str:
    return "ents" if spans_key is None else f"spans_{spans_key}"


def _offsets(spans: Iterable[Any], labels: frozenset[str] | None) -> set[Offsets]:
    # A set: duplicate spans in a span group count once.
    return {
        (span.start_char, span.end_char, span.label_)
        for span in spans
        if span.end_char > span.start_char and (labels is None or span.label_ in labels)
    }


def _token_slice(starts: numpy.ndarray, ends: numpy.ndarray, start: int, end: int) -> slice:
    """The reference tokens that overlap the characters [start, end)."""
    # Tokens are ordered and disjoint, so both arrays are sorted.
    first = int(numpy.searchsorted(ends, start, side="right"))
    stop = int(numpy.searchsorted(starts, end, side="left"))
    return slice(first, max(first, stop))


def _annotations(
    examples: Iterable[Example], spans_key: str | None, labels: Iterable[str] | None
) -> Iterator[_Annotations]:
    """Yield the gold and predicted spans of each annotated Example.

    Reference docs without annotation are skipped: no entity annotation at all
    for doc.ents, no span group `spans_key` for doc.spans.

    RAISES (BioNERInputError): If `spans_key` is given and no reference doc has that span group.
    """
    label_set = frozenset(labels) if labels is not None else None
    n_examples = 0
    n_with_key = 0
    keys_seen: set[str] = set()
    for eg in examples:
        n_examples += 1
        ref = eg.reference
        pred_doc = eg.predicted
        starts = numpy.asarray([t.idx for t in ref], dtype="int64")
        ends = starts + numpy.asarray([len(t) for t in ref], dtype="int64")
        skip = numpy.asarray([t.is_space for t in ref], dtype=bool)
        if spans_key is None:
            if len(ref) and not ref.has_annotation("ENT_IOB"):
                continue
            missing = numpy.asarray([t.ent_iob == 0 for t in ref], dtype=bool)
            gold = _offsets(ref.ents, label_set)
            pred = _offsets(pred_doc.ents, label_set)
            ignored = set()
            if missing.any():
                for span in pred:
                    if missing[_token_slice(starts, ends, span[0], span[1])].any():
                        ignored.add(span)
            skip = skip | missing
        else:
            keys_seen.update(ref.spans.keys())
            if spans_key not in ref.spans:
                continue
            n_with_key += 1
            gold = _offsets(ref.spans[spans_key], label_set)
            # A predicted doc without the group predicted nothing.
            pred = _offsets(pred_doc.spans.get(spans_key, ()), label_set)
            ignored = set()
        yield _Annotations(gold, pred, ignored, starts, ends, skip)
    if spans_key is not None and n_examples and not n_with_key:
        keys = ", ".join(sorted(keys_seen)) or "none"
        raise BioNERInputError(Errors.E100.format(key=spans_key, n=n_examples, keys=keys))


def _summarise(per_type: dict[str, PRFScore], prefix: str) -> dict[str, Any]:
    """Micro, macro and per-label scores under `prefix`, None when nothing was scored."""
    scored = {label: prf for label, prf in sorted(per_type.items()) if len(prf)}
    if not scored:
        return {
            f"{prefix}_p": None,
            f"{prefix}_r": None,
            f"{prefix}_f": None,
            f"{prefix}_per_type": None,
            f"{prefix}_macro_p": None,
            f"{prefix}_macro_r": None,
            f"{prefix}_macro_f": None,
        }
    totals = PRFScore()
    for prf in scored.values():
        totals += prf
    n_labels = len(scored)
    return {
        f"{prefix}_p": totals.precision,
        f"{prefix}_r": totals.recall,
        f"{prefix}_f": totals.fscore,
        f"{prefix}_per_type": {
            label: {**prf.to_dict(), "n_gold": prf.tp + prf.fn, "n_pred": prf.tp + prf.fp}
            for label, prf in scored.items()
        },
        f"{prefix}_macro_p": sum(prf.precision for prf in scored.values()) / n_labels,
        f"{prefix}_macro_r": sum(prf.recall for prf in scored.values()) / n_labels,
        f"{prefix}_macro_f": sum(prf.fscore for prf in scored.values()) / n_labels,
    }


def score_spans(
    examples: Iterable[Example],
    *,
    spans_key: str | None = None,
    labels: Iterable[str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Strict span precision, recall and F-score, per label, micro and macro.

    A predicted span counts as correct only if a gold span has the same start
    character, end character and label: one token too many or too few is both
    a false positive and a false negative. Offsets are compared in characters,
    so the reference and predicted docs may be tokenised differently.

    With `spans_key=None`, doc.ents are scored under the keys of spaCy's
    `get_ner_prf` ("ents_p", "ents_r", "ents_f", "ents_per_type") plus
    "ents_macro_p", "ents_macro_r", "ents_macro_f". Reference docs with no
    entity annotation are skipped, and predictions touching reference tokens
    whose entity annotation is missing are ignored, as spaCy does. With a key,
    doc.spans[key] is scored under "spans_{key}_p" and so on; spans may overlap
    and duplicates count once. A reference doc without the group is skipped;
    a predicted doc without it predicted nothing.

    Macro scores are the unweighted mean of the per-label scores over the labels
    present in the gold or the predicted spans (macro F is the mean of the
    per-label F-scores). Each per-label dict holds "p", "r", "f", and the
    support counts "n_gold" and "n_pred". When there is no gold and no
    predicted span at all, every score is None, as in spaCy.

    examples (Iterable[Example]): The examples to score.
    spans_key (str | None): Span group to score; None scores doc.ents.
    labels (Iterable[str] | None): Score only these labels; None scores all.
    RETURNS (dict[str, Any]): The scores.
    RAISES (BioNERInputError): If `spans_key` is given and no reference doc has that span group.
    """
    per_type: dict[str, PRFScore] = defaultdict(PRFScore)
    for ann in _annotations(examples, spans_key, labels):
        pred = ann.pred - ann.ignored
        for _, _, label in pred & ann.gold:
            per_type[label].tp += 1
        for _, _, label in pred - ann.gold:
            per_type[label].fp += 1
        for _, _, label in ann.gold - pred:
            per_type[label].fn += 1
    return _summarise(per_type, _prefix(spans_key))


def score_tokens(
    examples: Iterable[Example],
    *,
    spans_key: str | None = None,
    labels: Iterable[str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Token-level binary precision, recall and F-score per label, micro and macro.

    The metric of Košprdić et al., "From Zero to Hero" (2024), which scores
    words rather than spans. For each label L, each reference token is
    gold-positive if it lies in a gold span of L (gold spans are made of
    reference tokens) and predicted-positive if it overlaps, by characters, a
    predicted span of L. True/false positives and false negatives are counted
    over tokens per label; micro scores count all (token, label) pairs, macro
    scores are the mean over the labels present in gold or prediction.
    Whitespace tokens are not scored, nor (for doc.ents) tokens whose entity
    annotation is missing. This metric gives partial credit where the strict
    span metric gives none, e.g. for a prediction one token short.

    Keys are "token_p", "token_r", "token_f", "token_per_type",
    "token_macro_p", "token_macro_r" and "token_macro_f", prefixed with
    "spans_{key}_" when a key is given. Per-label support counts "n_gold" and
    "n_pred" are token counts. Scores are None when no token was positive.

    examples (Iterable[Example]): The examples to score.
    spans_key (str | None): Span group to score; None scores doc.ents.
    labels (Iterable[str] | None): Score only these labels; None scores all.
    RETURNS (dict[str, Any]): The scores.
    RAISES (BioNERInputError): If `spans_key` is given and no reference doc has that span group.
    """
    per_type: dict[str, PRFScore] = defaultdict(PRFScore)
    for ann in _annotations(examples, spans_key, labels):
        by_label: dict[str, tuple[list[Offsets], list[Offsets]]] = defaultdict(lambda: ([], []))
        for span in ann.gold:
            by_label[span[2]][0].append(span)
        for span in ann.pred:
            by_label[span[2]][1].append(span)
        scored = ~ann.skip
        for label, (gold_spans, pred_spans) in by_label.items():
            gold = numpy.zeros(len(ann.starts), dtype=bool)
            pred = numpy.zeros(len(ann.starts), dtype=bool)
            for start, end, _ in gold_spans:
                gold[_token_slice(ann.starts, ann.ends, start, end)] = True
            for start, end, _ in pred_spans:
                pred[_token_slice(ann.starts, ann.ends, start, end)] = True
            gold &= scored
            pred &= scored
            prf = per_type[label]
            prf.tp += int(numpy.count_nonzero(gold & pred))
            prf.fp += int(numpy.count_nonzero(pred & ~gold))
            prf.fn += int(numpy.count_nonzero(gold & ~pred))
    prefix = "token" if spans_key is None else f"spans_{spans_key}_token"
    return _summarise(per_type, prefix)


@spacy.registry.scorers("spacy_bioner.span_scorer.v1")
def make_span_scorer(spans_key: str | None = None) -> ScorerFunc:
    """Strict span scorer for a component's `scorer` setting (see `score_spans`).

    The configured `spans_key` always wins over one a component passes from its
    own settings. The `labels` a component passes (its own label set) are
    dropped, so gold types the component cannot predict still count as misses.
    A scorer scores one thing: for both doc.ents and a span group, put a second
    scorer on another component, or call `score_spans` twice and merge the dicts.

    spans_key (str | None): Span group to score; None scores doc.ents.
    RETURNS (Callable[..., dict[str, Any]]): The scorer, called as `scorer(examples, **kwargs)`.
    """

    return _bind_key(score_spans, spans_key, "span_scorer")


@spacy.registry.scorers("spacy_bioner.token_scorer.v1")
def make_token_scorer(spans_key: str | None = None) -> ScorerFunc:
    """Token-level scorer for a component's `scorer` setting (see `score_tokens`).

    The configured `spans_key` always wins over one a component passes, and the
    component's `labels` are dropped, as for `make_span_scorer`.

    spans_key (str | None): Span group to score; None scores doc.ents.
    RETURNS (Callable[..., dict[str, Any]]): The scorer, called as `scorer(examples, **kwargs)`.
    """

    return _bind_key(score_tokens, spans_key, "token_scorer")


def _bind_key(score: Callable[..., dict[str, Any]], spans_key: str | None, name: str) -> ScorerFunc:
    """A scorer with a fixed span key that ignores the component's own label set."""

    def scorer(examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("labels", None)
        kwargs["spans_key"] = spans_key
        return score(examples, **kwargs)

    scorer.__name__ = scorer.__qualname__ = name
    return scorer


def evaluate_docs(
    nlp: Language,
    gold_docs: Sequence[Doc],
    *,
    spans_key: str | None = None,
    batch_size: int = 64,
    make_doc: Callable[[str], Doc] | None = None,
) -> dict[str, Any]:
    """Run a pipeline on the texts of gold docs and score its predictions.

    The pipeline gets only the texts, tokenised by its own tokenizer, so no gold
    annotation can leak into the predictions. Timing covers tokenisation and
    the pipeline, not scoring.

    nlp (Language): The pipeline to evaluate.
    gold_docs (Sequence[Doc]): The reference documents.
    spans_key (str | None): Span group to score; None scores doc.ents.
    batch_size (int): Documents per `nlp.pipe` batch.
    make_doc (Callable[[str], Doc] | None): Makes the input doc from a text
        (default `nlp.make_doc`); e.g. to record in `doc.user_data` which
        dataset a text comes from, which `bioner_llama` reads.
    RETURNS (dict[str, Any]): The keys of `score_spans` and `score_tokens`, plus
        "docs", "words" (tokens predicted), "seconds" and "words_per_second".
    RAISES (BioNERInputError): If `spans_key` is given and no gold doc has that span group.
    """
    if spans_key is not None and gold_docs and not any(spans_key in d.spans for d in gold_docs):
        keys = ", ".join(sorted({k for d in gold_docs for k in d.spans.keys()})) or "none"
        raise BioNERInputError(Errors.E100.format(key=spans_key, n=len(gold_docs), keys=keys))
    start = time.perf_counter()
    inputs = (doc.text if make_doc is None else make_doc(doc.text) for doc in gold_docs)
    predicted = list(nlp.pipe(inputs, batch_size=batch_size))
    seconds = time.perf_counter() - start
    examples = [Example(pred, gold) for pred, gold in zip(predicted, gold_docs, strict=True)]
    words = sum(len(doc) for doc in predicted)
    scores: dict[str, Any] = {}
    scores.update(score_spans(examples, spans_key=spans_key))
    scores.update(score_tokens(examples, spans_key=spans_key))
    scores["docs"] = len(gold_docs)
    scores["words"] = words
    scores["seconds"] = seconds
    scores["words_per_second"] = words / seconds if seconds > 0 else None
    return scores
