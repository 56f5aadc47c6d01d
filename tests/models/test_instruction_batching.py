"""Batching of the decoder tagger (bioner_llama): word-by-word tokenisation,
the tokenizer's special affixes, instruction rows and their windows."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest
from tiny_llama import build_tiny_tokenizer
from transformers import AutoTokenizer

from spacy_bioner.models.instruction_batching import (
    encode_instruction_queries,
    special_affixes,
    word_separator,
)
from spacy_bioner.models.pooling import merge_windows, pool_words
from spacy_bioner.models.queries import PromptQuery
from spacy_bioner.models.targets import sentence_targets
from spacy_bioner.pipeline.llama import DEFAULT_INSTRUCTION, format_instruction
from spacy_bioner.torch.llama_labeler import IGNORE_INDEX

WORDS = ("Patients", "with", "breast", "cancer", "received", "tamoxifen", ".")


@pytest.fixture(scope="module")
def tokenizer(tiny_llama_dir: Path) -> AutoTokenizer:
    return AutoTokenizer.from_pretrained(tiny_llama_dir)



def test_word_separator_and_affixes(tokenizer: AutoTokenizer) -> None:
    # byte-level BPE: words after the first take their leading space
    assert word_separator(tokenizer) == " "
    prefix, suffix = special_affixes(tokenizer)
    assert prefix == [tokenizer.bos_token_id] and suffix == []
    no_bos = build_tiny_tokenizer(add_bos=False)
    assert special_affixes(no_bos) == ([], [])


def test_word_separator_of_a_tokenizer_that_adds_its_own_space() -> None:
    """Legacy SentencePiece (Llama 2) adds a space to every text: words go bare."""

    class SpacePrefixing:
        def __call__(self, texts, add_special_tokens=False):  # noqa: ANN001, ANN204
            single = isinstance(texts, str)
            # one id per word, and one more for a leading space: " word" -> [space, word]
            def encode(text: str) -> list[int]:
                ids = [0] if text.startswith(" ") else []
                return ids + [len(word) for word in text.split()]
            out = [encode(t) for t in ([texts] if single else texts)]
            return {"input_ids": out[0] if single else out}

    assert word_separator(SpacePrefixing()) == ""


def test_encode_rows_exact_text_and_index_arrays(tokenizer: AutoTokenizer) -> None:
    instruction = format_instruction(DEFAULT_INSTRUCTION, "disease", "NCBI")
    queries = [PromptQuery(WORDS, instruction, "", 0), PromptQuery(("No", "entities", " ", "here"), instruction, "", 1)]
    batch = encode_instruction_queries(tokenizer, queries, max_length=256, stride=8, batch_size=8)
    assert batch.n_words == len(WORDS) + 4
    texts = {}
    for chunk in batch.chunks:
        for r in range(chunk.n_rows):
            ids = chunk.input_ids[r][chunk.attention_mask[r] == 1]
            assert ids[0] == tokenizer.bos_token_id
            texts[int(chunk.query[r])] = tokenizer.decode(ids, skip_special_tokens=True)
            # instruction positions carry no sentence subword (so no label)
            instr = chunk.label_pos[r] >= 0
            assert (chunk.subword[r][instr] == -1).all() and chunk.subword[r][0] == -1
            assert (chunk.token_type_ids == 0).all()
    assert texts[0] == instruction + " ".join(WORDS)
    # the whitespace word gets no token and no space of its own
    assert texts[1] == instruction + "No entities here"
    _, has = pool_words(batch, numpy.zeros(batch.n_subwords), "first")
    assert has.tolist() == [True] * len(WORDS) + [True, True, False, True]
    # tokenised word by word: every word's tokens are the tokens of " word"
    ids_cancer = tokenizer(" cancer", add_special_tokens=False)["input_ids"]
    sub = numpy.flatnonzero(batch.subword_word == WORDS.index("cancer"))
    chunk = batch.chunks[0]
    flat = {int(s): int(i) for s, i in zip(chunk.subword.ravel(), chunk.input_ids.ravel(), strict=True) if s >= 0}
    assert [flat[int(s)] for s in sub] == ids_cancer


def test_first_subword_targets(tokenizer: AutoTokenizer) -> None:
    words = ("xyzzy", "cancer", "plugh")  # "xyzzy" and "plugh" are several tokens
    batch = encode_instruction_queries(
        tokenizer, [PromptQuery(words, "Tag disease: ", "", 0)], max_length=64, stride=4, batch_size=4
    )
    (target,) = sentence_targets(batch, numpy.asarray([1, 2, 0]), first_subword_only=True)
    chunk = batch.chunks[0]
    sub = chunk.subword[0]
    firsts = [int(numpy.flatnonzero(sub == batch.subword_offsets[0] + s)[0])
              for s in numpy.flatnonzero(batch.subword_first)]
    assert target[0][firsts].tolist() == [1, 2, 0]
    labelled = numpy.flatnonzero(target[0] >= 0).tolist()
    assert labelled == firsts and batch.n_subwords > 3  # later subwords, instruction, BOS: none
    targets = numpy.where(target < 0, IGNORE_INDEX, target)
    assert set(targets[0].tolist()) == {IGNORE_INDEX, 0, 1, 2}


def test_windows_cover_every_token(tokenizer: AutoTokenizer) -> None:
    words = tuple(("breast cancer patients received tamoxifen daily and " * 6).split())
    instruction = "Tag {type}: ".format(type="disease")
    n_instr = len(tokenizer(instruction, add_special_tokens=False)["input_ids"])
    batch = encode_instruction_queries(
        tokenizer, [PromptQuery(words, instruction, "", 0)], max_length=n_instr + 1 + 10, stride=3, batch_size=2
    )
    assert batch.n_rows > 3 and len(batch.chunks) > 1
    for chunk in batch.chunks:
        assert chunk.input_ids.shape[1] <= n_instr + 11
        # every row starts with BOS and the whole instruction
        assert (chunk.input_ids[:, 0] == tokenizer.bos_token_id).all()
    merged = merge_windows(batch, [numpy.ones(c.input_ids.shape + (1,)) for c in batch.chunks], 1)
    assert numpy.isfinite(merged).all()  # no subword dropped
    with pytest.raises(ValueError, match=r"\[E703\].*leaves no room"):
        encode_instruction_queries(
            tokenizer, [PromptQuery(words, instruction, "", 0)], max_length=n_instr + 1, stride=0, batch_size=2
        )


def test_groups_never_share_a_chunk(tokenizer: AutoTokenizer) -> None:
    queries = [PromptQuery(WORDS, "Tag a: ", "a", 0), PromptQuery(WORDS, "Tag b: ", "b", 1),
               PromptQuery(WORDS[:3], "Tag a: ", "a", 2)]
    batch = encode_instruction_queries(tokenizer, queries, max_length=64, stride=0, batch_size=8)
    groups = [{queries[int(q)].group for q in chunk.query} for chunk in batch.chunks]
    assert sorted(map(sorted, groups)) == [["a"], ["b"]]
    assert encode_instruction_queries(tokenizer, [], max_length=64, stride=0, batch_size=8).n_rows == 0

