"""Gold targets in the layout of the padded rows: plain numpy.

:func:`sentence_targets` gives each sentence subword its word's tag (the
decoder and BTL rows); :func:`chunk_targets` adds the description subwords of
the label-prompted rows.
"""
from __future__ import annotations

import numpy

from .queries import PromptBatch


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
