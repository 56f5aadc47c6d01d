"""Label texts made of example mentions, for training label-prompted taggers.

A tagger trained on a few dozen label texts can learn to recognise those texts
rather than what a label text says, and a new label then means nothing to it
(the bi-encoder's zero-shot failure, README "the bi-encoder base model"). With
`example_rate`, a training query sometimes reads its label's name followed by a
few mentions of that label taken from *other* training sentences ("Disease,
e.g. asthma, colon cancer"). Every such text is new, so the model has to match
a sentence against what the label text lists, which a label never trained on
also offers (catalogue descriptions end with examples).

The pool is training-only state: it is filled from the batches `update` sees
(so fine-tuning a sourced component fills it too) and is not saved.
"""
from __future__ import annotations

import random
from collections.abc import Iterable

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
