"""Package the base model as en_bioner_base, with its model card.

    python scripts/package_base.py training/base/model-best metrics/base.json packages \
        --meta configs/meta_base.json --zeroshot results/zeroshot/zeroshot.json --version 0.1.0

writes a copy of the trained pipeline whose component tags a few default
catalogue labels (spacy_bioner.experiments.base.card.DEFAULT_LABELS, named by
their catalogue names: Disease, Chemical, Gene or gene product, Species;
--default-label chooses others), and a meta.json whose description is the
model card: the training corpora with their licences (label catalogue), each
corpus's test scores (metrics/base.json) and the zero-shot figures of a
zeroshot.json (`python -m spacy_bioner zeroshot`) if one is there, else a
note that they were not measured. scripts/package_pipeline.py then builds the
wheel with the project's LICENSE and the corpora's licences. The trained
pipeline itself is not changed.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import spacy
import srsly
import typer
from wasabi import msg

from spacy_bioner.catalogue import load_catalogue
from spacy_bioner.errors import BioNERInputError, Errors
from spacy_bioner.experiments.base import (
    DEFAULT_LABELS,
    apply_new_label_threshold,
    model_card,
    new_label_threshold,
    recipe_corpora,
    set_default_labels,
)
from spacy_bioner.experiments.base.evaluation import FACTORY

ROOT = Path(__file__).resolve().parents[1]
#: The corpus name package_pipeline.py writes in LICENSES_SOURCES (corpus/base).
CORPUS = "base"


def read_json(path: Path, what: str, how: str) -> dict[str, Any]:
    """A JSON object, or a clear error (E919) naming the file and its writer."""
    try:
        data = srsly.read_json(path)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E919.format(path=path, what=what, err=err, how=how)) from None
    if not isinstance(data, dict):
        raise BioNERInputError(Errors.E919.format(path=path, what=what, err="not a JSON object", how=how))
    return data


def stage(pipeline: Path, metrics_path: Path, meta_path: Path, zeroshot: Path | None, labels: list[str],
          staging: Path, new_threshold: float | None = None) -> dict[str, Any]:
    """Write the relabelled pipeline, its meta.json and sources.json to `staging`.

    new_threshold (float | None): The threshold of labels added to the
        package; None: the one the zero-shot report finds best on its held-out
        labels, if it scored thresholds (`zeroshot --thresholds`), else unchanged.
    RETURNS (dict[str, Any]): The meta.
    """
    catalogue = load_catalogue()
    nlp = spacy.load(pipeline)
    named = set_default_labels(nlp.get_pipe(FACTORY), labels, catalogue, pipeline)
    metrics = read_json(metrics_path, "a metrics file of the base model", "scripts/evaluate_base.py")
    report = None
    if zeroshot is not None and zeroshot.exists():
        report = read_json(zeroshot, "a zero-shot report", "python -m spacy_bioner zeroshot")
    template = read_json(meta_path, "a meta.json template", "configs/meta_base.json as a model")
    chosen = {"threshold": new_threshold} if new_threshold is not None else new_label_threshold(report)
    if chosen is not None and chosen["threshold"] is not None:
        apply_new_label_threshold(nlp, nlp.get_pipe(FACTORY), chosen["threshold"])
    meta = model_card(template, catalogue, recipe_corpora(nlp.config.interpolate()), metrics, report, named, chosen)
    nlp.to_disk(staging / "pipeline")
    srsly.write_json(staging / "meta.json", meta)
    srsly.write_json(staging / "sources.json", {CORPUS: meta["sources"]})
    return meta


def main(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="The trained base model"),
    metrics: Path = typer.Argument(..., exists=True, dir_okay=False, help="Its per-corpus scores (evaluate_base.py)"),
    output_dir: Path = typer.Argument(..., help="Where `spacy package` writes the package directory"),
    meta_path: Path = typer.Option(ROOT / "configs" / "meta_base.json", "--meta", exists=True, dir_okay=False),
    zeroshot: Path = typer.Option(None, "--zeroshot", help="A zeroshot.json; used if it exists"),
    name: str = typer.Option("bioner_base", "--name", help="The package name (without the language prefix)"),
    version: str = typer.Option("0.1.0", "--version", help="The package version"),
    default_label: list[str] = typer.Option(list(DEFAULT_LABELS), "--default-label",
                                            help="A catalogue label id the package tags (repeat for more)"),
    license_path: Path = typer.Option(ROOT / "LICENSE", "--license", exists=True, dir_okay=False),
    new_threshold: float = typer.Option(None, "--new-label-threshold", min=0.0, max=1.0,
                                        help="Threshold of labels users add (default: best on the zero-shot "
                                             "report's held-out labels if it scored thresholds, else unchanged)"),
) -> None:
    """Build the en_bioner_base wheel: default labels, model card, licences."""
    with tempfile.TemporaryDirectory(prefix="bioner-base-package-") as tmp:
        staging = Path(tmp)
        try:
            stage(pipeline, metrics, meta_path, zeroshot, list(default_label), staging, new_threshold)
        except BioNERInputError as err:
            msg.fail(str(err), exits=1)
        cmd = [sys.executable, str(ROOT / "scripts" / "package_pipeline.py"), str(staging / "pipeline"),
               str(output_dir), "--corpus", CORPUS, "--name", name, "--version", version,
               "--meta-path", str(staging / "meta.json"), "--sources", str(staging / "sources.json"),
               "--license", str(license_path)]
        if subprocess.run(cmd, check=False).returncode != 0:
            msg.fail("packaging failed", " ".join(cmd), exits=1)


if __name__ == "__main__":
    typer.run(main)
