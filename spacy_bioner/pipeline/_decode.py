"""From docs to token tags and from word decisions back to spans: the steps
every spacy_bioner component takes the same way.

* ``sentence_bounds``: the units a component tags (``doc.sents`` or the doc).
* ``gold_spans`` / ``aligned_gold`` / ``bio_tags`` / ``inside_tags``: the gold
  of a reference doc as tags of the predicted doc's tokens (character offsets,
  so the two may be tokenised differently).
* ``gather_word_tags``: those tags laid out as the batch's words, for the loss.
* ``span_runs`` / ``decode_tags`` / ``collect_spans`` / ``store_word_probs``:
  per-word decisions back to scored spans, with tensor operations.
* ``DocPrediction``: what ``predict`` returns per doc.
* ``write_spans``: spans to ``doc.spans`` (with scores) and, optionally, a
  non-overlapping subset to ``doc.ents``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy
from spacy.tokens import Doc, Span, SpanGroup
from spacy.util import filter_spans

#: (start char, end char, label)
GoldSpan = tuple[int, int, str]
#: (start token, end token, label, score)
SpanPrediction = tuple[int, int, str, float]


@dataclass
class DocPrediction:
    """What a component's `predict` returns for one doc.

    spans (list[SpanPrediction]): (start token, end token, label, score).
    word_probs (dict[str, numpy.ndarray]): Per label, each token's probability
        of being inside an entity of the label (NaN for tokens with no subword,
        i.e. whitespace).
    """

    spans: list[SpanPrediction] = field(default_factory=list)
    word_probs: dict[str, numpy.ndarray] = field(default_factory=dict)


def sentence_bounds(doc: Doc) -> list[tuple[int, int]]:
    """The (start, end) tokens of the doc's sentences: `doc.sents` when the doc
    has sentence boundaries, else the whole doc; none for an empty doc.

    doc (Doc): The doc.
    RETURNS (list[tuple[int, int]]): Token offsets, in order.
    """
    if not len(doc):
        return []
    if doc.has_annotation("SENT_START"):
        return [(sent.start, sent.end) for sent in doc.sents]
    return [(0, len(doc))]


def gold_span_group(reference: Doc, spans_key: str) -> list[Span] | None:
    """The gold spans the components train on: the span group `spans_key`
    when the doc has one (overlaps allowed), else `doc.ents`; None if neither
    is annotated.

    reference (Doc): The gold doc.
    spans_key (str): The span group.
    RETURNS (list[Span] | None): The spans of the reference doc.
    """
    if spans_key in reference.spans:
        return list(reference.spans[spans_key])
    if reference.has_annotation("ENT_IOB"):
        return list(reference.ents)
    return None


def gold_spans(reference: Doc, spans_key: str) -> list[GoldSpan] | None:
    """The gold spans (see `gold_span_group`) as (start char, end char, label),
    so that differently tokenised docs can use them.

    reference (Doc): The gold doc.
    spans_key (str): The span group.
    RETURNS (list[GoldSpan] | None): The spans; None if the doc is not annotated.
    """
    spans = gold_span_group(reference, spans_key)
    return None if spans is None else [(s.start_char, s.end_char, s.label_) for s in spans]


def aligned_gold(doc: Doc, gold: Iterable[GoldSpan], labels: Iterable[str] | None = None) -> dict[str, list[Span]]:
    """The gold spans as spans of `doc`, per label (in `labels` order when given).

    A span is expanded to the tokens it touches; spans of labels not in
    `labels` and spans that cover no token are left out.

    doc (Doc): The doc whose tokens are tagged (the example's predicted doc).
    gold (Iterable[GoldSpan]): (start char, end char, label).
    labels (Iterable[str] | None): The labels to keep (each gets a list, maybe
        empty); None: every label that has a span.
    RETURNS (dict[str, list[Span]]): Label -> its spans.
    """
    by_label: dict[str, list[Span]] = {label: [] for label in labels} if labels is not None else {}
    for start, end, label in gold:
        if labels is not None and label not in by_label:
            continue
        span = doc.char_span(start, end, label=label, alignment_mode="expand")
        if span is not None and len(span):
            by_label.setdefault(label, []).append(span)
    return by_label


def whitespace_mask(doc: Doc) -> numpy.ndarray:
    """doc (Doc): The doc. RETURNS (numpy.ndarray): (n_tokens,) whether each token is whitespace."""
    return numpy.fromiter((t.is_space for t in doc), dtype=bool, count=len(doc))


def bio_tags(
    doc: Doc, spans: Iterable[Span], index: Mapping[str, int] | None = None, *, whitespace: int | None = -1
) -> numpy.ndarray:
    """BIO tags of the doc's tokens.

    Nested or overlapping spans cannot all be BIO-tagged: the longest wins
    (`spacy.util.filter_spans`).

    doc (Doc): The doc.
    spans (Iterable[Span]): Spans of the doc.
    index (Mapping[str, int] | None): Label -> its index c, for the multi-class
        layout (O = 0, B-c = 1 + 2c, I-c = 2 + 2c); None: one label (O/B/I = 0/1/2).
    whitespace (int | None): The tag of whitespace tokens (-1: not trained;
        None: whitespace tokens are tagged as the others).
    RETURNS (numpy.ndarray): (n_tokens,) int64 tags.
    """
    tags = numpy.zeros(len(doc), dtype="int64")
    for span in filter_spans(spans):
        base = 2 * index[span.label_] if index is not None else 0
        tags[span.start] = 1 + base
        tags[span.start + 1 : span.end] = 2 + base
    if whitespace is not None:
        tags[whitespace_mask(doc)] = whitespace
    return tags


def inside_tags(doc: Doc, spans: Iterable[Span], *, whitespace: int | None = -1) -> numpy.ndarray:
    """Binary tags: 1 for tokens inside any of the spans (overlaps allowed), else 0.

    doc (Doc): The doc.
    spans (Iterable[Span]): Spans of the doc.
    whitespace (int | None): The tag of whitespace tokens (-1: not trained;
        None: whitespace tokens are tagged as the others).
    RETURNS (numpy.ndarray): (n_tokens,) int64 tags.
    """
    tags = numpy.zeros(len(doc), dtype="int64")
    for span in spans:
        tags[span.start : span.end] = 1
    if whitespace is not None:
        tags[whitespace_mask(doc)] = whitespace
    return tags


def gather_word_tags(
    batch: Any, tags_of: Callable[[Any], numpy.ndarray | None], fill: int = -1
) -> numpy.ndarray:
    """Lay per-query word tags out as the batch's words (query after query).

    batch (PromptBatch): The encoded batch (its `queries` and `word_offsets`).
    tags_of (Callable[[PromptQuery], numpy.ndarray | None]): The tags of a
        query's words; None: all `fill`.
    fill (int): The tag of words no query gives one.
    RETURNS (numpy.ndarray): (n_words,) int64 tags.
    """
    word_tags = numpy.full(batch.n_words, fill, dtype="int64")
    for qi, query in enumerate(batch.queries):
        tags = tags_of(query)
        if tags is not None:
            word_tags[batch.word_offsets[qi] : batch.word_offsets[qi + 1]] = tags
    return word_tags


def sentence_tags(tags_of_doc: Callable[[int], numpy.ndarray]) -> Callable[[Any], numpy.ndarray]:
    """The tags of a query's sentence, from the tags of its doc (query keys
    are (doc index, start token, end token, ...)).

    tags_of_doc (Callable[[int], numpy.ndarray]): Doc index -> its token tags.
    RETURNS (Callable[[PromptQuery], numpy.ndarray]): Query -> its words' tags.
    """
    return lambda query: tags_of_doc(query.key[0])[query.key[1] : query.key[2]]


def cached_tags(compute: Callable[[int], Any]) -> Callable[[int], Any]:
    """A per-doc cache of `compute(doc index)` (the tags of one example are
    computed once, however many of its sentences and labels a batch holds)."""
    cache: dict[int, Any] = {}

    def get(doc_i: int) -> Any:
        if doc_i not in cache:
            cache[doc_i] = compute(doc_i)
        return cache[doc_i]

    return get


def softmax(logits: numpy.ndarray) -> numpy.ndarray:
    """logits (numpy.ndarray): (..., n) scores. RETURNS (numpy.ndarray): Softmax over the last axis."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = numpy.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def query_of_words(batch: Any) -> numpy.ndarray:
    """batch (PromptBatch): The batch. RETURNS (numpy.ndarray): (n_words,) the query of each global word."""
    return numpy.repeat(numpy.arange(len(batch.queries)), numpy.diff(batch.word_offsets))


def span_runs(
    valid: numpy.ndarray, positive: numpy.ndarray, starts: numpy.ndarray, scores: numpy.ndarray
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Group the positive words into spans, with tensor operations.

    valid (numpy.ndarray): (m,) global indices of the words with a decision.
    positive (numpy.ndarray): (m,) whether each is inside a span.
    starts (numpy.ndarray): (m,) whether each begins a span (a subset of `positive`).
    scores (numpy.ndarray): (m,) word scores.
    RETURNS (tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]): Per span, its
        first and last global word and the mean score of its positive words.
    """
    run = numpy.cumsum(starts) - 1
    run_pos = run[positive]
    n_runs = int(starts.sum())
    words_pos = valid[positive]
    first = numpy.full(n_runs, numpy.iinfo("int64").max, dtype="int64")
    last = numpy.full(n_runs, -1, dtype="int64")
    numpy.minimum.at(first, run_pos, words_pos)
    numpy.maximum.at(last, run_pos, words_pos)
    sums = numpy.bincount(run_pos, weights=scores[positive], minlength=n_runs)
    counts = numpy.bincount(run_pos, minlength=n_runs)
    return first, last, sums / numpy.maximum(counts, 1)


def query_starts(query_v: numpy.ndarray) -> numpy.ndarray:
    """query_v (numpy.ndarray): (m,) query of each decided word.
    RETURNS (numpy.ndarray): (m,) whether each is its query's first decided word."""
    if not query_v.size:
        return numpy.zeros(0, dtype=bool)
    return numpy.r_[True, query_v[1:] != query_v[:-1]]


def decode_tags(
    tags: numpy.ndarray, label_scores: numpy.ndarray, valid: numpy.ndarray, query_of_word: numpy.ndarray
) -> tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Turn per-word BIO tags into spans, with tensor operations.

    A span begins at a B word, or at an I word whose previous word (with a
    decision, in the same query) is not inside a span of the same label; it
    goes on over the following I words of that label. Words without a decision
    (whitespace) neither begin, end nor break a span.

    tags (numpy.ndarray): (n_words,) tag per global word (0 = O, 1 + 2c = B-c, 2 + 2c = I-c).
    label_scores (numpy.ndarray): (n_words, n_labels) score of each label per word.
    valid (numpy.ndarray): (m,) global indices of the words with a decision, ascending.
    query_of_word (numpy.ndarray): (n_words,) query of each global word.
    RETURNS (tuple): Per span its first and last global word, label index and
        mean label score over its words.
    """
    tags_v = tags[valid]
    positive = tags_v > 0
    label_v = numpy.where(positive, (tags_v - 1) // 2, -1)
    is_begin = positive & (tags_v % 2 == 1)
    if valid.size:
        same_label_before = numpy.r_[False, label_v[1:] == label_v[:-1]] & (label_v >= 0)
    else:
        same_label_before = numpy.zeros(0, dtype=bool)
    starts = positive & (is_begin | query_starts(query_of_word[valid]) | ~same_label_before)
    scores_v = label_scores[valid, numpy.maximum(label_v, 0)]
    first, last, means = span_runs(valid, positive, starts, scores_v)
    return first, last, (tags[first] - 1) // 2, means


def collect_spans(
    n_docs: int,
    batch: Any,
    query_of_word: numpy.ndarray,
    runs: tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray],
    labels_of_runs: Sequence[str],
) -> list[DocPrediction]:
    """Spans (doc tokens) from runs of global words.

    n_docs (int): Number of docs.
    batch (PromptBatch): The batch; each query's key starts with (doc index,
        first token of the sentence).
    query_of_word (numpy.ndarray): (n_words,) query of each global word.
    runs (tuple): Per span, its first and last global word and score.
    labels_of_runs (Sequence[str]): Per span, its label.
    RETURNS (list[DocPrediction]): Per doc, its spans (no word probabilities yet).
    """
    first, last, means = runs
    out = [DocPrediction() for _ in range(n_docs)]
    for r in range(len(first)):
        qi = int(query_of_word[first[r]])
        doc_i, sent_start = batch.queries[qi].key[:2]
        offset = int(sent_start) - int(batch.word_offsets[qi])
        span: SpanPrediction = (offset + int(first[r]), offset + int(last[r]) + 1, labels_of_runs[r], float(means[r]))
        out[doc_i].spans.append(span)
    return out


def store_word_probs(
    out: list[DocPrediction],
    docs: Sequence[Doc],
    batch: Any,
    probs: numpy.ndarray,
    columns_of: Callable[[Any], Iterable[tuple[str, int]]],
) -> None:
    """Copy per-word label probabilities into each doc's `word_probs`.

    out (list[DocPrediction]): Per doc, the prediction to fill.
    docs (Sequence[Doc]): The docs (for their lengths).
    batch (PromptBatch): The batch; query keys are (doc index, start, end, ...).
    probs (numpy.ndarray): (n_words, n_columns) word probabilities.
    columns_of (Callable[[PromptQuery], Iterable[tuple[str, int]]]): The
        (label, column of `probs`) pairs a query gives.
    """
    for qi, query in enumerate(batch.queries):
        doc_i, start, end = query.key[:3]
        rows = probs[batch.word_offsets[qi] : batch.word_offsets[qi + 1]]
        word_probs = out[doc_i].word_probs
        for label, column in columns_of(query):
            if label not in word_probs:
                word_probs[label] = numpy.full(len(docs[doc_i]), numpy.nan, dtype="float32")
            word_probs[label][start:end] = rows[:, column]


def write_spans(doc: Doc, spans: list[SpanPrediction], spans_key: str, ents: bool) -> None:
    """Write predicted spans to `doc.spans[spans_key]`, their scores to the
    group's `attrs["scores"]` and, with `ents`, a non-overlapping subset
    (highest score first) to `doc.ents`.

    doc (Doc): The doc.
    spans (list[SpanPrediction]): (start token, end token, label, score).
    spans_key (str): The span group to write.
    ents (bool): Also set doc.ents.
    """
    spans = sorted(spans, key=lambda s: (s[0], s[1], s[2]))
    group = SpanGroup(doc, name=spans_key, spans=[Span(doc, s, e, label=lab) for s, e, lab, _ in spans])
    group.attrs["scores"] = [float(score) for *_, score in spans]
    doc.spans[spans_key] = group
    if ents:
        doc.set_ents(best_non_overlapping(doc, spans), default="outside")


def best_non_overlapping(doc: Doc, spans: list[SpanPrediction]) -> list[Span]:
    """Highest score first (then longer, then earlier), skipping overlaps.

    doc (Doc): The doc.
    spans (list[SpanPrediction]): Candidate spans.
    RETURNS (list[Span]): The chosen spans, in doc order.
    """
    taken = numpy.zeros(len(doc), dtype=bool)
    chosen: list[Span] = []
    for start, end, label, _ in sorted(spans, key=lambda s: (-s[3], -(s[1] - s[0]), s[0], s[2])):
        if not taken[start:end].any():
            taken[start:end] = True
            chosen.append(Span(doc, start, end, label=label))
    return sorted(chosen, key=lambda s: s.start)
