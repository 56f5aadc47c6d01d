"""Zero- and few-shot experiments with ``bioner_prompted`` (Košprdić et al.,
"From Zero to Hero", arXiv 2305.04928), without the leaks of the paper's code.

The protocol, as :func:`run_fewshot` runs it:

1. **Base model.** Every span of a hidden label is removed from the training
   *and the dev* documents (from ``doc.ents``, where its tokens become O, and
   from every span group). The paper's code kept the hidden class in the dev
   set used for checkpoint selection; here the base model never sees it. The
   base model is trained on the remaining (seen) labels with spaCy's own
   training loop; its labels are set through
   ``[initialize.components.NAME] labels`` and ``model-best`` (selected on the
   seen-label dev set) is kept.
2. **Zero-shot.** The base model is given the hidden labels with
   ``add_label(label, description)`` and its seen labels are removed, so it
   predicts only hidden labels (each label is predicted independently of the
   others, so this changes nothing for the hidden ones). On the test set,
   only hidden-label gold is scored: strict span P/R/F1 and the paper's
   token-level P/R/F1, per hidden label. Zero-shot has no sampling, so it is
   one run per label.
3. **Few-shot**, one hidden label at a time, as in the paper: for each k > 0
   and each seed, k distinct training sentences that contain the label are
   drawn *without replacement*; their gold keeps only that label's spans (the
   paper fine-tunes on examples of the new class), and the model being
   fine-tuned knows only that label, so the seen labels get no updates. The
   sample for seed s is the first k sentences of one seeded permutation per
   (label, seed), so the 1-shot sentence of a seed is part of its 10-shot
   sample. If fewer than k sentences exist, all are used and ``k_used`` says
   so. The model is fine-tuned from the zero-shot model for a fixed number of
   updates with the training config's optimizer at a constant learning rate
   (see :func:`fewshot_optimizer`), and the *final* model is scored: nothing is selected on the test set, nor
   on dev (see :func:`fewshot_schedule`).
4. **Report**: per hidden label and k, mean ± sample standard deviation over
   seeds of every score; the average over hidden labels is computed per seed
   (macro over labels) and then summarised over seeds. The paper's BioBERT
   token-level F1 averages (:data:`PAPER_TOKEN_F`) and the gap to them are
   listed next to ours.

Descriptions (the text the model reads for a label), for hidden and seen
labels alike: a given ``{label: description}`` mapping first, then the labels
of the config's ``[initialize.components.NAME] labels`` when it is a mapping,
else the label name split into words and lower-cased (``default_description``
lower-cased: "Gene_or_gene_product" -> "gene or gene product"). All the
descriptions used are written to the report.

Sentences: a training document with sentence boundaries is split into its
sentences; one without is one sentence. Sentences with the same text and the
same spans of the label count once. The test set is scored on texts only
(the pipeline tokenises and, without a sentence splitter, reads each document
as one windowed sentence), as the ``evaluate`` command does: convert corpora
with ``--sentences`` for the paper's sentence-level setting. The test set
should annotate every hidden label exhaustively: every predicted span of a
hidden label in a scored document counts.
"""
from __future__ import annotations

import io
import json
import math
import random
import re
import statistics
import sys
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import srsly
from spacy import util
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span, SpanGroup
from spacy.training import Example
from spacy.util import filter_spans
from spacy.vocab import Vocab
from thinc.api import Config, fix_random_seed
from wasabi import Printer

from .errors import BioNERInputError, Errors
from .pipeline.prompted import PromptedTagger, default_description
from .scoring import score_spans, score_tokens

FACTORY = "bioner_prompted"
#: Token-level F1 averaged over nine unseen classes, BioBERT v1.1 (Košprdić et
#: al., abstract), as fractions; k -> F1.
PAPER_TOKEN_F: dict[int, float] = {0: 0.3544, 1: 0.5010, 10: 0.6994, 100: 0.7951}
PAPER_MODEL = "BioBERT v1.1 (Košprdić et al., arXiv 2305.04928)"
#: Default few-shot schedule: at least this many updates ...
MIN_FEWSHOT_STEPS = 10
#: ... and at least this many passes over the k sentences.
MIN_FEWSHOT_EPOCHS = 3
#: Few-shot batch size when the config's batcher has no integer `size`.
DEFAULT_BATCH_SIZE = 16
METRICS = ("span_p", "span_r", "span_f", "token_p", "token_r", "token_f")
# What DocBin.from_disk / get_docs raise on a missing or broken file
# (msgpack errors are ValueErrors).
_DOCBIN_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, zlib.error)


@dataclass(frozen=True)
class Sentence:
    """A training sentence with the gold spans of one label.

    doc_index (int): Index of its document in the training file.
    start (int): Its first token in that document.
    end (int): One past its last token.
    words (tuple[str, ...]): Its tokens.
    spaces (tuple[bool, ...]): Whether each token is followed by a space.
    spans (tuple[tuple[int, int], ...]): The label's spans, as token offsets
        within the sentence.
    """

    doc_index: int
    start: int
    end: int
    words: tuple[str, ...]
    spaces: tuple[bool, ...]
    spans: tuple[tuple[int, int], ...]

    @property
    def text(self) -> str:
        """RETURNS (str): The sentence text (without trailing whitespace)."""
        return "".join(w + (" " if sp else "") for w, sp in zip(self.words, self.spaces, strict=True)).rstrip()


# ---- data ------------------------------------------------------------------


def read_docs(path: str | Path, vocab: Vocab, what: str) -> list[Doc]:
    """Read a DocBin, with a clear error for a missing, broken or empty file.

    path (str | Path): The .spacy file.
    vocab (Vocab): The vocabulary to read into.
    what (str): The option the file came from ("train", "dev", "test"), for errors.
    RETURNS (list[Doc]): The documents.
    RAISES (BioNERInputError): If the file cannot be read or holds no document.
    """
    path = Path(path)
    if not path.is_file():
        raise BioNERInputError(Errors.E400.format(what=what, path=path, err="no such file"))
    try:
        docs = list(DocBin().from_disk(path).get_docs(vocab))
    except _DOCBIN_ERRORS as err:
        raise BioNERInputError(Errors.E400.format(what=what, path=path, err=err)) from err
    if not docs:
        raise BioNERInputError(Errors.E401.format(what=what, path=path))
    return docs


def gold_spans(doc: Doc, spans_key: str) -> list[Span] | None:
    """The gold spans the component trains on: doc.spans[spans_key], else doc.ents.

    doc (Doc): A reference document.
    spans_key (str): The component's span group.
    RETURNS (list[Span] | None): The spans, or None if the doc is not annotated.
    """
    if spans_key in doc.spans:
        return list(doc.spans[spans_key])
    if doc.has_annotation("ENT_IOB"):
        return list(doc.ents)
    return None


def label_counts(docs: Iterable[Doc], spans_key: str) -> Counter[str]:
    """docs (Iterable[Doc]): Documents. spans_key (str): The gold span group.
    RETURNS (Counter[str]): Gold spans per label."""
    counts: Counter[str] = Counter()
    for doc in docs:
        counts.update(span.label_ for span in gold_spans(doc, spans_key) or ())
    return counts


def remove_labels(docs: Iterable[Doc], labels: Iterable[str]) -> tuple[list[Doc], dict[str, Counter[str]]]:
    """Copies of the docs without any span of the given labels.

    The spans go from doc.ents (their tokens become O: not an entity of any
    remaining label; missing annotation stays missing) and from every span
    group. Other annotation and doc.user_data are kept.

    docs (Iterable[Doc]): The documents (not modified).
    labels (Iterable[str]): The labels to remove.
    RETURNS (tuple[list[Doc], dict[str, Counter[str]]]): The copies, and the
        spans removed per place ("ents" or the span group's key) and label.
    """
    drop = set(labels)
    removed: dict[str, Counter[str]] = defaultdict(Counter)
    out: list[Doc] = []
    for doc in docs:
        copy = doc.copy()
        if copy.has_annotation("ENT_IOB"):
            ents = list(copy.ents)
            gone = [ent for ent in ents if ent.label_ in drop]
            if gone:
                keep = [ent for ent in ents if ent.label_ not in drop]
                copy.set_ents(keep, outside=gone, default="unmodified")
                removed["ents"].update(ent.label_ for ent in gone)
        for key in list(copy.spans.keys()):
            group = copy.spans[key]
            gone = [span for span in group if span.label_ in drop]
            if gone:
                # per-span attributes (e.g. scores) would no longer line up with the spans
                attrs = {k: v for k, v in group.attrs.items() if not (isinstance(v, list) and len(v) == len(group))}
                copy.spans[key] = SpanGroup(copy, name=key, attrs=attrs,
                                            spans=[span for span in group if span.label_ not in drop])
                removed[key].update(span.label_ for span in gone)
        out.append(copy)
    return out, dict(removed)


def write_docs(docs: Iterable[Doc], path: Path) -> None:
    """Write docs, user data included (the component reads the source doc ids)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin = DocBin(store_user_data=True)
    for doc in docs:
        doc_bin.add(doc)
    doc_bin.to_disk(path)


def sentence_pool(docs: Sequence[Doc], label: str, spans_key: str) -> list[Sentence]:
    """The training sentences that contain at least one gold span of `label`.

    A doc with sentence boundaries is split into its sentences, one without
    is one sentence; spans crossing a sentence boundary are not counted.
    Sentences with the same text and spans count once (the first is kept).

    docs (Sequence[Doc]): The training documents, hidden labels included.
    label (str): The label.
    spans_key (str): The gold span group.
    RETURNS (list[Sentence]): The sentences, in corpus order.
    """
    pool: list[Sentence] = []
    seen: set[tuple[tuple[str, ...], tuple[tuple[int, int], ...]]] = set()
    for i, doc in enumerate(docs):
        spans = [s for s in gold_spans(doc, spans_key) or () if s.label_ == label]
        if not spans or not len(doc):
            continue
        if doc.has_annotation("SENT_START"):
            bounds = [(sent.start, sent.end) for sent in doc.sents]
        else:
            bounds = [(0, len(doc))]
        for start, end in bounds:
            inside = tuple(sorted({(s.start - start, s.end - start) for s in spans
                                   if s.start >= start and s.end <= end}))
            if not inside:
                continue
            words = tuple(t.text for t in doc[start:end])
            spaces = tuple(bool(t.whitespace_) for t in doc[start:end])
            if (words, inside) in seen:
                continue
            seen.add((words, inside))
            pool.append(Sentence(i, start, end, words, spaces, inside))
    return pool


def sample_sentences(pool: Sequence[Sentence], k: int, seed: int, label: str) -> list[Sentence]:
    """Draw min(k, len(pool)) sentences without replacement.

    The draw is the first k items of one permutation of the pool, seeded by
    (label, seed): deterministic per seed, different across seeds, and nested
    across k (a seed's 1-shot sentence is in its 10-shot sample).

    pool (Sequence[Sentence]): The candidates (see `sentence_pool`).
    k (int): How many to draw.
    seed (int): The seed.
    label (str): The label, so that labels get independent draws.
    RETURNS (list[Sentence]): The sample, in draw order.
    """
    # a string seed is hashed with SHA-512: stable across runs and platforms
    rng = random.Random(f"spacy_bioner.fewshot\x00{label}\x00{seed}")
    order = rng.sample(range(len(pool)), len(pool))
    return [pool[i] for i in order[: max(0, k)]]


def sentence_example(nlp: Language, sentence: Sentence, label: str, spans_key: str) -> Example:
    """A training Example for one sentence whose gold is only `label`'s spans.

    The reference keeps the corpus tokens; the predicted doc is made by the
    pipeline's tokenizer from the text (the component aligns by characters).

    nlp (Language): The pipeline.
    sentence (Sentence): The sentence.
    label (str): The label of its spans.
    spans_key (str): The component's span group.
    RETURNS (Example): The example.
    """
    ref = Doc(nlp.vocab, words=list(sentence.words), spaces=list(sentence.spaces))
    spans = [Span(ref, s, e, label=label) for s, e in sentence.spans]
    ref.spans[spans_key] = spans
    ref.set_ents(filter_spans(spans), default="outside")
    return Example(nlp.make_doc(ref.text), ref)


# ---- parsing options ---------------------------------------------------------


def parse_shots(value: str | Sequence[int]) -> list[int]:
    """`"0,1,10,100"` -> [0, 1, 10, 100] (sorted, each once).

    value (str | Sequence[int]): Comma-separated integers, or integers.
    RETURNS (list[int]): The k values.
    RAISES (BioNERInputError): For anything else than non-negative integers.
    """
    items = [p.strip() for p in value.split(",")] if isinstance(value, str) else list(value)
    if not items or items == [""]:
        raise BioNERInputError(Errors.E404.format(value=value, what="no value given"))
    shots: list[int] = []
    for item in items:
        if isinstance(item, str) and re.fullmatch(r"-?[0-9]+", item):
            item = int(item)
        if isinstance(item, bool) or not isinstance(item, int):
            raise BioNERInputError(Errors.E404.format(value=value, what=f"{item!r} is not an integer"))
        if item < 0:
            raise BioNERInputError(Errors.E404.format(value=value, what=f"{item} is negative"))
        shots.append(item)
    return sorted(set(shots))


def load_descriptions(path: str | Path) -> dict[str, str]:
    """Read a JSON object {label: description}.

    path (str | Path): The file.
    RETURNS (dict[str, str]): The descriptions.
    RAISES (BioNERInputError): If the file is missing or not such an object.
    """
    path = Path(path)
    try:
        data = srsly.read_json(path)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E409.format(path=path, what=err)) from err
    if not isinstance(data, dict):
        raise BioNERInputError(Errors.E409.format(path=path, what=f"a JSON {type(data).__name__}, not an object"))
    for label, text in data.items():
        if not isinstance(text, str) or not text.strip():
            raise BioNERInputError(Errors.E409.format(path=path, what=f"the description of {label!r} is {text!r}"))
    return {str(label): text for label, text in data.items()}


def describe(label: str, given: Mapping[str, str] | None = None, config_labels: Mapping[str, Any] | None = None) -> str:
    """The description the model reads for a label (see the module docstring).

    label (str): The label.
    given (Mapping[str, str] | None): Descriptions given by the user.
    config_labels (Mapping[str, Any] | None): The config's initialize labels.
    RETURNS (str): The description.
    """
    for source in (given, config_labels):
        if source and isinstance(source.get(label), str) and source[label].strip():
            return str(source[label])
    return default_description(label).lower()


def fewshot_schedule(k: int, batch_size: int, *, steps: int | None = None, epochs: int | None = None) -> int:
    """The number of updates of a k-shot fine-tuning run.

    Given `steps`: that many. Given `epochs`: epochs * ceil(k / batch_size).
    Neither: max(MIN_FEWSHOT_STEPS, MIN_FEWSHOT_EPOCHS * ceil(k / batch_size)),
    i.e. at least 10 updates and at least 3 passes over the sample (with
    batch 16: 10 updates for k <= 53, 21 for k = 100).

    k (int): Sentences in the sample (the number used, not asked for).
    batch_size (int): Sentences per update.
    steps (int | None): Fixed number of updates.
    epochs (int | None): Fixed number of passes.
    RETURNS (int): The number of updates.
    """
    if steps is not None and epochs is not None:
        raise BioNERInputError(Errors.E413.format(what="give --fewshot-steps or --fewshot-epochs, not both"))
    for name, value in (("--fewshot-steps", steps), ("--fewshot-epochs", epochs), ("batch size", batch_size)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise BioNERInputError(Errors.E413.format(what=f"{name} must be a positive integer, not {value!r}"))
    batches = max(1, math.ceil(k / batch_size))
    if steps is not None:
        return steps
    if epochs is not None:
        return epochs * batches
    return max(MIN_FEWSHOT_STEPS, MIN_FEWSHOT_EPOCHS * batches)


# ---- the base model -----------------------------------------------------------


@dataclass
class BaseConfig:
    """The training config of the base model, and what the experiment reads from it.

    config (Config): The config, not interpolated, with the overrides applied.
    name (str): The name of the bioner_prompted component.
    spans_key (str): Its span group (where it reads gold and writes spans).
    config_labels (dict[str, Any]): Descriptions the config gives, if any.
    """

    config: Config
    name: str
    spans_key: str
    config_labels: dict[str, Any]


def load_base_config(config_path: str | Path, overrides: Mapping[str, Any] | None = None) -> BaseConfig:
    """Load a training config and find its bioner_prompted component.

    config_path (str | Path): The config, e.g. configs/prompted.cfg.
    overrides (Mapping[str, Any] | None): Config overrides ("section.key" -> value).
    RETURNS (BaseConfig): The config and its component settings.
    RAISES (BioNERInputError): If the config cannot be read or has no single bioner_prompted.
    """
    path = Path(config_path)
    if not path.is_file():
        raise BioNERInputError(Errors.E410.format(path=path, err="no such file"))
    try:
        config = util.load_config(path, overrides=dict(overrides or {}), interpolate=False)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E410.format(path=path, err=err)) from err
    components = config.get("components", {})
    names = [name for name, block in components.items() if isinstance(block, dict) and block.get("factory") == FACTORY]
    if len(names) != 1:
        raise BioNERInputError(Errors.E411.format(path=path, n=len(names), names=", ".join(names) or "none"))
    name = names[0]
    block = components[name]
    init_block = config.get("initialize", {}).get("components", {}).get(name, {}) or {}
    config_labels: dict[str, Any] = {}
    for labels in (block.get("labels"), init_block.get("labels")):
        if isinstance(labels, Mapping):
            config_labels.update(labels)
    spans_key = block.get("spans_key", "sc")
    if not isinstance(spans_key, str):
        raise BioNERInputError(Errors.E410.format(path=path, err=f"components.{name}.spans_key is {spans_key!r}"))
    return BaseConfig(config, name, spans_key, config_labels)


def prepare_base_config(
    base: BaseConfig,
    config_path: str | Path,
    *,
    train_path: Path,
    dev_path: Path,
    labels: Mapping[str, str],
    encoder: str | None = None,
    max_steps: int | None = None,
) -> Config:
    """Point the config at the seen-label data and give the component the seen labels.

    The train and dev corpora's `path` (and [paths] train/dev) are set to the
    filtered files, so no reader can fall back to data with hidden labels;
    [initialize.components.NAME] labels is set to `labels` and the
    component's own `labels` to null.

    base (BaseConfig): From `load_base_config` (its config is modified).
    config_path (str | Path): The config file, for errors.
    train_path (Path): Training docs without hidden labels.
    dev_path (Path): Dev docs without hidden labels.
    labels (Mapping[str, str]): The seen labels and their descriptions.
    encoder (str | None): Encoder name or directory to use instead of the config's.
    max_steps (int | None): [training] max_steps to use instead of the config's.
    RETURNS (Config): The modified config.
    """
    config = base.config
    training = config.setdefault("training", {})
    for what, key, data in (("train", "train_corpus", train_path), ("dev", "dev_corpus", dev_path)):
        dot_name = training.get(key, f"corpora.{what}")
        block: Any = config
        for part in str(dot_name).split("."):
            block = block.get(part) if isinstance(block, dict) else None
        if not isinstance(block, dict) or "path" not in block:
            raise BioNERInputError(Errors.E412.format(path=config_path, what=what, dot_name=dot_name))
        block["path"] = str(data)
        if isinstance(config.get("paths"), dict) and what in config["paths"]:
            config["paths"][what] = str(data)
    component = config["components"][base.name]
    component["labels"] = None
    init = config.setdefault("initialize", {}).setdefault("components", {})
    init.setdefault(base.name, {})["labels"] = dict(labels)
    if encoder is not None:
        component.setdefault("model", {})["encoder"] = str(encoder)
        if isinstance(config.get("paths"), dict) and "encoder" in config["paths"]:
            config["paths"]["encoder"] = str(encoder)
    if max_steps is not None:
        training["max_steps"] = int(max_steps)
    return config


def train_base(config: Config, output_dir: Path, *, use_gpu: int = -1, stdout: IO[str] | None = None) -> Path:
    """Train with spaCy's training loop and return model-best (else model-last).

    config (Config): The prepared config.
    output_dir (Path): Where model-best and model-last go.
    use_gpu (int): GPU id, -1 for CPU.
    stdout (IO[str] | None): Where the training log goes; None: sys.stdout.
    RETURNS (Path): The directory of the selected model.
    """
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as train_loop

    output_dir.mkdir(parents=True, exist_ok=True)
    out = stdout if stdout is not None else sys.stdout
    try:
        nlp = init_nlp(config, use_gpu=use_gpu)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E410.format(path=output_dir.parent / "base.cfg", err=err)) from err
    train_loop(nlp, output_dir, use_gpu=use_gpu, stdout=out, stderr=out)
    # spaCy evaluates after the first update, so model-best exists after any training
    best = output_dir / "model-best"
    return best if best.exists() else output_dir / "model-last"


def load_tagger(path: Path, name: str) -> tuple[Language, PromptedTagger]:
    """path (Path): A saved pipeline. name (str): The component.
    RETURNS (tuple[Language, PromptedTagger]): The pipeline and its tagger."""
    nlp = util.load_model(path)
    return nlp, nlp.get_pipe(name)


# ---- evaluation and fine-tuning ------------------------------------------------


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
    examples = [Example(pred, ref) for pred, ref in zip(predicted, references, strict=True)]
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


def fewshot_optimizer(optimizer_config: Mapping[str, Any], learn_rate: float | None = None) -> dict[str, Any]:
    """The base model's optimizer block with a constant learning rate.

    A schedule tuned for the base model (a warm-up over hundreds of steps)
    would leave a 10-update few-shot run at a learning rate near zero, so the
    few-shot runs use `learn_rate` when given, else the schedule's
    `initial_rate`, else the block's own constant rate.

    optimizer_config (Mapping[str, Any]): An interpolated [training.optimizer] block.
    learn_rate (float | None): The rate to use instead.
    RETURNS (dict[str, Any]): A copy with a float `learn_rate`.
    """
    config = dict(optimizer_config)
    rate = config.get("learn_rate")
    if learn_rate is not None:
        config["learn_rate"] = float(learn_rate)
    elif isinstance(rate, Mapping):
        if "initial_rate" not in rate:
            raise BioNERInputError(Errors.E415.format(schedule=rate.get("@schedules", rate)))
        config["learn_rate"] = float(rate["initial_rate"])
    return config


def finetune(
    nlp: Language,
    name: str,
    examples: Sequence[Example],
    *,
    steps: int,
    batch_size: int,
    optimizer_config: Mapping[str, Any],
    seed: int,
) -> float:
    """Update one component for a fixed number of steps; nothing is selected.

    Each pass visits the examples in a seeded random order, in batches of
    `batch_size` (the last one of a pass may be smaller). A fresh optimizer is
    made from `optimizer_config` (the training config's [training.optimizer]).

    nlp (Language): The pipeline (updated in place).
    name (str): The component to update; the others are left alone.
    examples (Sequence[Example]): The few-shot examples.
    steps (int): Number of updates.
    batch_size (int): Examples per update.
    optimizer_config (Mapping[str, Any]): An interpolated optimizer block.
    seed (int): Seeds the order and torch, numpy and random (dropout).
    RETURNS (float): The mean loss of the last pass.
    """
    fix_random_seed(seed)
    optimizer = util.registry.resolve({"optimizer": dict(optimizer_config)})["optimizer"]
    rng = random.Random(seed)
    others = [other for other in nlp.pipe_names if other != name]
    queue: list[Example] = []
    pass_losses: list[float] = []
    for _ in range(steps):
        if not queue:
            queue = list(examples)
            rng.shuffle(queue)
            pass_losses = []
        batch, queue = queue[:batch_size], queue[batch_size:]
        losses: dict[str, float] = {}
        nlp.update(batch, sgd=optimizer, losses=losses, exclude=others)
        pass_losses.append(losses.get(name, 0.0))
    return statistics.fmean(pass_losses) if pass_losses else 0.0


# ---- report --------------------------------------------------------------------


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean and sample standard deviation (None for fewer than two values).

    values (Sequence[float]): One number per run.
    RETURNS (dict[str, Any]): {"mean", "sd", "n", "values"}.
    """
    vals = [float(v) for v in values]
    return {
        "mean": statistics.fmean(vals) if vals else None,
        "sd": statistics.stdev(vals) if len(vals) > 1 else None,
        "n": len(vals),
        "values": vals,
    }


def aggregate(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Summarise runs per hidden label and k, and averaged over hidden labels.

    Each run is a mapping with "label", "k", "seed", "k_used" and the scores
    of METRICS. Per label and k, each metric is summarised over its runs
    (seeds). The average over labels is taken per (k, seed) first, macro
    over the labels with a run for it, and then summarised over seeds, so its
    sd is the spread of the macro-average between samples. k keys are strings
    (JSON). The paper's token F1 and the gap (our mean token F1 minus the
    paper's) are added per k where the paper has a figure.

    runs (Sequence[Mapping[str, Any]]): The runs.
    RETURNS (dict[str, Any]): {"per_label": {label: {k: {...}}}, "average": {k: {...}}}.
    """
    by_label: dict[str, dict[int, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    by_seed: dict[int, dict[Any, list[Mapping[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        by_label[run["label"]][int(run["k"])].append(run)
        by_seed[int(run["k"])][run["seed"]].append(run)
    per_label: dict[str, dict[str, Any]] = {}
    for label in sorted(by_label):
        per_label[label] = {}
        for k in sorted(by_label[label]):
            group = by_label[label][k]
            entry: dict[str, Any] = {metric: summarise([r[metric] for r in group]) for metric in METRICS}
            entry["k_used"] = sorted({int(r["k_used"]) for r in group})
            entry["n_runs"] = len(group)
            per_label[label][str(k)] = entry
    average: dict[str, Any] = {}
    for k in sorted(by_seed):
        seeds = by_seed[k]
        order = sorted(seeds, key=lambda s: (s is None, s if s is not None else 0))
        entry = {
            metric: summarise([statistics.fmean(r[metric] for r in seeds[s]) for s in order]) for metric in METRICS
        }
        entry["labels"] = sorted({r["label"] for s in order for r in seeds[s]})
        paper = PAPER_TOKEN_F.get(k)
        entry["paper_token_f"] = paper
        mean = entry["token_f"]["mean"]
        entry["token_f_gap"] = mean - paper if paper is not None and mean is not None else None
        average[str(k)] = entry
    return {"per_label": per_label, "average": average}


def _pct(stat: Mapping[str, Any] | float | None, *, sd: bool = True) -> str:
    if stat is None:
        return "-"
    if not isinstance(stat, Mapping):
        return f"{stat * 100:.2f}"
    if stat.get("mean") is None:
        return "-"
    text = f"{stat['mean'] * 100:.2f}"
    if sd and stat.get("sd") is not None:
        text += f" ± {stat['sd'] * 100:.2f}"
    return text


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as Markdown: the average over hidden labels next to the paper, then per label.

    report (Mapping[str, Any]): The report of `run_fewshot`.
    RETURNS (str): The Markdown text.
    """
    settings = report["settings"]
    descriptions = report["descriptions"]
    hidden = settings["hidden"]
    seen = report["base"]["labels"]
    lines = [
        "# Zero- and few-shot NER with bioner_prompted",
        "",
        "- hidden labels: " + ", ".join(f"`{label}` (\"{descriptions[label]}\")" for label in hidden),
        "- seen labels (base model): " + (", ".join(f"`{label}` (\"{d}\")" for label, d in seen.items()) or "-"),
        f"- base model: `{report['base']['path']}`, selected on dev without the hidden labels",
        f"- few-shot: {settings['seeds']} seed(s) per k > 0, k sentences drawn without replacement; "
        f"{settings['fewshot']['rule']}; batch {settings['fewshot']['batch_size']}; "
        f"constant learning rate {settings.get('fewshot_learn_rate', '-')}; final model scored",
        "- scores in %: mean ± sample sd over seeds; k = 0 is one run (nothing is sampled)",
        "",
        "## Average over hidden labels",
        "",
        "| k | span P | span R | span F1 | token F1 | paper token F1 | gap (points) |",
        "|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for k, entry in report["summary"]["average"].items():
        gap = entry["token_f_gap"]
        lines.append(
            f"| {k} | {_pct(entry['span_p'])} | {_pct(entry['span_r'])} | {_pct(entry['span_f'])} "
            f"| {_pct(entry['token_f'])} | {_pct(entry['paper_token_f'])} "
            f"| {'-' if gap is None else f'{gap * 100:+.2f}'} |"
        )
    lines += [
        "",
        f"Paper: token-level F1 averaged over nine unseen classes, {report['paper']['model']}; "
        "its classes, corpora and encoder differ from this run unless chosen to match, so the gap is indicative.",
        "",
        "## Per hidden label",
        "",
        "| label | k | k used | runs | span P | span R | span F1 | token P | token R | token F1 |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for label, by_k in report["summary"]["per_label"].items():
        for k, entry in by_k.items():
            used = ", ".join(str(u) for u in entry["k_used"])
            lines.append(
                f"| {label} | {k} | {used} | {entry['n_runs']} | {_pct(entry['span_p'])} | {_pct(entry['span_r'])} "
                f"| {_pct(entry['span_f'])} | {_pct(entry['token_p'])} | {_pct(entry['token_r'])} "
                f"| {_pct(entry['token_f'])} |"
            )
    capped = [f"`{label}`: {info['train_sentences']}" for label, info in report["hidden"].items()
              if any(int(k) > info["train_sentences"] for k in settings["shots"])]
    if capped:
        lines += ["", "Fewer training sentences than k (all were used): " + ", ".join(capped) + "."]
    return "\n".join(lines) + "\n"


def matplotlib_available() -> bool:
    """RETURNS (bool): Whether matplotlib can be imported (it is optional)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def write_plot(report: Mapping[str, Any], path: Path) -> bool:
    """Plot F1 against k (mean ± sd over seeds) with the paper's figures, if matplotlib is installed.

    report (Mapping[str, Any]): The report of `run_fewshot`.
    path (Path): The PNG to write.
    RETURNS (bool): Whether the plot was written.
    """
    if not matplotlib_available():
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    average = report["summary"]["average"]
    ks = [int(k) for k in average]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for metric, name, style in (("token_f", "token F1", "-"), ("span_f", "strict span F1", "--")):
        means = [average[str(k)][metric]["mean"] * 100 for k in ks]
        sds = [(average[str(k)][metric]["sd"] or 0.0) * 100 for k in ks]
        ax.errorbar(ks, means, yerr=sds, marker="o", linestyle=style, capsize=3, label=f"average {name}")
    for label, by_k in report["summary"]["per_label"].items():
        label_ks = [int(k) for k in by_k]
        ax.plot(label_ks, [by_k[str(k)]["token_f"]["mean"] * 100 for k in label_ks],
                linestyle=":", marker=".", alpha=0.6, label=f"{label} token F1")
    paper = report["paper"]["token_f"]
    ax.plot([int(k) for k in paper], [v * 100 for v in paper.values()], "k*", markersize=9,
            label="paper token F1 (BioBERT)")
    ax.set_xscale("symlog", linthresh=1)
    ticks = sorted(set(ks) | {int(k) for k in paper})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(k) for k in ticks])
    ax.set_ylim(0, 100)
    ax.set_xlabel("k (training sentences of the hidden label)")
    ax.set_ylabel("F1 (%)")
    ax.set_title("bioner_prompted: zero- and few-shot F1 on hidden labels")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


# ---- the experiment ----------------------------------------------------------------


def _check_hidden(hidden: Sequence[str]) -> list[str]:
    labels = list(hidden)
    if not labels:
        raise BioNERInputError(Errors.E406.format(labels=labels, what="no hidden label given"))
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise BioNERInputError(Errors.E406.format(labels=labels, what=f"{label!r} is not a label"))
    dupes = sorted(label for label, n in Counter(labels).items() if n > 1)
    if dupes:
        raise BioNERInputError(Errors.E406.format(labels=labels, what=f"{', '.join(dupes)} given more than once"))
    return labels


def _batch_size(config: Config) -> int:
    size = config.get("training", {}).get("batcher", {}).get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else DEFAULT_BATCH_SIZE


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def run_fewshot(
    train: str | Path,
    dev: str | Path,
    test: str | Path,
    hidden: Sequence[str],
    shots: Sequence[int] | str,
    seeds: int,
    config_path: str | Path,
    output_dir: str | Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    encoder: str | None = None,
    max_steps: int | None = None,
    fewshot_steps: int | None = None,
    fewshot_epochs: int | None = None,
    fewshot_batch_size: int | None = None,
    fewshot_lr: float | None = None,
    descriptions: Mapping[str, str] | None = None,
    use_gpu: int = -1,
    verbose: bool = True,
) -> dict[str, Any]:
    """Run the zero- and few-shot experiment (see the module docstring).

    Writes to `output_dir`: data/train.seen.spacy and data/dev.seen.spacy (the
    base model's data, hidden labels removed), base.cfg (its config), base/
    (model-best, model-last), fewshot.json (settings, every run, the summary),
    fewshot.md and, when matplotlib is installed, fewshot.png.

    train (str | Path): Training DocBin, hidden labels included.
    dev (str | Path): Dev DocBin for base-model selection (hidden labels are removed).
    test (str | Path): Test DocBin; only hidden-label gold is scored.
    hidden (Sequence[str]): The hidden labels.
    shots (Sequence[int] | str): The k values, e.g. "0,1,10,100"; 0 is zero-shot.
    seeds (int): Few-shot samples per k > 0 (seeds 0 .. seeds-1).
    config_path (str | Path): Training config with one bioner_prompted component.
    output_dir (str | Path): Output directory.
    overrides (Mapping[str, Any] | None): Config overrides for the base model
        (the few-shot runs use its optimizer and batch size too).
    encoder (str | None): Encoder name or directory instead of the config's.
    max_steps (int | None): Base-model [training] max_steps instead of the config's.
    fewshot_steps (int | None): Updates per few-shot run (see `fewshot_schedule`).
    fewshot_epochs (int | None): Passes per few-shot run, instead of steps.
    fewshot_batch_size (int | None): Sentences per few-shot update; None: the
        config's [training.batcher] size if an integer, else 16.
    fewshot_lr (float | None): Constant learning rate of the few-shot runs;
        None: the config's, or its schedule's initial_rate (see `fewshot_optimizer`).
    descriptions (Mapping[str, str] | None): Label -> description.
    use_gpu (int): GPU id, -1 for CPU.
    verbose (bool): Print progress and the training log.
    RETURNS (dict[str, Any]): The report written to fewshot.json.
    RAISES (BioNERInputError): For invalid options, files, labels or configs.
    """
    msg = Printer(no_print=not verbose)
    output_dir = Path(output_dir)
    hidden = _check_hidden(hidden)
    ks = parse_shots(shots)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise BioNERInputError(Errors.E405.format(value=seeds))
    fewshot_schedule(1, 1, steps=fewshot_steps, epochs=fewshot_epochs)
    if fewshot_batch_size is not None:
        fewshot_schedule(1, fewshot_batch_size)
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 0):
        raise BioNERInputError(Errors.E413.format(what=f"--max-steps must be a non-negative integer, not {max_steps!r}"))
    base_cfg = load_base_config(config_path, overrides)
    key = base_cfg.spans_key
    vocab = Vocab()
    train_docs = read_docs(train, vocab, "train")
    dev_docs = read_docs(dev, vocab, "dev")
    test_docs = read_docs(test, vocab, "test")

    train_counts = label_counts(train_docs, key)
    test_counts = label_counts(test_docs, key)
    for label in hidden:
        if not test_counts[label]:
            raise BioNERInputError(Errors.E402.format(label=label, path=test, labels=_names(test_counts)))
    pools = {label: sentence_pool(train_docs, label, key) for label in hidden}
    few_ks = [k for k in ks if k > 0]
    for label in hidden:
        if few_ks and not pools[label]:
            raise BioNERInputError(Errors.E403.format(label=label, path=train, k=few_ks[0],
                                                      labels=_names(train_counts)))
    seen_labels = sorted(label for label in train_counts if label not in hidden)
    if not seen_labels:
        raise BioNERInputError(Errors.E407.format(path=train, labels=_names(train_counts)))
    train_seen, removed_train = remove_labels(train_docs, hidden)
    dev_seen, removed_dev = remove_labels(dev_docs, hidden)
    if not any(label_counts(dev_seen, key)[label] for label in seen_labels):
        raise BioNERInputError(Errors.E408.format(path=dev, labels=", ".join(seen_labels)))
    desc = {label: describe(label, descriptions, base_cfg.config_labels) for label in [*hidden, *seen_labels]}
    seen = {label: desc[label] for label in seen_labels}

    # ---- 1. base model on the seen labels
    data_dir = output_dir / "data"
    train_path, dev_path = data_dir / "train.seen.spacy", data_dir / "dev.seen.spacy"
    write_docs(train_seen, train_path)
    write_docs(dev_seen, dev_path)
    config = prepare_base_config(base_cfg, config_path, train_path=train_path, dev_path=dev_path,
                                 labels=seen, encoder=encoder, max_steps=max_steps)
    config.to_disk(output_dir / "base.cfg")
    if use_gpu >= 0:
        from spacy import require_gpu

        require_gpu(use_gpu)
    msg.divider("Base model (seen labels: " + ", ".join(seen_labels) + ")")
    started = time.perf_counter()
    best = train_base(config, output_dir / "base", use_gpu=use_gpu, stdout=None if verbose else io.StringIO())
    base_seconds = time.perf_counter() - started
    msg.info(f"Base model: {best} (selected on {dev_path}, no hidden label)")
    nlp, tagger = load_tagger(best, base_cfg.name)
    leaked = sorted(set(tagger.labels) & set(hidden))
    if leaked:
        raise BioNERInputError(Errors.E414.format(path=best, labels=", ".join(leaked)))
    base_info = {
        "path": str(best),
        "labels": tagger.label_descriptions,
        "dev_scores": dict(nlp.meta.get("performance", {})),
        "seconds": base_seconds,
        "config": str(output_dir / "base.cfg"),
        "train_data": str(train_path),
        "dev_data": str(dev_path),
        "removed_spans": {
            "train": {where: dict(c) for where, c in removed_train.items()},
            "dev": {where: dict(c) for where, c in removed_dev.items()},
        },
    }
    trained_config = nlp.config.interpolate()
    optimizer_config = fewshot_optimizer(trained_config["training"]["optimizer"], fewshot_lr)
    batch_size = fewshot_batch_size if fewshot_batch_size is not None else _batch_size(trained_config)
    pipe_batch = int(trained_config["nlp"].get("batch_size") or 64)
    references = hidden_references(test_docs, hidden, key)
    runs: list[dict[str, Any]] = []

    # ---- 2. zero-shot: the base model reads the hidden labels' descriptions
    if 0 in ks:
        msg.divider("Zero-shot")
        tagger.set_labels({label: desc[label] for label in hidden})
        started = time.perf_counter()
        scores = score_labels(nlp, references, hidden, key, batch_size=pipe_batch)
        seconds = time.perf_counter() - started
        for label in hidden:
            runs.append({"label": label, "k": 0, "seed": None, "k_used": 0, "steps": 0, "sentences": [],
                         "loss": None, "seconds": seconds / len(hidden), **scores[label]})
            msg.info(f"{label}, k=0: span F1 {_pct(scores[label]['span_f'])}, "
                     f"token F1 {_pct(scores[label]['token_f'])}")

    # ---- 3. few-shot: one hidden label at a time, fine-tuned from zero-shot
    for label in hidden:
        for k in few_ks:
            msg.divider(f"{label}: {k}-shot")
            if k > len(pools[label]):
                msg.warn(f"{label}: only {len(pools[label])} training sentence(s) contain it; "
                         f"the {k}-shot runs use them all")
            for seed in range(seeds):
                sample = sample_sentences(pools[label], k, seed, label)
                steps = fewshot_schedule(len(sample), batch_size, steps=fewshot_steps, epochs=fewshot_epochs)
                started = time.perf_counter()
                nlp, tagger = load_tagger(best, base_cfg.name)
                tagger.set_labels({label: desc[label]})
                examples = [sentence_example(nlp, sentence, label, key) for sentence in sample]
                loss = finetune(nlp, base_cfg.name, examples, steps=steps, batch_size=batch_size,
                                optimizer_config=optimizer_config, seed=seed)
                scores = score_labels(nlp, references, [label], key, batch_size=pipe_batch)
                runs.append({
                    "label": label, "k": k, "seed": seed, "k_used": len(sample), "steps": steps,
                    "sentences": [[s.doc_index, s.start] for s in sample], "loss": loss,
                    "seconds": time.perf_counter() - started, **scores[label],
                })
                msg.info(f"{label}, k={k}, seed {seed} ({len(sample)} sentence(s), {steps} updates): "
                         f"span F1 {_pct(scores[label]['span_f'])}, token F1 {_pct(scores[label]['token_f'])}")

    # ---- 4. report
    report: dict[str, Any] = {
        "settings": {
            "train": str(train), "dev": str(dev), "test": str(test), "config": str(config_path),
            "output": str(output_dir), "hidden": hidden, "shots": ks, "seeds": seeds,
            "encoder": encoder, "max_steps": max_steps, "fewshot_learn_rate": optimizer_config["learn_rate"],
            "overrides": {k: _jsonable(v) for k, v in (overrides or {}).items()},
            "component": base_cfg.name, "spans_key": key,
            "fewshot": {
                "batch_size": batch_size, "steps": fewshot_steps, "epochs": fewshot_epochs,
                "rule": _schedule_rule(fewshot_steps, fewshot_epochs),
                "gold": "only the hidden label's spans; the model knows only that label",
                "selection": "none: the final model is scored",
                "sampling": "without replacement; first k of one seeded permutation per (label, seed)",
            },
        },
        "descriptions": desc,
        "base": base_info,
        "hidden": {
            label: {"description": desc[label], "train_spans": train_counts[label],
                    "train_sentences": len(pools[label]), "test_spans": test_counts[label]}
            for label in hidden
        },
        "test_docs_scored": len(references),
        "runs": runs,
        "summary": aggregate(runs),
        "paper": {
            "model": PAPER_MODEL,
            "metric": "token-level F1, average over nine unseen classes",
            "token_f": {str(k): v for k, v in PAPER_TOKEN_F.items()},
        },
        "plot": None,
    }
    png = output_dir / "fewshot.png"
    if write_plot(report, png):
        report["plot"] = str(png)
        msg.good(f"Saved the plot to {png}")
    else:
        msg.warn(f"matplotlib is not installed: {png} was not written. Install matplotlib "
                 "and rerun, or plot fewshot.json yourself.")
    srsly.write_json(output_dir / "fewshot.json", report)
    (output_dir / "fewshot.md").write_text(render_markdown(report), encoding="utf8")
    msg.good(f"Saved the report to {output_dir / 'fewshot.json'} and {output_dir / 'fewshot.md'}")
    return report


def _names(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{label} ({n})" for label, n in sorted(counts.items())) or "none"


def _schedule_rule(steps: int | None, epochs: int | None) -> str:
    if steps is not None:
        return f"{steps} updates per run"
    if epochs is not None:
        return f"{epochs} passes over the sample per run"
    return f"max({MIN_FEWSHOT_STEPS}, {MIN_FEWSHOT_EPOCHS} passes) updates per run"
