"""``python -m spacy_bioner zeroshot``: the held-out protocol of the
``bioner_prompted`` base model over the catalogue corpora.

A thin wrapper over :func:`spacy_bioner.experiments.zeroshot.run_zeroshot`;
the protocol is documented in :mod:`spacy_bioner.experiments.zeroshot`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from spacy.cli._util import parse_config_overrides
from thinc.api import ConfigValidationError

from ..catalogue import load_catalogue
from ..errors import BioNERInputError, Errors
from ..experiments.fewshot import parse_shots
from ..experiments.zeroshot import ZeroshotOptions, run_zeroshot
from ..pipeline._thresholds import check_grid
from . import app
from ._util import fail


@app.command("zeroshot", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def zeroshot_cli(
    ctx: typer.Context,
    corpus_root: Annotated[Path, typer.Argument(help="Root of the converted corpora ({root}/{corpus id}/{split}.spacy).")],
    output: Annotated[Path, typer.Argument(help="Output directory (base models, zeroshot.json/.md/.png).")],
    hold_out: Annotated[list[str], typer.Option("--hold-out", help="A catalogue label id to hold out (repeat for more).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="The base-model recipe.")] = Path("configs/base.cfg"),
    seeds: Annotated[str, typer.Option("--seeds", help="Comma-separated base-model seeds.")] = "0,1,2",
    shots: Annotated[str, typer.Option("--shots", help="Comma-separated k values; 0 is zero-shot.")] = "0,1,10,100",
    fewshot_seeds: Annotated[int, typer.Option("--fewshot-seeds", help="Few-shot samples per k > 0.")] = 3,
    thresholds: Annotated[str, typer.Option(
        "--thresholds", help="Comma-separated thresholds in (0, 1] to also score zero-shot at, e.g. 0.1,0.2,0.3,0.4,0.5; "
                             "the report adds each label at the threshold best on the other held-out labels.")] = "",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress or training log.")] = False,
) -> None:
    """Train base models without the held-out labels (and the labels that
    overlap them), score the held-out labels zero-shot by name and by
    description on every corpus that annotates them, and few-shot from the
    first base model. Extra arguments such as --training.max_steps=2000
    override the recipe. Base models already in OUTPUT are reused.
    """
    try:
        overrides: dict[str, Any] = parse_config_overrides(ctx.args)
        catalogue = load_catalogue()
        for label in hold_out:
            catalogue.label(label)
        options = ZeroshotOptions(config, corpus_root, list(hold_out), output, parse_seeds(seeds), list(parse_shots(shots)),
                                  fewshot_seeds, overrides, parse_thresholds(thresholds))
        run_zeroshot(options, verbose=not quiet)
    except (BioNERInputError, ConfigValidationError) as err:
        fail(str(err))


def parse_seeds(value: str) -> list[int]:
    """`"0,1,2"` -> [0, 1, 2]. RAISES (BioNERInputError): E809 for anything else."""
    try:
        seeds = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise BioNERInputError(Errors.E809.format(value=value))
    return seeds


def parse_thresholds(value: str) -> list[float]:
    """`"0.1,0.3"` -> [0.1, 0.3]; `""` -> []. RAISES (BioNERInputError): E319 for
    anything but numbers in (0, 1]."""
    parts = [part.strip() for part in value.split(",") if part.strip()]
    if not parts:
        return []
    try:
        return check_grid(float(part) for part in parts)
    except ValueError:  # not a number, or outside (0, 1]
        raise BioNERInputError(Errors.E319.format(grid=value)) from None
