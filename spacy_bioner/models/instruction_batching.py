"""Batch preparation for decoder taggers (``bioner_llama``): plain Python and numpy.

:func:`encode_instruction_queries` is the decoder-side counterpart of
:func:`~.windows.encode_queries`: it takes the same
:class:`~.queries.PromptQuery` objects (``description`` holds the
whole instruction text) and returns the same :class:`~.queries.PromptBatch`
(built by the same :func:`~.windows.encode_rows`), so
:func:`~.pooling.merge_windows`, :func:`~.pooling.pool_words`
and :func:`~.targets.sentence_targets` serve both. What differs:

* A row is ``[the tokenizer's own special prefix, e.g. Llama's BOS]
  instruction window [its special suffix, if any]``, right-padded; there is no
  [CLS]/[SEP] pair and no token type.
* Words are tokenised one by one, so that every token belongs to one word. A
  byte-level BPE (GPT-2, Qwen2, SmolLM2) needs the leading space of every word
  after the first (``" cancer"``, not ``"cancer"``), while the legacy
  SentencePiece tokenizer of Llama 2 adds a space of its own to every text and
  must be given bare words; :func:`word_separator` finds out which by probing
  the tokenizer. Whitespace words (spaCy's whitespace tokens) get no token.
* A sentence too long for ``max_length`` next to its instruction is cut into
  overlapping windows of subwords (:func:`~.windows.window_starts`),
  each with the full instruction, so no token is dropped.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy

from ..errors import Errors
from .queries import PromptBatch, PromptQuery
from .windows import RowLayout, SentenceTokens, encode_rows, tokenize_once

#: Words used to probe how a tokenizer joins words (see `word_separator`).
PROBE_WORDS = ("patients", "with", "breast", "cancer")


def word_separator(tokenizer: Any) -> str:
    """The text to put before each word after the first so that tokenising
    words one by one gives the tokens of the joined sentence.

    tokenizer (Any): A fast HF tokenizer.
    RETURNS (str): " " (byte-level BPE, modern SentencePiece) or "" (legacy
        SentencePiece, which adds a space to every text itself); " " when
        neither reproduces the probe exactly.
    """
    joint = tokenizer(" ".join(PROBE_WORDS), add_special_tokens=False)["input_ids"]
    for sep in (" ", ""):
        texts = [PROBE_WORDS[0]] + [sep + word for word in PROBE_WORDS[1:]]
        pieces = tokenizer(texts, add_special_tokens=False)["input_ids"]
        if [i for ids in pieces for i in ids] == list(joint):
            return sep
    return " "


def special_affixes(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts around a text by default (e.g.
    Llama's BOS before it), which the decoder saw in pretraining.

    tokenizer (Any): A fast HF tokenizer.
    RETURNS (tuple[list[int], list[int]]): The prefix and the suffix token ids.
    """
    bare = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    full = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    for start in range(len(full) - len(bare) + 1):
        if full[start : start + len(bare)] == bare:
            return full[:start], full[start + len(bare) :]
    return [], []


def pad_token_id(tokenizer: Any) -> int:
    """tokenizer (Any): A tokenizer. RETURNS (int): Its pad id, else its EOS id,
    else 0 (padding is masked, so any id does)."""
    for attr in ("pad_token_id", "eos_token_id"):
        value = getattr(tokenizer, attr, None)
        if value is not None:
            return int(value)
    return 0


def _tokenize_sentences(tokenizer: Any, sentences: list[tuple[str, ...]], sep: str) -> list[SentenceTokens]:
    """Subword ids and the word index of each subword, per sentence, from one
    batched tokenizer call over all their words."""
    texts: list[str] = []
    owners: list[tuple[int, int]] = []  # (sentence, word) of each text
    for si, words in enumerate(sentences):
        first = True
        for wi, word in enumerate(words):
            if not word.strip():
                continue
            texts.append(word if first else sep + word)
            owners.append((si, wi))
            first = False
    ids_per_text = tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
    ids: list[list[int]] = [[] for _ in sentences]
    word_of: list[list[int]] = [[] for _ in sentences]
    for (si, wi), piece in zip(owners, ids_per_text, strict=True):
        ids[si].extend(piece)
        word_of[si].extend([wi] * len(piece))
    return [
        (numpy.asarray(i, dtype="int64"), numpy.asarray(w, dtype="int64"))
        for i, w in zip(ids, word_of, strict=True)
    ]


def encode_instruction_queries(
    tokenizer: Any,
    queries: Sequence[PromptQuery],
    *,
    max_length: int,
    stride: int,
    batch_size: int,
) -> PromptBatch:
    """Tokenise (instruction, sentence) queries into right-padded decoder rows.

    Sentences and instructions are tokenised once each, however many queries
    share them. Rows of one `group` are sorted by length and cut into chunks of
    at most `batch_size` rows; chunks never mix groups.

    tokenizer (Any): A fast HF tokenizer of the decoder.
    queries (Sequence[PromptQuery]): The queries; `description` is the instruction.
    max_length (int): Maximum row length in tokens, special tokens included.
    stride (int): Subwords shared by consecutive windows of a long sentence.
    batch_size (int): Maximum rows per chunk.
    RETURNS (PromptBatch): The chunks (token_type_ids all 0; `label_pos` marks
        the instruction tokens) and the global subword and word indices.
    RAISES (ValueError): If an instruction leaves no room for the sentence.
    """
    queries = list(queries)
    sep = word_separator(tokenizer)
    prefix, suffix = special_affixes(tokenizer)
    layout = RowLayout(tuple(prefix), (), tuple(suffix), pad_token_id(tokenizer))
    sentences = tokenize_once([tuple(q.words) for q in queries], lambda s: _tokenize_sentences(tokenizer, s, sep))
    instructions = tokenize_once(
        [q.description for q in queries],
        lambda texts: [list(ids) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]],
    )

    def too_long(q: PromptQuery, n_instr: int) -> Exception:
        return ValueError(Errors.E703.format(
            instruction=q.description, n=n_instr, n_special=layout.n_special, max_length=max_length))

    return encode_rows(queries, sentences, instructions, layout, max_length=max_length, stride=stride,
                       batch_size=batch_size, too_long=too_long)
