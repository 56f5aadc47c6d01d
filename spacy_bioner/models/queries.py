"""What the tagger layers read and what their batching produces: plain data.

A *query* asks "where in these words are entities described by this text?"
(:class:`PromptQuery`). The batching (:mod:`.windows`, :mod:`.instruction_batching`)
turns a list of queries into a :class:`PromptBatch`: padded
:class:`PromptChunk` arrays plus the *global* subword and word indices that
:mod:`.pooling` and :mod:`.targets` use to map positions in the padded rows
back to the queries' words.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy

#: Tag names per scheme; tag 0 is always "outside".
TAG_SCHEMES: dict[str, tuple[str, ...]] = {"binary": ("O", "I"), "bio": ("O", "B", "I")}
#: How word values are pooled from their subwords.
WORD_POOLING = ("max", "first", "mean")


@dataclass(frozen=True)
class PromptQuery:
    """One (sentence, label) pair to tag.

    words (tuple[str, ...]): The sentence's words (token texts).
    description (str): The label's description, the first segment.
    group (str): Queries of different groups never share a padded batch;
        use the label, so a label's results do not depend on other labels.
    key (Any): Opaque, for the caller (e.g. doc index, sentence, label).
    """

    words: tuple[str, ...]
    description: str
    group: str = ""
    key: Any = field(default=None, compare=False)


@dataclass
class PromptChunk:
    """One padded batch of rows, (rows, length) arrays.

    input_ids, attention_mask, token_type_ids (numpy.ndarray): Model inputs (int64).
    subword (numpy.ndarray): Global subword index of each sentence position, -1 elsewhere.
    label_pos (numpy.ndarray): Position inside the description of each
        description subword (0 for the first), -1 elsewhere.
    query (numpy.ndarray): (rows,) query index of each row.
    """

    input_ids: numpy.ndarray
    attention_mask: numpy.ndarray
    token_type_ids: numpy.ndarray
    subword: numpy.ndarray
    label_pos: numpy.ndarray
    query: numpy.ndarray

    @property
    def n_rows(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass
class PromptBatch:
    """Encoded queries: padded chunks plus the global subword and word indices.

    queries (list[PromptQuery]): The queries, in the caller's order.
    chunks (list[PromptChunk]): The padded batches.
    word_offsets (numpy.ndarray): (n_queries + 1,) first global word of each query.
    subword_offsets (numpy.ndarray): (n_queries + 1,) first global subword of each query.
    subword_word (numpy.ndarray): (n_subwords,) global word of each global subword.
    subword_first (numpy.ndarray): (n_subwords,) whether a subword is its word's first.
    """

    queries: list[PromptQuery]
    chunks: list[PromptChunk]
    word_offsets: numpy.ndarray
    subword_offsets: numpy.ndarray
    subword_word: numpy.ndarray
    subword_first: numpy.ndarray

    @property
    def n_words(self) -> int:
        return int(self.word_offsets[-1])

    @property
    def n_subwords(self) -> int:
        return int(self.subword_offsets[-1])

    @property
    def n_rows(self) -> int:
        return sum(chunk.n_rows for chunk in self.chunks)
