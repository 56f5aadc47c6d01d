"""What the three windowed tagger layers share: the shim, the settings check
and the forward pass.

``spacy_bioner.PromptTagger.v1`` (:mod:`.prompt_tagger`),
``spacy_bioner.BTLTagger.v1`` (:mod:`.btl_tagger`) and
``spacy_bioner.LlamaLabeler.v1`` (:mod:`.llama_labeler`) all map a list of
:class:`~.queries.PromptQuery` to :class:`PromptScores`: the encoded batch and
the logits of every padded chunk. Each holds its torch module and HF tokenizer
in a subclass of :class:`TaggerShim` (a ``PyTorchShim``) and runs
:func:`forward_queries`, which encodes the queries, runs the shim on each
padded chunk and bridges the gradients back.

The modules are created lazily: by ``initialize()``, which loads the
pretrained model (the only time the hub or a model directory is read), or by
``from_bytes``, which rebuilds them from saved data. A config therefore
builds without touching any model.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import numpy
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
from .hf import encoder_from_config, hf_from_bytes, hf_to_bytes, load_hf_encoder
from .precision import use_bf16
from .queries import PromptBatch, PromptQuery
from .windows import encode_queries

#: The callback of a layer's forward pass: one logit gradient per chunk.
Backprop = Callable[[list[numpy.ndarray]], list]
ShimT = TypeVar("ShimT", bound="TaggerShim")
SettingsT = TypeVar("SettingsT", bound="LayerSettings")


@dataclass
class PromptScores:
    """Output of the layer: the encoded queries and one logit array per chunk.

    batch (PromptBatch): The encoded queries (rows, windows, index arrays).
    logits (list[numpy.ndarray]): Per chunk, (rows, length, n_tags) float32.
    """

    batch: PromptBatch
    logits: list[numpy.ndarray]


@dataclass(frozen=True)
class LayerSettings:
    """The runtime settings every windowed tagger layer has, from its config
    (never from saved data)."""

    encoder: str
    dropout: float
    max_length: int
    stride: int
    batch_size: int

    def check(self, architecture: str, min_length: int) -> None:
        """Validate the settings the windowed tagger layers share.

        architecture (str): The registered name, for the error message.
        min_length (int): The shortest row that holds one sentence subword
            (max_length must be at least that); dropout must be in [0, 1),
            stride 0 or more, batch_size 1 or more.
        RAISES (ValueError): Naming the setting and what to give.
        """

        def invalid(setting: str, what: str) -> ValueError:
            return ValueError(Errors.E310.format(
                setting=setting, value=getattr(self, setting), architecture=architecture, what=what))

        if not 0.0 <= self.dropout < 1.0:
            raise invalid("dropout", "give a value in [0, 1)")
        if self.max_length < min_length:
            raise invalid("max_length", f"give at least {min_length}")
        if self.stride < 0:
            raise invalid("stride", "give 0 or more")
        if self.batch_size < 1:
            raise invalid("batch_size", "give 1 or more")


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
    inference_bf16 (bool): Predict under bfloat16 autocast.
    n_tags (int | None): Tags per subword; None: known at initialize.
    training_bf16 (bool): Train under bfloat16 autocast (weights, gradients and
        the optimizer stay float32).
    """

    def __init__(
        self, dropout: float, inference_bf16: bool = False, n_tags: int | None = None, training_bf16: bool = False
    ) -> None:
        super().__init__(None)
        self.inference_bf16 = inference_bf16
        self.training_bf16 = training_bf16
        self.n_tags = n_tags
        self.dropout = dropout
        self.tokenizer: Any = None

    @property
    def is_initialized(self) -> bool:
        return self._model is not None

    def begin_update(self, inputs: ArgsKwargs) -> tuple[Any, Callable[..., Any]]:
        """The training forward pass; under bfloat16 autocast with `training_bf16`
        (about 1.5x faster on CPUs with native bf16; float32 where bf16 is not
        native, see :mod:`.precision`), its logits cast back to float32 so the
        losses and their gradients stay float32."""
        if not use_bf16(self.training_bf16, self.device.type, "training_bf16"):
            return super().begin_update(inputs)
        with torch.autocast(self.device.type, torch.bfloat16):
            output, backprop = super().begin_update(inputs)
        return output.float(), backprop

    def set_dropout(self, rate: float) -> None:
        """Set the dropout before the head for the next training passes.

        rate (float): The dropout probability (spaCy's `drop` of the update).
        """
        head_dropout = getattr(self._model, "dropout", None)
        if isinstance(head_dropout, torch.nn.Dropout):
            head_dropout.p = rate

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

    def reset(self) -> None:
        """Drop the module and the tokenizer (saved data of an uninitialized layer)."""
        self._model = None
        self.tokenizer = None

    def predict(self, inputs: ArgsKwargs) -> Any:
        self._model.eval()
        device_type = self.device.type
        bf16 = use_bf16(self.inference_bf16, device_type, "inference_bf16")
        with torch.inference_mode(), torch.autocast(device_type, torch.bfloat16, enabled=bf16):
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

    def read_message(self, bytes_data: bytes, invalid: str) -> dict[str, Any] | None:
        """Unpack saved shim data; an uninitialized layer's resets the shim.

        bytes_data (bytes): The output of `to_bytes`.
        invalid (str): The message template ({what}) for damaged data.
        RETURNS (dict[str, Any] | None): The message, or None if the layer was not initialized.
        """
        msg = srsly.msgpack_loads(bytes_data)
        if not isinstance(msg, dict) or "initialized" not in msg:
            raise ValueError(invalid.format(what="no 'initialized' flag"))
        if not msg["initialized"]:
            self.reset()
            return None
        return msg

    def from_bytes(self: ShimT, bytes_data: bytes) -> ShimT:
        msg = self.read_message(bytes_data, Errors.E315)
        if msg is None:
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


def build_layer(
    name: str,
    settings: SettingsT,
    shim: ShimT,
    init: Callable[[Model, ShimT, SettingsT], None],
    *,
    architecture: str,
    pair: bool = True,
    encode: Callable[..., PromptBatch] | None = None,
    **kwargs: Any,
) -> Model[list[PromptQuery], PromptScores]:
    """A thinc layer around a tagger shim: its forward pass is
    :func:`forward_queries` with `settings`; `init` loads the pretrained model.

    name (str): The layer's name.
    settings (LayerSettings): The layer's runtime settings, from its config.
    shim (TaggerShim): The (uninitialized) shim; the layer always holds one of its class.
    init (Callable): (model, shim, settings) -> None, at initialize.
    architecture (str): The registered name, for error messages.
    pair (bool): Sentence-pair rows (see `forward_queries`).
    encode (Callable[..., PromptBatch] | None): Another batching (see `forward_queries`).
    **kwargs: More `Model` arguments (dims, attrs).
    RETURNS (Model[list[PromptQuery], PromptScores]): The layer. Its attr
        "dropout_rate" (initially `settings.dropout`) is the dropout before the
        head in training; thinc's `set_dropout_rate` (the components' update,
        with spaCy's `drop`) sets it.
    """
    kind = type(shim)
    kwargs["attrs"] = {**kwargs.get("attrs", {}), "dropout_rate": settings.dropout}

    def forward(
        model: Model[list[PromptQuery], PromptScores], queries: list[PromptQuery], is_train: bool
    ) -> tuple[PromptScores, Backprop]:
        if is_train:
            get_shim(model, kind).set_dropout(float(model.attrs["dropout_rate"]))
        return forward_queries(model, get_shim(model, kind), queries, is_train, settings,
                               architecture=architecture, pair=pair, encode=encode)

    def initialize(model: Model[list[PromptQuery], PromptScores], X: Any = None, Y: Any = None) -> None:
        init(model, get_shim(model, kind), settings)

    return Model(name, forward, init=initialize, shims=[shim], **kwargs)


def get_shim(model: Model, kind: type[ShimT]) -> ShimT:
    """The shim of a tagger layer.

    model (Model): The layer.
    kind (type[TaggerShim]): The shim class the layer must hold.
    RETURNS (TaggerShim): Its shim, holding the torch module and the tokenizer.
    RAISES (TypeError): If the layer holds no such shim.
    """
    shim = model.shims[0] if model.shims else None
    if not isinstance(shim, kind):
        raise TypeError(Errors.E333.format(name=model.name, kind=kind.__name__))
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


def forward_queries(
    model: Model,
    shim: TaggerShim,
    queries: list[PromptQuery],
    is_train: bool,
    settings: LayerSettings,
    *,
    architecture: str,
    pair: bool = True,
    encode: Callable[..., PromptBatch] | None = None,
) -> tuple[PromptScores, Backprop]:
    """Encode queries into windowed padded chunks and run the shim on each.

    model (Model): The layer (for its name in errors).
    shim (TaggerShim): Its shim.
    queries (list[PromptQuery]): The queries.
    is_train (bool): Training mode (dropout on, gradients kept).
    settings (LayerSettings): max_length (capped by the model's
        positions), stride and batch_size (rows per forward pass).
    architecture (str): The registered name, for the error message.
    pair (bool): Sentence-pair rows with the description first; False:
        single-segment ``[CLS] window [SEP]`` rows with token type 0.
    encode (Callable[..., PromptBatch] | None): Another batching with the
        arguments of `encode_queries` but `pair` and `token_types` (e.g. the
        decoder rows of spacy_bioner.LlamaLabeler.v1); None: `encode_queries`
        as `pair` says.
    RETURNS (tuple[PromptScores, Callable]): The scores and the backprop
        callback, which takes one logit gradient per chunk.
    RAISES (ValueError): If the shim is not initialized.
    """
    if not shim.is_initialized:
        raise ValueError(Errors.E300.format(name=model.name, component=architecture))
    options = {} if encode is not None else {"token_types": pair and shim.uses_token_types, "pair": pair}
    batch = (encode or encode_queries)(
        shim.tokenizer,
        queries,
        max_length=min(settings.max_length, shim.max_positions),
        stride=settings.stride,
        batch_size=settings.batch_size,
        **options,
    )
    return run_chunks(shim, batch, is_train)


def run_chunks(shim: TaggerShim, batch: PromptBatch, is_train: bool) -> tuple[PromptScores, Backprop]:
    """Run the shim on each padded chunk of an encoded batch.

    shim (TaggerShim): An initialised shim.
    batch (PromptBatch): The encoded queries.
    is_train (bool): Training mode (dropout on, gradients kept).
    RETURNS (tuple[PromptScores, Callable]): The scores (numpy, on the CPU)
        and the callback that takes one logit gradient per chunk.
    """
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
