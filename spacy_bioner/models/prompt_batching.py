"""Batch preparation for the transformer taggers: plain Python and numpy.

A *query* asks "where in these words are entities described by this text?".
:func:`encode_queries` turns a list of queries into padded model inputs:

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

Every subword of every query gets a *global* index, every word a global index
too; the arrays of :class:`PromptBatch` map positions in the padded batches to
them. :func:`merge_windows` and :func:`pool_words` invert the batching:
average the windows' values per subword, then pool subwords into words.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy

from ..errors import Errors

#: Tag names per scheme; tag 0 is always "outside".
TAG_SCHEMES: dict[str, tuple[str, ...]] = {"binary": ("O", "I"), "bio": ("O", "B", "I")}
#: How word values are pooled from their subwords.
WORD_POOLING = ("max", "first", "mean")
#: Subword positions 'special' to the pair layout: [CLS], [SEP], [SEP].
N_SPECIAL = 3


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
        raise ValueError(f"window must be at least 1, not {window}")
    if n_subwords <= window:
        return [0]
    step = window - min(max(0, stride), window // 2)
    starts = list(range(0, n_subwords - window, step))
    starts.append(n_subwords - window)
    return starts


def _tokenize_words(tokenizer: Any, sentences: list[tuple[str, ...]]) -> list[tuple[numpy.ndarray, numpy.ndarray]]:
    """Subword ids and the word index of each subword, per sentence."""
    out: list[tuple[numpy.ndarray, numpy.ndarray]] = []
    todo = [i for i, words in enumerate(sentences) if words]
    results: dict[int, tuple[numpy.ndarray, numpy.ndarray]] = {}
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
            word_ids = enc.word_ids(j)
            words = numpy.asarray([-1 if w is None else w for w in word_ids], dtype="int64")
            keep = words >= 0
            results[i] = (ids[keep], words[keep])
    empty = (numpy.zeros((0,), dtype="int64"), numpy.zeros((0,), dtype="int64"))
    for i in range(len(sentences)):
        out.append(results.get(i, empty))
    return out


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
    value of their own (see :func:`pool_words`).

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
        raise ValueError("encode_queries(pair=False) reads no description: give queries with description ''")
    n_special = N_SPECIAL if pair else N_SPECIAL - 1
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    # sentences and descriptions shared by several queries are tokenised once
    sent_index: dict[tuple[str, ...], int] = {}
    desc_index: dict[str, int] = {}
    for q in queries:
        sent_index.setdefault(tuple(q.words), len(sent_index))
        desc_index.setdefault(q.description, len(desc_index))
    sent_tokens = _tokenize_words(tokenizer, list(sent_index))
    desc_list = list(desc_index)
    desc_tokens: list[list[int]] = []
    if desc_list:
        desc_tokens = [list(ids) for ids in tokenizer(desc_list, add_special_tokens=False, verbose=False)["input_ids"]]

    q_desc = [desc_index[q.description] for q in queries]
    q_sent = [sent_index[tuple(q.words)] for q in queries]

    def too_long(q: PromptQuery, n_prefix: int) -> Exception:
        return ValueError(Errors.E309.format(description=q.description, n=n_prefix, max_length=max_length))

    plan = plan_rows(queries, [sent_tokens[i] for i in q_sent], [len(desc_tokens[i]) for i in q_desc],
                     max_length=max_length, n_special=n_special, stride=stride, too_long=too_long)

    def row_length(row: tuple[int, int, int]) -> int:
        return len(desc_tokens[q_desc[row[0]]]) + (row[2] - row[1]) + n_special

    chunks = [
        _pad_rows(rows, row_length, desc_tokens, q_desc, sent_tokens, q_sent,
                  plan.subword_offsets, cls_id, sep_id, pad_id, token_types, pair)
        for rows in chunk_rows(queries, plan.rows, row_length, batch_size)
    ]
    return plan.batch(queries, chunks)


@dataclass
class RowPlan:
    """The windows (rows) of a list of queries and its global subword/word indices."""

    rows: list[tuple[int, int, int]]  # (query, window start, window end) in subwords
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
    sentences: Sequence[tuple[numpy.ndarray, numpy.ndarray]],
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
    sentences (Sequence[tuple]): Per query, its sentence's (subword ids, word index of each subword).
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
    rows: list[tuple[int, int, int]] = []
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
    rows: list[tuple[int, int, int]],
    row_length: Callable[[tuple[int, int, int]], int],
    batch_size: int,
) -> list[list[tuple[int, int, int]]]:
    """Rows grouped by their query's `group`, sorted by length inside a group
    (little padding), cut into chunks of at most `batch_size` rows that never
    cross groups."""
    group_order: dict[str, int] = {}
    for q in queries:
        group_order.setdefault(q.group, len(group_order))
    ordered = sorted(rows, key=lambda r: (group_order[queries[r[0]].group], row_length(r)))
    chunks: list[list[tuple[int, int, int]]] = []
    i = 0
    while i < len(ordered):
        group = queries[ordered[i][0]].group
        j = i
        while j < len(ordered) and j - i < batch_size and queries[ordered[j][0]].group == group:
            j += 1
        chunks.append(ordered[i:j])
        i = j
    return chunks


def _pad_rows(
    rows: list[tuple[int, int, int]],
    row_length: Any,
    desc_tokens: list[list[int]],
    q_desc: list[int],
    sent_tokens: list[tuple[numpy.ndarray, numpy.ndarray]],
    q_sent: list[int],
    subword_offsets: numpy.ndarray,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    token_types: bool,
    pair: bool = True,
) -> PromptChunk:
    n_rows = len(rows)
    length = max(row_length(r) for r in rows)
    input_ids = numpy.full((n_rows, length), pad_id, dtype="int64")
    attention_mask = numpy.zeros((n_rows, length), dtype="int64")
    token_type_ids = numpy.zeros((n_rows, length), dtype="int64")
    subword = numpy.full((n_rows, length), -1, dtype="int64")
    label_pos = numpy.full((n_rows, length), -1, dtype="int64")
    query = numpy.zeros((n_rows,), dtype="int64")
    for r, (qi, start, end) in enumerate(rows):
        label = desc_tokens[q_desc[qi]]
        ids = sent_tokens[q_sent[qi]][0]
        n_label = len(label)
        # first sentence position: after [CLS] label [SEP], or after [CLS]
        s0 = n_label + 2 if pair else 1
        s1 = s0 + (end - start)
        input_ids[r, 0] = cls_id
        if pair:
            input_ids[r, 1 : 1 + n_label] = label
            input_ids[r, 1 + n_label] = sep_id
        input_ids[r, s0:s1] = ids[start:end]
        input_ids[r, s1] = sep_id
        attention_mask[r, : s1 + 1] = 1
        if token_types:
            token_type_ids[r, s0 : s1 + 1] = 1
        subword[r, s0:s1] = subword_offsets[qi] + numpy.arange(start, end)
        label_pos[r, 1 : 1 + n_label] = numpy.arange(n_label)
        query[r] = qi
    return PromptChunk(input_ids, attention_mask, token_type_ids, subword, label_pos, query)


def merge_windows(batch: PromptBatch, values: Sequence[numpy.ndarray], n_cols: int) -> numpy.ndarray:
    """Average per-position values over the windows that cover each subword.

    batch (PromptBatch): The encoded queries.
    values (Sequence[numpy.ndarray]): Per chunk, (rows, length, n_cols) values
        (e.g. tag probabilities).
    n_cols (int): Values per position.
    RETURNS (numpy.ndarray): (n_subwords, n_cols) averages; NaN for a subword
        no window covers (which encode_queries never produces).
    """
    n_sub = batch.n_subwords
    total = numpy.zeros((n_sub, n_cols), dtype="float64")
    count = numpy.zeros((n_sub,), dtype="float64")
    for chunk, vals in zip(batch.chunks, values, strict=True):
        mask = chunk.subword >= 0
        idx = chunk.subword[mask]
        v = numpy.asarray(vals)[mask]
        count += numpy.bincount(idx, minlength=n_sub)
        for k in range(n_cols):
            total[:, k] += numpy.bincount(idx, weights=v[:, k], minlength=n_sub)
    covered = count > 0
    total[covered] /= count[covered, None]
    total[~covered] = numpy.nan
    return total.astype("float32")


def pool_words(batch: PromptBatch, values: numpy.ndarray, method: str = "max") -> tuple[numpy.ndarray, numpy.ndarray]:
    """Pool subword values into word values.

    "max": a word is as positive as its most positive subword (Košprdić et
    al.: a word is an entity if any of its subwords is); "first": the value of
    the word's first subword; "mean": the average over its subwords. Words
    without subwords (whitespace) get 0 and are flagged in the mask.

    batch (PromptBatch): The encoded queries.
    values (numpy.ndarray): (n_subwords,) or (n_subwords, K) values.
    method (str): "max", "first" or "mean".
    RETURNS (tuple[numpy.ndarray, numpy.ndarray]): (n_words, ...) pooled
        values and the (n_words,) mask of words that have subwords.
    """
    if method not in WORD_POOLING:
        raise ValueError(f"unknown pooling {method!r}; choose one of {WORD_POOLING}")
    n_words = batch.n_words
    words = batch.subword_word
    out = numpy.zeros((n_words,) + values.shape[1:], dtype=values.dtype)
    has = numpy.zeros((n_words,), dtype=bool)
    if words.size == 0:
        return out, has
    order = numpy.argsort(words, kind="stable")
    words = words[order]
    vals = values[order]
    starts = numpy.flatnonzero(numpy.r_[True, words[1:] != words[:-1]])
    owners = words[starts]
    if method == "max":
        out[owners] = numpy.maximum.reduceat(vals, starts, axis=0)
    elif method == "first":
        out[owners] = vals[starts]
    else:
        sizes = numpy.diff(numpy.r_[starts, words.shape[0]]).astype(values.dtype)
        sums = numpy.add.reduceat(vals, starts, axis=0)
        out[owners] = sums / sizes.reshape((-1,) + (1,) * (vals.ndim - 1))
    has[owners] = True
    return out, has


def sentence_targets(
    batch: PromptBatch,
    word_tags: numpy.ndarray,
    *,
    continuation: numpy.ndarray | None = None,
    first_subword_only: bool = False,
) -> list[numpy.ndarray]:
    """Per-position gold tags of the sentence subwords; -1 everywhere else.

    Each subword takes its word's tag, except that the later subwords of a word
    take ``continuation[tag]`` (e.g. B -> I), or no target with
    `first_subword_only`. [CLS], [SEP], description and padding positions get -1.

    batch (PromptBatch): The encoded queries.
    word_tags (numpy.ndarray): (n_words,) gold tag of each global word.
    continuation (numpy.ndarray | None): Tag of a word's later subwords,
        indexed by the word's tag; None: the word's tag.
    first_subword_only (bool): Train only the first subword of each word.
    RETURNS (list[numpy.ndarray]): Per chunk, (rows, length) int64 targets.
    """
    word_tags = numpy.asarray(word_tags, dtype="int64")
    out: list[numpy.ndarray] = []
    for chunk in batch.chunks:
        target = numpy.full(chunk.subword.shape, -1, dtype="int64")
        mask = chunk.subword >= 0
        sub = chunk.subword[mask]
        tags = word_tags[batch.subword_word[sub]]
        first = batch.subword_first[sub]
        if continuation is not None:
            tags = numpy.where(first, tags, numpy.asarray(continuation, dtype="int64")[tags])
        if first_subword_only:
            tags = numpy.where(first, tags, -1)
        target[mask] = tags
        out.append(target)
    return out


def chunk_targets(
    batch: PromptBatch,
    word_tags: numpy.ndarray,
    *,
    tag_scheme: str,
    first_subword_only: bool,
    label_tokens_positive: bool,
) -> list[numpy.ndarray]:
    """Per-position gold tags for each chunk; -1 marks positions without a target.

    Sentence subwords take their word's tag ("every subword gets its word's
    tag"), or only the first subword does with `first_subword_only`. In the BIO
    scheme the subwords after the first of a B word are I. Description
    subwords are positive (binary: I; BIO: B then I) with
    `label_tokens_positive`, else not trained. [CLS], [SEP] and padding are
    never trained.

    batch (PromptBatch): The encoded queries.
    word_tags (numpy.ndarray): (n_words,) gold tag of each global word.
    tag_scheme (str): "binary" or "bio".
    first_subword_only (bool): Train only the first subword of each word.
    label_tokens_positive (bool): Train the description subwords as positive.
    RETURNS (list[numpy.ndarray]): Per chunk, (rows, length) int64 targets.
    """
    bio = tag_scheme == "bio"
    # BIO: O stays O, B continues as I, I stays I
    continuation = numpy.asarray([0, 2, 2], dtype="int64") if bio else None
    out = sentence_targets(batch, word_tags, continuation=continuation, first_subword_only=first_subword_only)
    if label_tokens_positive:
        for chunk, target in zip(batch.chunks, out, strict=True):
            target[chunk.label_pos == 0] = 1
            target[chunk.label_pos > 0] = 2 if bio else 1
    return out
