"""What the spacy_bioner components share: the pipe (`SpanTaggerPipe`: the
initialisation check, label precedence, the update step, writing scored spans,
scoring) and labels the model reads as text (`DescribedLabels`).

A component module (prompted.py, btl.py, llama.py) subclasses these and adds
only what is specific to its method: its queries, its decoding of the layer's
scores and its gold targets.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, cast

from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer, set_dropout_rate

from ..corpora.base import SOURCE_KEY
from ..errors import Errors, Warnings
from ..models.prompt_tagger import PromptTaggerShim
from ..models.queries import PromptQuery
from ..models.tagger_layer import TaggerShim, get_shim
from ._decode import DocPrediction, GoldSpan, gold_spans, write_spans

#: The scorer block of every component's default config.
SPAN_SCORER_CONFIG_STR = """
[scorer]
@scorers = "spacy_bioner.span_scorer.v1"
spans_key = null
"""


def config_blocks(config_str: str) -> tuple[Config, Config]:
    """config_str (str): A component's default config. RETURNS (tuple[Config, Config]): Its [model] and [scorer]."""
    config = Config().from_str(config_str)
    return config["model"], config["scorer"]


#: Which subwords of a word are trained: all (each takes the word's tag) or the first.
SUBWORD_TARGETS = ("all", "first")


class SpanTaggerPipe(TrainablePipe):
    """The pipe of the windowed transformer taggers (bioner_prompted,
    bioner_btl, bioner_llama).

    Subclasses set `factory` (for messages), `shim_kind` (the shim their layer
    holds) and `labels_hint` (how to give labels, for E301), and define
    `labels`, `_set_labels_from`, `_training_queries`, `get_loss`, `predict`,
    and the attributes `spans_key`, `write_ents` and `scorer`.
    """

    factory = "bioner_prompted"
    shim_kind: type[TaggerShim] = PromptTaggerShim
    labels_hint = "a list"
    spans_key: str
    write_ents: bool
    scorer: Any
    # the labels the component config gave, to warn when initialize() replaces them
    _config_labels: Any = None

    @property
    def labels(self) -> tuple[str, ...]:
        """RETURNS (tuple[str, ...]): The labels."""
        raise NotImplementedError

    @property
    def is_initialized(self) -> bool:
        """RETURNS (bool): Whether the model holds an encoder (initialized or loaded)."""
        return bool(get_shim(self.model, self.shim_kind).is_initialized)

    def _setup(self, vocab: Vocab, model: Model, name: str, spans_key: str, ents: bool, scorer: Any) -> None:
        """Set what every component holds: vocab, model, name, span group, ents, scorer."""
        self.vocab = vocab
        self.model = model
        self.name = name
        self.spans_key = spans_key
        self.write_ents = ents
        self.scorer = scorer

    def _require_initialized(self) -> None:
        if not self.is_initialized:
            raise ValueError(Errors.E300.format(name=self.name, component=self.factory))

    def _gold(self, example: Example) -> list[GoldSpan] | None:
        """The example's gold spans in character offsets; None if it is not annotated."""
        return gold_spans(example.reference, self.spans_key)

    def _label_state(self) -> Any:
        """What the config-vs-initialize comparison compares (the labels here)."""
        return list(self.labels)

    def _set_labels_from(self, labels: Any) -> None:
        """Replace the labels (subclasses: with their own validation)."""
        raise NotImplementedError

    def _settle_labels(self, given: Any, found: Iterable[str]) -> None:
        """Label precedence at initialize: `given` (e.g. [initialize.components.NAME];
        W300 when the component config had other labels), then the labels the
        component already has (its config), then those annotated in the
        examples, sorted.

        given (Any): The labels given to initialize(), or None.
        found (Iterable[str]): Labels annotated in the training examples.
        """
        if given is not None:
            self._set_labels_from(given)
            if self._config_labels and self._label_state() != self._config_labels:
                warnings.warn(Warnings.W300.format(
                    name=self.name, given=list(self.labels), config=list(self._config_labels)), stacklevel=3)
        elif not self.labels:
            self._set_labels_from(sorted(set(found)))
        if not self.labels:
            raise ValueError(Errors.E301.format(name=self.name, factory=self.factory, how=self.labels_hint))

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
        """Learn from a batch of examples: one pass of the layer over the queries
        of `_training_queries`, the loss of `get_loss`, backprop, and the
        optimizer step.

        examples (Iterable[Example]): The batch.
        drop (float): The dropout rate of this update (`spacy train` passes
            [training] dropout), applied to the layer's dropout before its head.
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
        set_dropout_rate(self.model, drop)
        scores, backprop = self.model.begin_update(queries)
        loss, d_logits = self.get_loss(examples, scores)
        # the gradient is one logit array per chunk, not a PromptScores
        backprop(cast(Any, d_logits))
        if sgd not in (None, False):
            self.finish_update(cast(Optimizer, sgd))
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
        return cast(dict[str, Any], self.scorer(examples, labels=self.labels, **kwargs))


class DescribedLabels:
    """Labels that the model reads as text (a description or type name per
    label, in ``cfg["labels"]``), shared by bioner_prompted and bioner_llama:
    a label can be added after training, since it is only text."""

    name: str
    vocab: Any
    cfg: dict[str, Any]
    labels_hint = "a mapping {label: description}, or a list"
    _config_labels: Any = None

    @property
    def labels(self) -> tuple[str, ...]:
        """RETURNS (tuple[str, ...]): The labels, in the order they were added."""
        return tuple(self.cfg["labels"])

    def _start_labels(self, labels: Mapping[str, str | None] | Iterable[str] | None) -> None:
        """Set the labels the component config gives, and remember them (W300)."""
        if labels:
            self.set_labels(labels)
        self._config_labels = dict(self.cfg["labels"])

    def add_label(self, label: str, description: str | None = None) -> int:
        """Add a label, or give an existing label a new description.

        label (str): The label name written on spans.
        description (str | None): The text the model reads; None keeps the
            current one, or for a new label uses `default_description(label)`.
        RETURNS (int): 1 if the label is new, else 0.
        """
        check_label(label)
        if description is not None:
            check_description(label, description)
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
            check_label(label)
            if description is not None:
                check_description(label, description)
        self.cfg["labels"] = {}
        for label, description in items:
            self.add_label(label, description)

    def _set_labels_from(self, labels: Any) -> None:
        self.set_labels(labels)

    def _label_state(self) -> Any:
        return dict(self.cfg["labels"])


def default_description(label: str) -> str:
    """The description of a label given without one: its name in words.

    "Disease" -> "Disease", "Gene_or_gene_product" -> "Gene or gene product",
    "SpecificDisease" -> "Specific Disease".

    label (str): The label.
    RETURNS (str): The description.
    """
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", label)
    return re.sub(r"[_\s]+", " ", text).strip() or label


def check_label(label: Any) -> None:
    """label (Any): A label. RAISES (ValueError): If it is not a non-empty string."""
    if not isinstance(label, str) or not label.strip():
        raise ValueError(Errors.E303.format(label=label))


def check_description(label: str, description: Any) -> None:
    """label (str): A label. description (Any): Its text. RAISES (ValueError): If not a non-empty string."""
    if not isinstance(description, str) or not description.strip():
        raise ValueError(Errors.E304.format(label=label, description=description))


def check_probability(setting: str, value: Any, label: str | None = None) -> None:
    """setting (str): The setting's name. value (Any): Its value. label (str | None): Its label.
    RAISES (ValueError): If the value is not a number in [0, 1]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= float(value) <= 1.0:
        where = f" for label {label!r}" if label is not None else ""
        raise ValueError(Errors.E305.format(setting=setting, value=value, where=where))


def invalid_setting(factory: str, name: str, setting: str, value: Any, what: str) -> ValueError:
    """RETURNS (ValueError): The E321 error naming a component's invalid setting and what to give."""
    return ValueError(Errors.E321.format(setting=setting, value=value, name=name, factory=factory, what=what))


def check_count(factory: str, name: str, setting: str, value: Any, low: int = 1, optional: bool = False) -> None:
    """Check an integer setting (>= `low`; None allowed with `optional`).

    RAISES (ValueError): E321 naming the setting.
    """
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        what = f"give {low} or more" + (", or null for no limit" if optional else "")
        raise invalid_setting(factory, name, setting, value, what)


def check_subword_targets(value: Any, name: str) -> None:
    """value (Any): A `subword_targets` setting. name (str): The component.
    RAISES (ValueError): If it is not one of SUBWORD_TARGETS."""
    if value not in SUBWORD_TARGETS:
        raise ValueError(Errors.E308.format(targets=value, name=name, options=", ".join(SUBWORD_TARGETS)))


def doc_id(doc: Doc) -> str | None:
    """doc (Doc): A doc. RETURNS (str | None): The id of its source document, as converted."""
    source = doc.user_data.get(SOURCE_KEY) if doc.user_data else None
    if isinstance(source, Mapping) and source.get("doc_id") is not None:
        return str(source["doc_id"])
    return None
