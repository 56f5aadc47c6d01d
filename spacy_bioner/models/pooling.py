"""Invert the batching: from per-position values of the padded rows back to
the queries' subwords and words. Plain numpy.

:func:`merge_windows` averages the values of the windows that cover each
subword; :func:`pool_words` pools subwords into words.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy

from ..errors import Errors
from .queries import WORD_POOLING, PromptBatch


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
        raise ValueError(Errors.E332.format(method=method, options=", ".join(WORD_POOLING)))
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
