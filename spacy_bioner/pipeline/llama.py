"""``bioner_llama``: a LLaMA-family decoder as a bidirectional
instruction-following sequence labeler, after Bian et al., "VANER: Leveraging
Large Language Model for Versatile and Adaptive Biomedical Named Entity
Recognition".

For every sentence and every label the decoder reads
``If any {type} entity is mentioned in the {dataset} input, extract it. ##input: <sentence>``
(the template is configurable) with the causal mask removed, and a linear
head tags each word O, B or I (read from its first subword). One model thus
serves many entity types and datasets. The layer (spacy_bioner.LlamaLabeler.v1)
adds 4-bit NF4 weights and LoRA adapters (QLoRA).

What the component reads and writes:

* Labels: ``labels`` maps each label to the type name the instruction uses
  (``{"Disease": "disease"}``; a list of labels uses their names, "Disease",
  "Gene or gene product"). Labels are only text in the instruction, so one
  can be added after training.
* Dataset: ``dataset`` is the name the instruction mentions; null (or a
  template without ``{dataset}``) gives ``If any {type} entity is mentioned
  in the input, extract it. ##input: `` (the placeholder and the space before
  it are removed), as VANER_adapt's. A doc whose ``user_data["bioner_dataset"]``
  names a dataset (spacy_bioner.MultiDatasetCorpus.v1 sets it) is read with
  that name and asked only about that dataset's labels, in training and in
  prediction.
* Sentences: ``doc.sents`` when set, else the whole doc; long sentences are
  cut into overlapping windows (each with the whole instruction), never
  truncated. Gold: ``doc.spans[spans_key]``, else ``doc.ents`` (docs with
  neither are not trained on); nested spans of one label cannot all be BIO
  tagged, the longest wins.
* Output: per (sentence, label) the argmax tag of each word's first subword
  (averaged over the windows that cover it); a span starts at B, or at an I
  not preceded by a word of the span, and goes on over the following I words
  (no threshold). Every span, overlaps between labels included, goes to
  ``doc.spans[spans_key]`` with its score (mean P(B) + P(I) of its words) in
  ``attrs["scores"]``; with ``ents``, a non-overlapping subset (highest score
  first) goes to ``doc.ents``.
* Dense Bioentities Recognition (``dbr``, see spacy_bioner.pipeline._dbr): in
  training, each (sentence, label) row gets a pseudo-sentence of retrieved
  knowledge-base names read with the instruction without the dataset.
  ``initialize()`` builds the knowledge base from the training spans plus an
  optional TSV file (``[initialize.components.NAME] kb_path``). It is not
  saved with the pipeline: prediction never needs it, a knowledge base can
  be large and its licence may forbid redistribution (UMLS), and saving it
  would tie every shipped pipeline to it. Training a loaded pipeline with DBR
  needs ``nlp.initialize()`` (or ``build_knowledge_base``) again; otherwise
  the updates warn and skip DBR.
"""
# No `from __future__ import annotations`: spaCy validates the [initialize]
# settings against the signature of initialize() with pydantic.
import re
import string
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Model

from ..corpora.multi_dataset import dataset_info
from ..errors import Errors, Warnings
from ..models.llama_labeler import LlamaLabelerShim
from ..models.pooling import merge_windows, pool_words
from ..models.queries import PromptQuery
from ..models.tagger_layer import PromptScores
from ..models.targets import sentence_targets
from ..torch.llama_labeler import LABELER_TAGS, labeler_loss
from ._base import (
    SPAN_SCORER_CONFIG_STR,
    DescribedLabels,
    SpanTaggerPipe,
    check_count,
    config_blocks,
    invalid_setting,
)
from ._dbr import DBR_MODES, DBR_POOLING, DBRSampler, KnowledgeBase, make_retriever
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
    softmax,
    store_word_probs,
)
from ._loss import loss_and_gradient

#: The paper's instruction (VANER's code, with the trailing space before the sentence).
DEFAULT_INSTRUCTION = "If any {type} entity is mentioned in the {dataset} input, extract it. ##input: "
INSTRUCTION_FIELDS = ("type", "dataset")
N_TAGS = len(LABELER_TAGS)

DEFAULT_CONFIG_STR = """
[model]
@architectures = "spacy_bioner.LlamaLabeler.v1"
base_model = "smollm2-135m-instruct"
gguf_file = null
bidirectional = true
quantize_4bit = true
lora = true
lora_r = 16
lora_alpha = 32
lora_dropout = 0.05
lora_target_modules = "all-linear"
base_weights = "save"
torch_dtype = "float32"
attn_implementation = "sdpa"
dropout = 0.1
max_length = 256
stride = 64
batch_size = 8
""" + SPAN_SCORER_CONFIG_STR
DEFAULT_MODEL, DEFAULT_SCORER = config_blocks(DEFAULT_CONFIG_STR)


class RowKey(NamedTuple):
    """What a query row stands for: a sentence of a doc asked about a label,
    or (doc = -1) a DBR pseudo-sentence with its own gold tags."""

    doc: int
    start: int
    end: int
    label: str
    tags: tuple[int, ...] | None = None


@Language.factory(
    "bioner_llama",
    assigns=["doc.spans", "doc.ents", "token.ent_iob", "token.ent_type"],
    default_config={
        "model": DEFAULT_MODEL,
        "labels": None,
        "dataset": None,
        "instruction": DEFAULT_INSTRUCTION,
        "spans_key": "sc",
        "ents": True,
        "dbr": "retrieved",
        "dbr_retriever": "tfidf",
        "dbr_pooling": "cls",
        "dbr_threshold": 0.5,
        "dbr_top_k": 5,
        "dbr_same_type": 10,
        "dbr_other_type": 5,
        "dbr_seed": 0,
        "scorer": DEFAULT_SCORER,
    },
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0},
)
def make_llama_labeler(
    nlp: Language,
    name: str,
    model: Model[list[PromptQuery], PromptScores],
    labels: dict[str, str] | list[str] | None,
    dataset: str | None,
    instruction: str,
    spans_key: str,
    ents: bool,
    dbr: str,
    dbr_retriever: str,
    dbr_pooling: str,
    dbr_threshold: float,
    dbr_top_k: int,
    dbr_same_type: int,
    dbr_other_type: int,
    dbr_seed: int,
    scorer: Callable[..., dict[str, Any]] | None,
) -> "LlamaLabeler":
    """Create a LLaMA-family instruction labeler (Bian et al., "VANER").

    model (Model[list[PromptQuery], PromptScores]): The layer, e.g.
        spacy_bioner.LlamaLabeler.v1.
    labels (dict[str, str] | list[str] | None): Label -> the type name the
        instruction uses, or labels named by themselves; None: set at initialize.
    dataset (str | None): The dataset name the instruction mentions; None: none.
    instruction (str): The template, with {type} and optionally {dataset}.
    spans_key (str): Span group for the gold and the predicted spans.
    ents (bool): Also write non-overlapping spans to doc.ents.
    dbr (str): Dense Bioentities Recognition in training: "retrieved" (the
        paper), "random" (random names, the ablation) or "off".
    dbr_retriever (str): "tfidf" (character 3-gram TF-IDF cosine) or an
        encoder name or directory (e.g. SapBERT).
    dbr_pooling (str): Encoder pooling, "cls" (SapBERT) or "mean".
    dbr_threshold (float): Lowest cosine of a retrieved name.
    dbr_top_k (int): Most names retrieved per phrase.
    dbr_same_type (int): Most names of the asked type per pseudo-sentence.
    dbr_other_type (int): Most names of other types per pseudo-sentence.
    dbr_seed (int): Seed of the draws.
    scorer (Callable | None): The scoring function.
    RETURNS (LlamaLabeler): The component.
    """
    return LlamaLabeler(
        nlp.vocab,
        model,
        name,
        labels=labels,
        dataset=dataset,
        instruction=instruction,
        spans_key=spans_key,
        ents=ents,
        dbr=dbr,
        dbr_retriever=dbr_retriever,
        dbr_pooling=dbr_pooling,
        dbr_threshold=dbr_threshold,
        dbr_top_k=dbr_top_k,
        dbr_same_type=dbr_same_type,
        dbr_other_type=dbr_other_type,
        dbr_seed=dbr_seed,
        scorer=scorer,
    )


def check_instruction(template: str, name: str = "bioner_llama") -> None:
    """Check an instruction template: a string whose only fields are {type}
    (required) and {dataset}.

    template (str): The template.
    name (str): The component name, for the message.
    RAISES (ValueError): Saying what is wrong.
    """
    if not isinstance(template, str) or not template.strip():
        raise ValueError(Errors.E708.format(template=template, name=name, what="it is empty"))
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as err:
        raise ValueError(Errors.E708.format(template=template, name=name, what=str(err))) from err
    unknown = sorted({f for f in fields if f not in INSTRUCTION_FIELDS})
    if unknown:
        raise ValueError(Errors.E708.format(template=template, name=name, what=f"unknown field(s) {unknown}"))
    if "type" not in fields:
        raise ValueError(Errors.E708.format(template=template, name=name, what="it has no {type} field"))


def format_instruction(template: str, type_name: str, dataset: str | None = None) -> str:
    """The instruction for one entity type and, if given, dataset.

    Without a dataset the {dataset} field goes, with one space before it:
    "... in the {dataset} input ..." becomes "... in the input ...".

    template (str): A template that passes `check_instruction`.
    type_name (str): The type name, e.g. "disease".
    dataset (str | None): The dataset name, e.g. "NCBI-disease"; None or "": none.
    RETURNS (str): The instruction text.
    """
    if not dataset:
        template = re.sub(r" ?(?<!\{)\{dataset\}(?!\})", "", template)
        return template.format(type=type_name)
    return template.format(type=type_name, dataset=dataset)


class LlamaLabeler(DescribedLabels, SpanTaggerPipe):
    """Instruction-following O/B/I labeler over a LLaMA-family decoder.

    vocab (Vocab): The shared vocabulary.
    model (Model[list[PromptQuery], PromptScores]): The layer.
    name (str): The component name.
    The other settings are those of the factory, `make_llama_labeler`, documented there.
    """

    factory = "bioner_llama"
    shim_kind = LlamaLabelerShim

    def __init__(
        self,
        vocab: Vocab,
        model: Model[list[PromptQuery], PromptScores],
        name: str = "bioner_llama",
        *,
        labels: Mapping[str, str] | Iterable[str] | None = None,
        dataset: str | None = None,
        instruction: str = DEFAULT_INSTRUCTION,
        spans_key: str = "sc",
        ents: bool = True,
        dbr: str = "retrieved",
        dbr_retriever: str = "tfidf",
        dbr_pooling: str = "cls",
        dbr_threshold: float = 0.5,
        dbr_top_k: int = 5,
        dbr_same_type: int = 10,
        dbr_other_type: int = 5,
        dbr_seed: int = 0,
        scorer: Callable[..., dict[str, Any]] | None = None,
    ) -> None:
        check_instruction(instruction, name)
        _check_dbr_settings(name, dataset, dbr, dbr_pooling, dbr_retriever, dbr_threshold,
                            {"dbr_top_k": dbr_top_k, "dbr_same_type": dbr_same_type, "dbr_other_type": dbr_other_type})
        self._setup(vocab, model, name, spans_key, ents, scorer)
        self.dataset = dataset
        self.instruction = instruction
        self.dbr = dbr
        self.dbr_retriever = dbr_retriever
        self.dbr_pooling = dbr_pooling
        self.dbr_threshold = float(dbr_threshold)
        self.dbr_top_k = dbr_top_k
        self.dbr_same_type = dbr_same_type
        self.dbr_other_type = dbr_other_type
        self.dbr_seed = dbr_seed
        # saved state: label -> type name, in order
        self.cfg: dict[str, Any] = {"labels": {}}
        self._dbr_sampler: DBRSampler | None = None
        self._warned_no_kb = False
        self._start_labels(labels)

    # ---- labels -------------------------------------------------------------

    @property
    def type_names(self) -> dict[str, str]:
        """RETURNS (dict[str, str]): Label -> the type name the instruction uses."""
        return dict(self.cfg["labels"])

    def instruction_for(self, label: str, dataset: str | None) -> str:
        """label (str): A label. dataset (str | None): A dataset name or None.
        RETURNS (str): The instruction the model reads for them."""
        return format_instruction(self.instruction, self.cfg["labels"][label], dataset)

    def _doc_setup(self, *docs: Doc) -> tuple[str | None, list[str]]:
        """The dataset name and labels of a doc: from the first of `docs` that
        records its dataset, else the component's `dataset` and all labels."""
        for doc in docs:
            info = dataset_info(doc)
            if info is not None:
                chosen = info.get("labels")
                labels = list(self.labels) if chosen is None else [lab for lab in self.labels if lab in set(chosen)]
                return info.get("name"), labels
        return self.dataset, list(self.labels)

    # ---- initialization -------------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Language | None = None,
        labels: dict[str, str | None] | list[str] | None = None,
        kb_path: Path | None = None,
    ) -> None:
        """Load the base decoder, settle the labels and, with DBR, build the
        knowledge base.

        Labels, in order of precedence: `labels` given here (e.g. from
        [initialize.components.NAME]), those of the component config, those
        annotated in the examples (sorted, named by themselves). An
        initialized model keeps its weights.

        get_examples (Callable[[], Iterable[Example]]): The training examples.
        nlp (Language | None): The pipeline.
        labels (dict[str, str | None] | list[str] | None): Label -> type name, or labels.
        kb_path (Path | None): A knowledge-base TSV file ("name<TAB>label" lines)
            added to the names of the training spans (DBR only).
        """
        validate_get_examples(get_examples, "LlamaLabeler.initialize")
        examples = [eg for eg in get_examples() if self._gold(eg) is not None]
        self._settle_labels(labels, {lab for eg in examples for _, _, lab in self._gold(eg) or []})
        self.model.initialize()
        if self.dbr != "off":
            self.build_knowledge_base(examples, kb_path)

    def build_knowledge_base(self, examples: Iterable[Example], kb_path: str | Path | None = None) -> KnowledgeBase:
        """Build the DBR knowledge base and sampler: the gold span texts of the
        examples (type = label) plus the names of a TSV file.

        examples (Iterable[Example]): Training examples.
        kb_path (str | Path | None): A "name<TAB>label" file to add.
        RETURNS (KnowledgeBase): The knowledge base the sampler uses.
        """
        kb = KnowledgeBase()
        for eg in examples:
            text = eg.reference.text
            for start, end, label in self._gold(eg) or []:
                kb.add(text[start:end], label)
        if kb_path is not None:
            kb.add_tsv(kb_path)
        counts = kb.type_counts()
        missing = [label for label in self.labels if not counts.get(label)]
        if missing:
            warnings.warn(Warnings.W701.format(name=self.name, labels=missing), stacklevel=2)
        retriever = make_retriever(
            kb, self.dbr_retriever, pooling=self.dbr_pooling, threshold=self.dbr_threshold, top_k=self.dbr_top_k
        )
        mode = self.dbr if self.dbr != "off" else "retrieved"
        self._dbr_sampler = DBRSampler(
            kb, retriever, mode=mode, n_same=self.dbr_same_type, n_other=self.dbr_other_type, seed=self.dbr_seed
        )
        self._warned_no_kb = False
        return kb

    @property
    def knowledge_base(self) -> KnowledgeBase | None:
        """RETURNS (KnowledgeBase | None): The DBR knowledge base, once built."""
        return self._dbr_sampler.kb if self._dbr_sampler is not None else None

    # ---- prediction ---------------------------------------------------------------

    def _queries(self, docs: list[Doc]) -> list[PromptQuery]:
        """One query per (sentence, label); each label its own group, so its rows
        are padded with its own rows only."""
        queries: list[PromptQuery] = []
        for i, doc in enumerate(docs):
            dataset, labels = self._doc_setup(doc)
            if not labels:
                continue
            words = tuple(t.text for t in doc)
            instructions = {label: self.instruction_for(label, dataset) for label in labels}
            for start, end in sentence_bounds(doc):
                for label in labels:
                    queries.append(PromptQuery(words[start:end], instructions[label], label, RowKey(i, start, end, label)))
        return queries

    def _word_logits(self, scores: PromptScores) -> tuple[numpy.ndarray, numpy.ndarray]:
        """Per global word, the O/B/I logits of its first subword (averaged over
        the windows that cover it), and the mask of words that have a subword."""
        merged = merge_windows(scores.batch, scores.logits, N_TAGS)
        return pool_words(scores.batch, merged, "first")

    def predict(self, docs: Iterable[Doc]) -> list[DocPrediction]:
        """Tag every sentence of every doc with every label (of its dataset).

        docs (Iterable[Doc]): The docs.
        RETURNS (list[DocPrediction]): Per doc, the spans and, per label, each
            token's P(B) + P(I) (NaN for whitespace tokens).
        """
        self._require_initialized()
        docs = list(docs)
        queries = self._queries(docs)
        if not queries:
            return [DocPrediction() for _ in docs]
        scores = self.model.predict(queries)
        batch = scores.batch
        logits, has = self._word_logits(scores)
        probs = softmax(logits.astype("float64")) if logits.shape[0] else numpy.zeros((0, N_TAGS))
        tags = logits.argmax(axis=1).astype("int64") if logits.shape[0] else numpy.zeros(0, dtype="int64")
        inside = (probs[:, 1] + probs[:, 2]).astype("float32")
        inside[~has] = numpy.nan
        query_of_word = query_of_words(batch)
        # one label per query: tags 0/1/2 are O/B-0/I-0 of decode_tags' layout
        first, last, _, means = decode_tags(tags, inside[:, None], numpy.flatnonzero(has), query_of_word)
        labels = [queries[int(query_of_word[w])].key.label for w in first]
        out = collect_spans(len(docs), batch, query_of_word, (first, last, means), labels)
        store_word_probs(out, docs, batch, inside[:, None], lambda query: ((query.key.label, 0),))
        return out

    # ---- training -------------------------------------------------------------------

    def _token_tags(self, example: Example) -> dict[str, numpy.ndarray]:
        """Per label, the O/B/I tag (0/1/2) of each predicted token; -1 for
        whitespace tokens. Labels without gold spans are all O."""
        doc = example.predicted
        by_label = aligned_gold(doc, self._gold(example) or [], self.labels)
        return {label: bio_tags(doc, spans) for label, spans in by_label.items()}

    def _training_queries(self, examples: list[Example]) -> tuple[list[Example], list[PromptQuery]]:
        """One query per (sentence, label of its dataset) of the annotated
        examples and, with DBR, one pseudo-sentence query for each."""
        examples = [eg for eg in examples if self._gold(eg) is not None]
        sampler = self._dbr_sampler if self.dbr != "off" else None
        if self.dbr != "off" and sampler is None and examples and not self._warned_no_kb:
            warnings.warn(Warnings.W700.format(name=self.name, mode=self.dbr), stacklevel=3)
            self._warned_no_kb = True
        queries: list[PromptQuery] = []
        for i, eg in enumerate(examples):
            dataset, labels = self._doc_setup(eg.reference, eg.predicted)
            words = tuple(t.text for t in eg.predicted)
            for start, end in sentence_bounds(eg.predicted):
                sentence = words[start:end]
                for label in labels:
                    queries.append(
                        PromptQuery(sentence, self.instruction_for(label, dataset), "", RowKey(i, start, end, label))
                    )
                    if sampler is None:
                        continue
                    pseudo = sampler.sample(sentence, label)
                    if pseudo is not None:
                        pseudo_words, pseudo_tags = pseudo
                        key = RowKey(-1, 0, len(pseudo_words), label, pseudo_tags)
                        queries.append(PromptQuery(pseudo_words, self.instruction_for(label, None), "", key))
        return examples, queries

    def get_loss(self, examples: Iterable[Example], scores: PromptScores) -> tuple[float, list[numpy.ndarray]]:
        """Cross-entropy of the O/B/I tags of each word's first subword (later
        subwords, instruction and special tokens are ignored), and its gradient.

        examples (Iterable[Example]): The annotated examples the row keys index.
        scores (PromptScores): What the layer computed for the queries.
        RETURNS (tuple[float, list[numpy.ndarray]]): The mean loss over the
            labelled positions, and d(loss)/d(logits) for each chunk.
        """
        examples = list(examples)
        validate_examples(examples, "LlamaLabeler.get_loss")
        batch = scores.batch
        tags_of_doc = cached_tags(lambda doc_i: self._token_tags(examples[doc_i]))

        def tags_of(query: PromptQuery) -> numpy.ndarray:
            key: RowKey = query.key
            if key.tags is not None:
                return numpy.asarray(key.tags, dtype="int64")
            return tags_of_doc(key.doc)[key.label][key.start : key.end]

        targets = sentence_targets(batch, gather_word_tags(batch, tags_of), first_subword_only=True)
        return loss_and_gradient(scores.logits, targets, labeler_loss)


def _check_dbr_settings(
    name: str, dataset: Any, dbr: Any, dbr_pooling: Any, dbr_retriever: Any, dbr_threshold: Any,
    counts: dict[str, Any],
) -> None:
    """Check the dataset and DBR settings of a bioner_llama component (E321 naming the setting)."""
    if dataset is not None and (not isinstance(dataset, str) or not dataset.strip()):
        raise invalid_setting("bioner_llama", name, "dataset", dataset, "give a non-empty name, or null for none")
    if dbr not in DBR_MODES:
        raise invalid_setting("bioner_llama", name, "dbr", dbr, f"choose one of {', '.join(DBR_MODES)}")
    if dbr_pooling not in DBR_POOLING:
        raise invalid_setting("bioner_llama", name, "dbr_pooling", dbr_pooling, f"choose one of {', '.join(DBR_POOLING)}")
    if not isinstance(dbr_retriever, str) or not dbr_retriever.strip():
        raise invalid_setting("bioner_llama", name, "dbr_retriever", dbr_retriever, "give 'tfidf' or an encoder name")
    if isinstance(dbr_threshold, bool) or not isinstance(dbr_threshold, int | float) or not -1.0 <= dbr_threshold <= 1.0:
        raise invalid_setting("bioner_llama", name, "dbr_threshold", dbr_threshold, "give a cosine in [-1, 1]")
    for setting, value in counts.items():
        check_count("bioner_llama", name, setting, value, low=1 if setting == "dbr_top_k" else 0)
