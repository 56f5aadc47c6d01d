"""``python -m spacy_bioner fewshot``: zero- and few-shot runs of ``bioner_prompted``.

A thin wrapper over :func:`spacy_bioner.experiments.fewshot.run_fewshot`; the
protocol (what is removed, sampled, trained and scored) is documented in
:mod:`spacy_bioner.experiments.fewshot`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from spacy.cli._util import parse_config_overrides
from thinc.api import ConfigValidationError

from ..errors import BioNERInputError
from ..experiments.fewshot import load_descriptions, run_fewshot
from . import app
from ._util import fail


@app.command(
    "fewshot",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def fewshot_cli(
    ctx: typer.Context,
    train: Annotated[Path, typer.Option("--train", help="Training DocBin (.spacy), hidden labels included.")],
    dev: Annotated[Path, typer.Option("--dev", help="Dev DocBin for base-model selection (hidden labels are removed).")],
    test: Annotated[Path, typer.Option("--test", help="Test DocBin; only the hidden labels are scored.")],
    hidden: Annotated[list[str], typer.Option("--hidden", help="A hidden label (repeat the option for more).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output directory.")],
    shots: Annotated[str, typer.Option("--shots", help="Comma-separated k values; 0 is zero-shot.")] = "0,1,10,100",
    seeds: Annotated[int, typer.Option("--seeds", help="Few-shot samples (seeds) per k > 0.")] = 3,
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Training config with one bioner_prompted component.")
    ] = Path("configs/prompted.cfg"),
    encoder: Annotated[
        str | None, typer.Option("--encoder", help="Encoder name or directory instead of the config's.")
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Base-model training.max_steps instead of the config's.")
    ] = None,
    fewshot_steps: Annotated[
        int | None, typer.Option("--fewshot-steps", help="Updates per few-shot run (default: max(10, 3 passes)).")
    ] = None,
    fewshot_epochs: Annotated[
        int | None, typer.Option("--fewshot-epochs", help="Passes over the k sentences per few-shot run, instead of steps.")
    ] = None,
    fewshot_batch_size: Annotated[
        int | None, typer.Option("--fewshot-batch-size", help="Sentences per few-shot update (default: the config's batcher size, else 16).")
    ] = None,
    fewshot_lr: Annotated[
        float | None, typer.Option("--fewshot-lr", help="Constant learning rate of the few-shot runs (default: the config's, or its schedule's initial_rate).")
    ] = None,
    descriptions: Annotated[
        Path | None, typer.Option("--descriptions", help="JSON object {label: description} (default: the config's, else the label in words, lower-cased).")
    ] = None,
    gpu_id: Annotated[int, typer.Option("--gpu-id", "-g", help="GPU id, -1 for CPU.")] = -1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or training log.")] = False,
) -> None:
    """Zero- and few-shot NER on hidden labels with bioner_prompted (Košprdić et al.).

    Trains a base model without the hidden labels (removed from train and
    dev), scores it zero-shot on them, then fine-tunes on k sampled sentences
    per hidden label and seed. Extra arguments such as
    --training.max_epochs=1 override the config. Writes OUTPUT/fewshot.json,
    OUTPUT/fewshot.md and, with matplotlib installed, OUTPUT/fewshot.png.
    """
    try:
        overrides: dict[str, Any] = parse_config_overrides(ctx.args)
        given = load_descriptions(descriptions) if descriptions is not None else None
        run_fewshot(
            train, dev, test, hidden, shots, seeds, config, output, overrides,
            encoder=encoder, max_steps=max_steps, fewshot_steps=fewshot_steps,
            fewshot_epochs=fewshot_epochs, fewshot_batch_size=fewshot_batch_size,
            fewshot_lr=fewshot_lr, descriptions=given, use_gpu=gpu_id, verbose=not quiet,
        )
    except (BioNERInputError, ConfigValidationError) as err:
        fail(str(err))
