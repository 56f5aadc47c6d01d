"""Batching of the encoder taggers (plain Python and numpy): windows,
sentence-pair and single-segment rows, padding, and its inverse (merging
windows, pooling words) and the gold targets in the row layout."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest
from transformers import AutoTokenizer

from spacy_bioner.models.pooling import merge_windows, pool_words
from spacy_bioner.models.queries import PromptQuery
from spacy_bioner.models.targets import chunk_targets, sentence_targets
from spacy_bioner.models.windows import encode_queries, window_starts


@pytest.fixture(scope="module")
def tokenizer(tiny_bert_dir: Path):
    return AutoTokenizer.from_pretrained(str(tiny_bert_dir))


@pytest.mark.parametrize("n,window,stride", [(1, 5, 2), (5, 5, 2), (6, 5, 2), (23, 5, 2), (23, 5, 0), (23, 5, 9), (100, 12, 4)])
def test_window_starts_cover_everything(n: int, window: int, stride: int) -> None:
    starts = window_starts(n, window, stride)
    covered = numpy.zeros(n, dtype=int)
    for start in starts:
        assert 0 <= start and start + min(window, n) <= n
        covered[start : start + window] += 1
    assert (covered >= 1).all()
    assert starts == sorted(set(starts))
    if n > window:
        overlaps = [window - (b - a) for a, b in zip(starts[:-2], starts[1:-1], strict=True)]
        assert all(o == min(stride, window // 2) for o in overlaps)


def test_window_starts_rejects_an_empty_window() -> None:
    with pytest.raises(ValueError, match=r"\[E330\]"):
        window_starts(4, 0, 0)


def test_encode_queries_layout(tokenizer) -> None:
    words = ("patients", "with", "breast", "cancer", ".")
    queries = [PromptQuery(words, "disease", "Disease"), PromptQuery(words, "chemical drug", "Chemical")]
    batch = encode_queries(tokenizer, queries, max_length=64, stride=2, batch_size=8)
    assert len(batch.chunks) == 2  # one per group
    assert batch.n_words == 10 and batch.n_subwords == 10
    first = batch.chunks[0]
    tokens = tokenizer.convert_ids_to_tokens(first.input_ids[0].tolist())
    assert tokens == ["[CLS]", "disease", "[SEP]", "patients", "with", "breast", "cancer", ".", "[SEP]"]
    assert first.token_type_ids[0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert first.attention_mask[0].tolist() == [1] * 9
    assert first.subword[0].tolist() == [-1, -1, -1, 0, 1, 2, 3, 4, -1]
    assert first.label_pos[0].tolist() == [-1, 0, -1, -1, -1, -1, -1, -1, -1]
    second = batch.chunks[1]
    assert second.label_pos[0].tolist()[:4] == [-1, 0, 1, -1]
    assert second.subword[0].tolist()[4:9] == [5, 6, 7, 8, 9]


def test_encode_queries_windows_and_padding(tokenizer) -> None:
    long_words = tuple("every patient had follow up visits at month one three six and twelve".split()) * 3
    queries = [
        PromptQuery(("cancer", "\n", "."), "disease", "A"),  # a whitespace word has no subword
        PromptQuery(long_words, "disease", "A"),
        PromptQuery((), "disease", "A"),
    ]
    batch = encode_queries(tokenizer, queries, max_length=16, stride=4, batch_size=3)
    assert batch.n_words == 3 + len(long_words)
    assert batch.subword_word[:2].tolist() == [0, 2]
    seen = numpy.zeros(batch.n_subwords, dtype=int)
    for chunk in batch.chunks:
        assert chunk.n_rows <= 3 and chunk.input_ids.shape[1] <= 16
        for row in range(chunk.n_rows):
            length = int(chunk.attention_mask[row].sum())
            assert (chunk.input_ids[row, length:] == tokenizer.pad_token_id).all()
            assert chunk.input_ids[row, length - 1] == tokenizer.sep_token_id
        numpy.add.at(seen, chunk.subword[chunk.subword >= 0], 1)
    assert (seen >= 1).all() and (seen >= 2).any()  # covered, with overlaps
    assert batch.n_rows > 3
    with pytest.raises(ValueError, match=r"\[E309\].*no room for the sentence"):
        encode_queries(tokenizer, [PromptQuery(("a",), "disease " * 20, "A")], max_length=16, stride=0, batch_size=2)


def test_merge_pool_and_targets(tokenizer) -> None:
    words = tuple("aa bb cc dd ee ff gg".split())  # each word: a char piece and a ## piece
    batch = encode_queries(tokenizer, [PromptQuery(words, "gene", "G")], max_length=10, stride=2, batch_size=8)
    assert batch.n_subwords == 14 and batch.subword_first.tolist() == [True, False] * 7
    # each position's value is its global subword index: the windows' average is the index
    values = [numpy.where(c.subword >= 0, c.subword, 0).astype("float32")[..., None] for c in batch.chunks]
    merged = merge_windows(batch, values, 1)
    assert merged[:, 0].tolist() == list(range(14))
    word_max, has = pool_words(batch, merged[:, 0], "max")
    assert word_max.tolist() == [1, 3, 5, 7, 9, 11, 13] and has.all()
    assert pool_words(batch, merged[:, 0], "first")[0].tolist() == [0, 2, 4, 6, 8, 10, 12]
    assert pool_words(batch, merged[:, 0], "mean")[0].tolist() == [0.5, 2.5, 4.5, 6.5, 8.5, 10.5, 12.5]
    word_tags = numpy.array([0, 1, 1, 0, 0, 1, 0])
    binary = chunk_targets(batch, word_tags, tag_scheme="binary", first_subword_only=False, label_tokens_positive=True)
    bio = chunk_targets(batch, numpy.array([0, 1, 2, 0, 0, 1, 0]), tag_scheme="bio",
                        first_subword_only=False, label_tokens_positive=False)
    first_only = chunk_targets(batch, word_tags, tag_scheme="binary", first_subword_only=True,
                               label_tokens_positive=False)
    chunk = batch.chunks[0]
    row0 = chunk.subword[0]
    in_sentence = row0 >= 0
    assert binary[0][0][~in_sentence].tolist() == [-1, 1, -1, -1][: int((~in_sentence).sum())]
    assert binary[0][0][in_sentence].tolist() == [0, 0, 1, 1, 1, 1][: int(in_sentence.sum())]
    assert bio[0][0][in_sentence].tolist() == [0, 0, 1, 2, 2, 2][: int(in_sentence.sum())]
    assert (bio[0][0][~in_sentence] == -1).all()
    assert first_only[0][0][in_sentence].tolist() == [0, -1, 1, -1, 1, -1][: int(in_sentence.sum())]




def test_single_segment_layout(tokenizer) -> None:
    words = ("patients", "with", "breast", "cancer", ".")
    batch = encode_queries(tokenizer, [PromptQuery(words, "")], max_length=64, stride=2, batch_size=8,
                           token_types=False, pair=False)
    chunk = batch.chunks[0]
    assert tokenizer.convert_ids_to_tokens(chunk.input_ids[0].tolist()) == [
        "[CLS]", "patients", "with", "breast", "cancer", ".", "[SEP]"]
    assert chunk.token_type_ids[0].tolist() == [0] * 7
    assert chunk.subword[0].tolist() == [-1, 0, 1, 2, 3, 4, -1]
    assert (chunk.label_pos == -1).all()
    with pytest.raises(ValueError, match=r"\[E331\]"):
        encode_queries(tokenizer, [PromptQuery(words, "disease")], max_length=64, stride=2, batch_size=8, pair=False)


def test_single_segment_windows_cover_every_subword(tokenizer) -> None:
    words = tuple("tamoxifen was given to women treated for breast cancer after surgery and two rats".split())
    batch = encode_queries(tokenizer, [PromptQuery(words, "")], max_length=6, stride=2, batch_size=4, pair=False)
    assert max(c.input_ids.shape[1] for c in batch.chunks) <= 6 and batch.n_rows > 3
    covered = numpy.zeros(batch.n_subwords, dtype=int)
    for chunk in batch.chunks:
        numpy.add.at(covered, chunk.subword[chunk.subword >= 0], 1)
    assert (covered >= 1).all()
    values = [numpy.where(c.subword[..., None] >= 0, 1.0, 0.0) for c in batch.chunks]
    merged = merge_windows(batch, values, 1)
    pooled, has = pool_words(batch, merged, "first")
    assert has.all() and numpy.allclose(pooled, 1.0)


def test_sentence_targets_continuation(tokenizer) -> None:
    words = ("tamoxifen", "daily")  # tamoxifen is one piece, daily too; "xyz" splits into characters
    batch = encode_queries(tokenizer, [PromptQuery(("xyz",) + words, "")], max_length=32, stride=0,
                           batch_size=4, pair=False)
    word_tags = numpy.asarray([1, 2, 0])  # B-0 on the split word, then I-0, O
    continuation = numpy.asarray([0, 2, 2, 4, 4, -1])
    every = sentence_targets(batch, word_tags, continuation=continuation)[0][0]
    first = sentence_targets(batch, word_tags, continuation=continuation, first_subword_only=True)[0][0]
    n_pieces = int((batch.subword_word == 0).sum())
    assert n_pieces > 1
    assert every.tolist() == [-1, 1] + [2] * (n_pieces - 1) + [2, 0, -1]
    assert first.tolist() == [-1, 1] + [-1] * (n_pieces - 1) + [2, 0, -1]


def test_pool_words_rejects_an_unknown_method(tokenizer) -> None:
    batch = encode_queries(tokenizer, [PromptQuery(("aa", "bb"), "")], max_length=16, stride=0, batch_size=4,
                           pair=False)
    values = numpy.arange(batch.n_subwords, dtype="float32")
    assert pool_words(batch, values, "mean")[1].all()
    with pytest.raises(ValueError, match=r"\[E332\] Unknown word pooling 'median'"):
        pool_words(batch, values, "median")
