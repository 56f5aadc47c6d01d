"""What a training query of a label-prompted tagger reads and which labels a
sentence is paired with: kept out of the component module, which holds the
factory and the pipe.

Label texts made of example mentions (`example_rate`):

A tagger trained on a few dozen label texts can learn to recognise those texts
rather than what a label text says, and a new label then means nothing to it
(the bi-encoder's zero-shot failure, README "the bi-encoder base model"). With
`example_rate`, a training query sometimes reads its label's name followed by a
few mentions of that label taken from *other* training sentences ("Disease,
e.g. asthma, colon cancer"). Every such text is new, so the model has to match
a sentence against what the label text lists, which a label never trained on
also offers (catalogue descriptions end with examples). Measured on the
bi-encoder it did not raise zero-shot (README), so it is off by default.

The pool is training-only state: it is filled from the batches `update` sees
(so fine-tuning a sourced component fills it too) and is not saved.
"""
from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from spacy.training import Example

from ..corpora.multi_dataset import dataset_info
from ._base import doc_id
from ._decode import GoldSpan

# mentions kept per label (a uniform sample of the distinct mentions seen)
POOL_SIZE = 500
# a mention longer than this (characters) is not a useful example
MAX_MENTION_CHARS = 60


class MentionPool:
    """Per label, a bounded uniform sample (reservoir) of distinct mention texts."""

    def __init__(self, size: int = POOL_SIZE) -> None:
        self.size = size
        self._mentions: dict[str, list[str]] = {}
        self._known: dict[str, set[str]] = {}
        self._seen: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(len(mentions) for mentions in self._mentions.values())

    def mentions(self, label: str) -> list[str]:
        """label (str): A label. RETURNS (list[str]): Its pooled mentions."""
        return list(self._mentions.get(label, ()))

    def add(self, label: str, text: str) -> None:
        """Offer one mention; a new distinct text enters the reservoir with
        probability size / (distinct texts seen), so the pool stays a uniform
        sample whatever the corpus size."""
        text = " ".join(text.split())
        if not text or len(text) > MAX_MENTION_CHARS:
            return
        known = self._known.setdefault(label, set())
        if text in known:
            return
        known.add(text)
        pool = self._mentions.setdefault(label, [])
        seen = self._seen[label] = self._seen.get(label, 0) + 1
        if len(pool) < self.size:
            pool.append(text)
            return
        slot = random.randrange(seen)
        if slot < self.size:
            pool[slot] = text

    def add_gold(self, examples: Sequence[Example], golds: Sequence[list[GoldSpan] | None]) -> None:
        """Offer every gold mention of a batch (`golds`: per example, its gold
        spans in character offsets, None if unannotated)."""
        for eg, gold in zip(examples, golds, strict=True):
            text = eg.reference.text
            for start, end, label in gold or ():
                self.add(label, text[start:end])

    def sample(self, label: str, k: int, sentence: str) -> list[str]:
        """Up to `k` distinct mentions of `label`, none of which occurs in
        `sentence` (case-insensitive): a query must not be told its own answer."""
        lowered = sentence.lower()
        candidates = [text for text in self._mentions.get(label, ()) if text.lower() not in lowered]
        return random.sample(candidates, min(k, len(candidates)))


def example_text(name: str, mentions: Iterable[str]) -> str:
    """The label text a query reads: the label's name and its example mentions."""
    return f"{name}, e.g. {', '.join(mentions)}"


def training_label_text(
    label: str,
    description: str,
    name: str,
    sentence: str,
    pool: MentionPool,
    *,
    example_rate: float,
    example_count: int,
    name_rate: float,
) -> str:
    """The text a training query reads for `label`: with probability
    `example_rate` its name and 1 to `example_count` mentions from the pool
    (when the pool has any the sentence does not contain), else with
    probability `name_rate` its name, else its description. With
    `example_rate = 0` the random draws are those of the name/description choice
    alone, so older configs train exactly as before."""
    if example_rate > 0 and random.random() < example_rate:
        mentions = pool.sample(label, random.randint(1, example_count), sentence)
        if mentions:
            return example_text(name, mentions)
    if name_rate > 0 and random.random() < name_rate:
        return name
    return description


def training_labels(
    examples: Sequence[Example],
    golds: Sequence[list[GoldSpan] | None],
    labels: Sequence[str],
    *,
    doc_labels: Mapping[str, set[str]],
    pair_all: bool,
    max_negatives: int | None,
    negative_rate: float,
) -> list[list[str]]:
    """Per example, the labels its sentences are paired with in training
    (`sample_labels` of its positives and its annotated labels); an
    unannotated example (gold None) gets none. `doc_labels`: source document
    -> labels annotated in it (from initialize); `pair_all`: the corpus is
    the document (no document boundaries)."""
    # documents split over several examples of this batch share labels,
    # even when initialize() did not see them
    batch_doc_labels: dict[str, set[str]] = defaultdict(set)
    for eg, gold in zip(examples, golds, strict=True):
        source = doc_id(eg.reference)
        if gold is not None and source is not None:
            batch_doc_labels[source] |= {label for _, _, label in gold}
    out: list[list[str]] = []
    for eg, gold in zip(examples, golds, strict=True):
        if gold is None:
            out.append([])
            continue
        positive = {label for _, _, label in gold}
        annotated = annotated_labels(eg, positive, labels, doc_labels, batch_doc_labels, pair_all)
        out.append(sample_labels(labels, positive, annotated, max_negatives=max_negatives, negative_rate=negative_rate))
    return out


def annotated_labels(
    eg: Example,
    positive: set[str],
    labels: Sequence[str],
    doc_labels: Mapping[str, set[str]],
    batch_doc_labels: Mapping[str, set[str]],
    pair_all: bool,
) -> set[str]:
    """The labels an example's sentences may be trained as absent for: its
    corpus's (multi-dataset reader), else its document's, else all."""
    info = dataset_info(eg.reference)
    if info is not None and info.get("labels") is not None:
        return set(info["labels"]) | positive
    if pair_all:
        return set(labels)
    source = doc_id(eg.reference)
    if source is None:
        return positive
    return positive | doc_labels.get(source, set()) | batch_doc_labels.get(source, set())


def sample_labels(
    labels: Sequence[str], positive: set[str], annotated: set[str], *, max_negatives: int | None, negative_rate: float
) -> list[str]:
    """The labels a training sentence is paired with, in label order: every
    positive label, the annotated negatives (at most `max_negatives`, sampled)
    and each label its corpus or document does not annotate with probability
    `negative_rate`."""
    negatives = [label for label in labels if label in annotated and label not in positive]
    if max_negatives is not None and len(negatives) > max_negatives:
        negatives = random.sample(negatives, max_negatives)
    kept = positive | set(negatives)
    return [
        label for label in labels
        if label in kept or (label not in annotated and negative_rate > 0 and random.random() < negative_rate)
    ]
