"""The data step: read the DocBins, hide labels, find and sample the k-shot sentences.

Nothing here trains or scores; :func:`load_data` runs the step and checks that
the data can answer the experiment's question before anything is trained.
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span, SpanGroup
from spacy.training import Example
from spacy.util import filter_spans
from spacy.vocab import Vocab

from ...errors import BioNERInputError, Errors
from ...pipeline._decode import gold_span_group
from ...util import get_docs, read_doc_bin

# Part of the sampling seed: changing it would change every k-shot sample, so it
# keeps the name of the module that first drew them.
_SAMPLING_NAMESPACE = "spacy_bioner.fewshot"


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


@dataclass
class FewshotData:
    """The documents of one experiment, checked, and what the runs need from them.

    train (list[Doc]): The training documents, hidden labels included.
    test (list[Doc]): The test documents.
    train_counts (Counter[str]): Gold spans per label in `train`.
    test_counts (Counter[str]): Gold spans per label in `test`.
    pools (dict[str, list[Sentence]]): Per hidden label, the training
        sentences that contain it (see `sentence_pool`).
    seen_labels (list[str]): The training labels that are not hidden, sorted.
    train_seen (list[Doc]): `train` without the hidden labels.
    dev_seen (list[Doc]): The dev documents without the hidden labels.
    removed (dict[str, dict[str, Counter[str]]]): For "train" and "dev", the
        spans removed per place and label (see `remove_labels`).
    """

    train: list[Doc]
    test: list[Doc]
    train_counts: Counter[str]
    test_counts: Counter[str]
    pools: dict[str, list[Sentence]]
    seen_labels: list[str]
    train_seen: list[Doc]
    dev_seen: list[Doc]
    removed: dict[str, dict[str, Counter[str]]]


def load_data(
    train: str | Path, dev: str | Path, test: str | Path, hidden: Sequence[str], few_shots: Sequence[int], spans_key: str
) -> FewshotData:
    """Read the three files, hide the labels, and check that the experiment can run on them.

    train (str | Path): Training DocBin, hidden labels included.
    dev (str | Path): Dev DocBin (its hidden labels are removed).
    test (str | Path): Test DocBin.
    hidden (Sequence[str]): The hidden labels.
    few_shots (Sequence[int]): The k values > 0 (none: zero-shot only).
    spans_key (str): The component's span group.
    RETURNS (FewshotData): The documents and their statistics.
    RAISES (BioNERInputError): For unreadable files, or labels the data cannot score or sample.
    """
    vocab = Vocab()
    train_docs = read_docs(train, vocab, "train")
    dev_docs = read_docs(dev, vocab, "dev")
    test_docs = read_docs(test, vocab, "test")
    train_counts = label_counts(train_docs, spans_key)
    test_counts = label_counts(test_docs, spans_key)
    for label in hidden:
        if not test_counts[label]:
            raise BioNERInputError(Errors.E402.format(label=label, path=test, labels=_names(test_counts)))
    pools = {label: sentence_pool(train_docs, label, spans_key) for label in hidden}
    for label in hidden:
        if few_shots and not pools[label]:
            raise BioNERInputError(Errors.E403.format(label=label, path=train, k=few_shots[0],
                                                      labels=_names(train_counts)))
    seen_labels = sorted(label for label in train_counts if label not in hidden)
    if not seen_labels:
        raise BioNERInputError(Errors.E407.format(path=train, labels=_names(train_counts)))
    train_seen, removed_train = remove_labels(train_docs, hidden)
    dev_seen, removed_dev = remove_labels(dev_docs, hidden)
    if not any(label_counts(dev_seen, spans_key)[label] for label in seen_labels):
        raise BioNERInputError(Errors.E408.format(path=dev, labels=", ".join(seen_labels)))
    return FewshotData(train_docs, test_docs, train_counts, test_counts, pools, seen_labels,
                       train_seen, dev_seen, {"train": removed_train, "dev": removed_dev})


def read_docs(path: str | Path, vocab: Vocab, what: str) -> list[Doc]:
    """Read a DocBin, with a clear error for a missing, broken or empty file.

    path (str | Path): The .spacy file.
    vocab (Vocab): The vocabulary to read into.
    what (str): The option the file came from ("train", "dev", "test"), for errors.
    RETURNS (list[Doc]): The documents.
    RAISES (BioNERInputError): If the file cannot be read or holds no document.
    """
    path = Path(path)
    docs = get_docs(read_doc_bin(path, Errors.E400, what=what), vocab, path, Errors.E400, what=what)
    if not docs:
        raise BioNERInputError(Errors.E401.format(what=what, path=path))
    return docs


def write_docs(docs: Iterable[Doc], path: Path) -> None:
    """Write docs, user data included (the component reads the source doc ids).

    docs (Iterable[Doc]): The documents.
    path (Path): The .spacy file (its directory is made).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    doc_bin = DocBin(store_user_data=True)
    for doc in docs:
        doc_bin.add(doc)
    doc_bin.to_disk(path)


def gold_spans(doc: Doc, spans_key: str) -> list[Span] | None:
    """The gold spans the component trains on: doc.spans[spans_key], else doc.ents.

    doc (Doc): A reference document.
    spans_key (str): The component's span group.
    RETURNS (list[Span] | None): The spans, or None if the doc is not annotated.
    """
    return gold_span_group(doc, spans_key)


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
        _remove_from_ents(copy, drop, removed)
        for key in list(copy.spans.keys()):
            _remove_from_group(copy, key, drop, removed)
        out.append(copy)
    return out, dict(removed)


def _remove_from_ents(doc: Doc, drop: set[str], removed: dict[str, Counter[str]]) -> None:
    if not doc.has_annotation("ENT_IOB"):
        return
    ents = list(doc.ents)
    gone = [ent for ent in ents if ent.label_ in drop]
    if gone:
        keep = [ent for ent in ents if ent.label_ not in drop]
        doc.set_ents(keep, outside=gone, default="unmodified")
        removed["ents"].update(ent.label_ for ent in gone)


def _remove_from_group(doc: Doc, key: str, drop: set[str], removed: dict[str, Counter[str]]) -> None:
    group = doc.spans[key]
    gone = [span for span in group if span.label_ in drop]
    if gone:
        # per-span attributes (e.g. scores) would no longer line up with the spans
        attrs = {k: v for k, v in group.attrs.items() if not (isinstance(v, list) and len(v) == len(group))}
        doc.spans[key] = SpanGroup(doc, name=key, attrs=attrs, spans=[span for span in group if span.label_ not in drop])
        removed[key].update(span.label_ for span in gone)


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
        for sentence in _sentences_with(doc, i, spans):
            if (sentence.words, sentence.spans) not in seen:
                seen.add((sentence.words, sentence.spans))
                pool.append(sentence)
    return pool


def _sentences_with(doc: Doc, doc_index: int, spans: Sequence[Span]) -> list[Sentence]:
    """The sentences of a doc that wholly contain one of `spans`, in order."""
    if doc.has_annotation("SENT_START"):
        bounds = [(sent.start, sent.end) for sent in doc.sents]
    else:
        bounds = [(0, len(doc))]
    sentences: list[Sentence] = []
    for start, end in bounds:
        inside = tuple(sorted({(s.start - start, s.end - start) for s in spans if s.start >= start and s.end <= end}))
        if inside:
            words = tuple(t.text for t in doc[start:end])
            spaces = tuple(bool(t.whitespace_) for t in doc[start:end])
            sentences.append(Sentence(doc_index, start, end, words, spaces, inside))
    return sentences


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
    rng = random.Random(f"{_SAMPLING_NAMESPACE}\x00{label}\x00{seed}")
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


def _names(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{label} ({n})" for label, n in sorted(counts.items())) or "none"
