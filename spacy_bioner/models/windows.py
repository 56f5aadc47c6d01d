"""Rows of the transformer taggers: tokenise queries once, cut long sentences
into windows, pad the rows into batches. Plain Python and numpy.

:func:`encode_queries` turns a list of :class:`~.queries.PromptQuery` into the
padded model inputs of the encoder taggers:

* each query becomes one or more rows ``[CLS] description [SEP] window [SEP]``
  with token types 0 for the description segment and 1 for the sentence
  segment (the sentence pair of Košprdić et al., "From Zero to Hero"), or,
  with ``pair=False`` (taggers that read no description, e.g. ``bioner_btl``),
  ``[CLS] window [SEP]`` with token type 0;
* a sentence whose subwords do not fit next to the description within
  ``max_length`` is cut into overlapping windows of subwords that together
  cover every subword, so no token is ever dropped;
* rows are grouped (rows of different ``group`` never share a padded batch, so
  one label's results cannot depend on which other labels are asked), sorted by
  length inside a group, and cut into batches of at most ``batch_size`` rows.

The decoder rows of :mod:`.instruction_batching` are built by the same
:func:`encode_rows`, with another :class:`RowLayout` and tokenisation. Every
subword of every query gets a *global* index, every word a global index too;
the arrays of :class:`~.queries.PromptBatch` map positions in the padded
batches to them (:mod:`.pooling` inverts the batching).
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy

from ..errors import Errors
from .queries import PromptBatch, PromptChunk, PromptQuery

#: A row: (query index, window start, window end), in the query's subwords.
Row = tuple[int, int, int]
#: A tokenised sentence: its subword ids and the word index of each subword.
SentenceTokens = tuple[numpy.ndarray, numpy.ndarray]

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def window_starts(n_subwords: int, window: int, stride: int) -> list[int]:
    """Start offsets of windows of `window` subwords covering `n_subwords`.

    Consecutive windows share `stride` subwords (the meaning of `stride` in
    HF tokenizers), at most half a window so that the cost stays below twice
    that of one pass; the last window is aligned to the end, so it may share
    more. Every subword is in at least one window.

    n_subwords (int): Length of the sentence in subwords.
    window (int): Subwords per window (at least 1).
    stride (int): Subwords shared by consecutive windows (capped at window // 2).
    RETURNS (list[int]): Start offsets; [0] if everything fits (or n_subwords is 0).
    """
    if window < 1:
        raise ValueError(Errors.E330.format(window=window))
    if n_subwords <= window:
        return [0]
    step = window - min(max(0, stride), window // 2)
    starts = list(range(0, n_subwords - window, step))
    starts.append(n_subwords - window)
    return starts


def tokenize_once(keys: Sequence[K], tokenize: Callable[[list[K]], Sequence[T]]) -> list[T]:
    """Tokenise each distinct key once, however many queries share it.

    keys (Sequence[K]): Per query, what to tokenise (its words or its description).
    tokenize (Callable[[list[K]], Sequence[T]]): Tokenises distinct keys in one call.
    RETURNS (list[T]): Per query, the tokens of its key.
    """
    index: dict[K, int] = {}
    for key in keys:
        index.setdefault(key, len(index))
    unique = list(tokenize(list(index))) if index else []
    return [unique[index[key]] for key in keys]


@dataclass(frozen=True)
class RowLayout:
    """The tokens around a row's prefix (description or instruction) and its
    sentence window: ``head prefix middle window tail``, then padding.

    head, middle, tail (tuple[int, ...]): Special token ids, e.g. [CLS], [SEP], [SEP].
    pad_id (int): The id of padding positions (masked).
    token_types (bool): Give the window and the tail token type 1.
    """

    head: tuple[int, ...]
    middle: tuple[int, ...]
    tail: tuple[int, ...]
    pad_id: int
    token_types: bool = False

    @property
    def n_special(self) -> int:
        """RETURNS (int): Special tokens per row."""
        return len(self.head) + len(self.middle) + len(self.tail)


@dataclass
class RowPlan:
    """The windows (rows) of a list of queries and its global subword/word indices."""

    rows: list[Row]
    word_offsets: numpy.ndarray
    subword_offsets: numpy.ndarray
    subword_word: numpy.ndarray
    subword_first: numpy.ndarray

    def batch(self, queries: list[PromptQuery], chunks: list[PromptChunk]) -> PromptBatch:
        """The batch of these queries and padded chunks, with this plan's indices."""
        return PromptBatch(queries=queries, chunks=chunks, word_offsets=self.word_offsets,
                           subword_offsets=self.subword_offsets, subword_word=self.subword_word,
                           subword_first=self.subword_first)


def plan_rows(
    queries: Sequence[PromptQuery],
    sentences: Sequence[SentenceTokens],
    prefix_lengths: Sequence[int],
    *,
    max_length: int,
    n_special: int,
    stride: int,
    too_long: Callable[[PromptQuery, int], Exception],
) -> RowPlan:
    """Cut each query's sentence into windows that fit beside its prefix.

    Shared by the encoder rows (description prefix) and the decoder rows
    (instruction prefix): no subword is dropped, long sentences get
    overlapping windows.

    queries (Sequence[PromptQuery]): The queries.
    sentences (Sequence[SentenceTokens]): Per query, its sentence's tokens.
    prefix_lengths (Sequence[int]): Per query, the tokens before the sentence (special tokens excluded).
    max_length (int): Maximum row length, special tokens included.
    n_special (int): Special tokens per row.
    stride (int): Subwords shared by consecutive windows.
    too_long (Callable): The error for a query whose prefix leaves no room.
    RETURNS (RowPlan): The rows and the index arrays.
    """
    n_queries = len(queries)
    word_offsets = numpy.zeros((n_queries + 1,), dtype="int64")
    subword_offsets = numpy.zeros((n_queries + 1,), dtype="int64")
    subword_word_parts: list[numpy.ndarray] = []
    rows: list[Row] = []
    for qi, q in enumerate(queries):
        ids, word_ids = sentences[qi]
        n_sub = int(ids.shape[0])
        word_offsets[qi + 1] = word_offsets[qi] + len(q.words)
        subword_offsets[qi + 1] = subword_offsets[qi] + n_sub
        subword_word_parts.append(word_ids + word_offsets[qi])
        if n_sub == 0:
            continue
        window = max_length - prefix_lengths[qi] - n_special
        if window < 1:
            raise too_long(q, prefix_lengths[qi])
        for start in window_starts(n_sub, window, stride):
            rows.append((qi, start, min(n_sub, start + window)))
    subword_word = (
        numpy.concatenate(subword_word_parts) if subword_word_parts else numpy.zeros((0,), dtype="int64")
    )
    subword_first = numpy.ones(subword_word.shape, dtype=bool)
    if subword_word.size:
        subword_first[1:] = subword_word[1:] != subword_word[:-1]
    return RowPlan(rows, word_offsets, subword_offsets, subword_word, subword_first)


def chunk_rows(
    queries: Sequence[PromptQuery],
    rows: list[Row],
    row_length: Callable[[Row], int],
    batch_size: int,
) -> list[list[Row]]:
    """Rows grouped by their query's `group`, sorted by length inside a group
    (little padding), cut into chunks of at most `batch_size` rows that never
    cross groups.

    queries (Sequence[PromptQuery]): The queries the rows index.
    rows (list[Row]): The rows.
    row_length (Callable[[Row], int]): The length of a row, special tokens included.
    batch_size (int): Maximum rows per chunk.
    RETURNS (list[list[Row]]): The chunks.
    """
    group_order: dict[str, int] = {}
    for q in queries:
        group_order.setdefault(q.group, len(group_order))
    ordered = sorted(rows, key=lambda r: (group_order[queries[r[0]].group], row_length(r)))
    chunks: list[list[Row]] = []
    i = 0
    while i < len(ordered):
        group = queries[ordered[i][0]].group
        j = i
        while j < len(ordered) and j - i < batch_size and queries[ordered[j][0]].group == group:
            j += 1
        chunks.append(ordered[i:j])
        i = j
    return chunks


def pad_rows(
    rows: list[Row],
    layout: RowLayout,
    prefixes: Sequence[Sequence[int]],
    sentences: Sequence[SentenceTokens],
    subword_offsets: numpy.ndarray,
) -> PromptChunk:
    """Lay out rows as `layout` says and right-pad them into one chunk.

    rows (list[Row]): The rows of the chunk.
    layout (RowLayout): The special tokens and padding.
    prefixes (Sequence[Sequence[int]]): Per query, its prefix's token ids.
    sentences (Sequence[SentenceTokens]): Per query, its sentence's tokens.
    subword_offsets (numpy.ndarray): First global subword of each query.
    RETURNS (PromptChunk): The padded arrays.
    """
    n_rows = len(rows)
    length = max(layout.n_special + len(prefixes[qi]) + end - start for qi, start, end in rows)
    input_ids = numpy.full((n_rows, length), layout.pad_id, dtype="int64")
    attention_mask = numpy.zeros((n_rows, length), dtype="int64")
    token_type_ids = numpy.zeros((n_rows, length), dtype="int64")
    subword = numpy.full((n_rows, length), -1, dtype="int64")
    label_pos = numpy.full((n_rows, length), -1, dtype="int64")
    query = numpy.zeros((n_rows,), dtype="int64")
    for r, (qi, start, end) in enumerate(rows):
        prefix = prefixes[qi]
        # head | prefix p0:p1 | middle | window s0:s1 | tail, ending at e
        p0 = len(layout.head)
        p1 = p0 + len(prefix)
        s0 = p1 + len(layout.middle)
        s1 = s0 + (end - start)
        e = s1 + len(layout.tail)
        input_ids[r, :p0] = layout.head
        input_ids[r, p0:p1] = prefix
        input_ids[r, p1:s0] = layout.middle
        input_ids[r, s0:s1] = sentences[qi][0][start:end]
        input_ids[r, s1:e] = layout.tail
        attention_mask[r, :e] = 1
        if layout.token_types:
            token_type_ids[r, s0:e] = 1
        subword[r, s0:s1] = subword_offsets[qi] + numpy.arange(start, end)
        label_pos[r, p0:p1] = numpy.arange(len(prefix))
        query[r] = qi
    return PromptChunk(input_ids, attention_mask, token_type_ids, subword, label_pos, query)


def encode_rows(
    queries: list[PromptQuery],
    sentences: Sequence[SentenceTokens],
    prefixes: Sequence[Sequence[int]],
    layout: RowLayout,
    *,
    max_length: int,
    stride: int,
    batch_size: int,
    too_long: Callable[[PromptQuery, int], Exception],
) -> PromptBatch:
    """Window, group, sort and pad tokenised queries into a batch.

    queries (list[PromptQuery]): The queries.
    sentences (Sequence[SentenceTokens]): Per query, its sentence's tokens.
    prefixes (Sequence[Sequence[int]]): Per query, its prefix's token ids.
    layout (RowLayout): The special tokens around prefix and window.
    max_length (int): Maximum row length, special tokens included.
    stride (int): Subwords shared by consecutive windows of a long sentence.
    batch_size (int): Maximum rows per chunk.
    too_long (Callable): The error for a query whose prefix leaves no room.
    RETURNS (PromptBatch): The chunks and the index arrays.
    """
    n_special = layout.n_special
    plan = plan_rows(queries, sentences, [len(p) for p in prefixes], max_length=max_length,
                     n_special=n_special, stride=stride, too_long=too_long)

    def row_length(row: Row) -> int:
        return len(prefixes[row[0]]) + (row[2] - row[1]) + n_special

    chunks = [
        pad_rows(rows, layout, prefixes, sentences, plan.subword_offsets)
        for rows in chunk_rows(queries, plan.rows, row_length, batch_size)
    ]
    return plan.batch(queries, chunks)


def _tokenize_words(tokenizer: Any, sentences: list[tuple[str, ...]]) -> list[SentenceTokens]:
    """Subword ids and the word index of each subword, per sentence."""
    todo = [i for i, words in enumerate(sentences) if words]
    results: dict[int, SentenceTokens] = {}
    if todo:
        enc = tokenizer(
            [list(sentences[i]) for i in todo],
            is_split_into_words=True,
            add_special_tokens=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )
        for j, i in enumerate(todo):
            ids = numpy.asarray(enc["input_ids"][j], dtype="int64")
            words = numpy.asarray([-1 if w is None else w for w in enc.word_ids(j)], dtype="int64")
            keep = words >= 0
            results[i] = (ids[keep], words[keep])
    empty = (numpy.zeros((0,), dtype="int64"), numpy.zeros((0,), dtype="int64"))
    return [results.get(i, empty) for i in range(len(sentences))]


def encode_queries(
    tokenizer: Any,
    queries: Sequence[PromptQuery],
    *,
    max_length: int,
    stride: int,
    batch_size: int,
    token_types: bool = True,
    pair: bool = True,
) -> PromptBatch:
    """Tokenise queries into padded sentence-pair (or single-segment) batches.

    Sentences and descriptions are tokenised once each, however many queries
    share them. Words with no subwords (whitespace) get no subword and thus no
    value of their own (see :func:`~.pooling.pool_words`).

    tokenizer (Any): A fast HF tokenizer with CLS, SEP and PAD tokens.
    queries (Sequence[PromptQuery]): The queries.
    max_length (int): Maximum row length in subwords, special tokens included.
    stride (int): Subwords shared by consecutive windows of a long sentence.
    batch_size (int): Maximum rows per padded batch.
    token_types (bool): Give the sentence segment token type 1 (else all 0,
        for encoders without segment embeddings).
    pair (bool): Rows are ``[CLS] description [SEP] window [SEP]``; False:
        ``[CLS] window [SEP]``, for queries whose description is "".
    RETURNS (PromptBatch): The batches and the index arrays.
    RAISES (ValueError): If a description leaves no room for the sentence,
        or one is given with `pair` False.
    """
    queries = list(queries)
    if not pair and any(q.description for q in queries):
        raise ValueError(Errors.E331)
    sentences = tokenize_once([tuple(q.words) for q in queries], lambda s: _tokenize_words(tokenizer, s))
    descriptions = tokenize_once(
        [q.description for q in queries],
        lambda texts: [list(ids) for ids in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]],
    )
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    layout = RowLayout((cls_id,), (sep_id,) if pair else (), (sep_id,), pad_id, token_types)

    def too_long(q: PromptQuery, n_prefix: int) -> Exception:
        return ValueError(Errors.E309.format(description=q.description, n=n_prefix, max_length=max_length))

    return encode_rows(queries, sentences, descriptions, layout, max_length=max_length, stride=stride,
                       batch_size=batch_size, too_long=too_long)
