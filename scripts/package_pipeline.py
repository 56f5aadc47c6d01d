"""Package a trained pipeline with `spacy package`, licences included.

`spacy package` copies a LICENSE and a LICENSES_SOURCES file from the pipeline
directory into the package (the wheel's .dist-info/licenses/ and the
installed model directory) and lists the meta's `sources` in the generated
README. A pipeline written by `spacy train` has neither, so this script
copies the pipeline to a temporary directory, adds

* LICENSE: the project's licence (MIT),
* LICENSES_SOURCES: the training corpus's sources and their licences, from
  configs/sources.json (keyed by the name of the corpus under corpus/),
* `sources` in the pipeline's meta.json (configs/meta.json, given as
  --meta-path, is applied on top by `spacy package` and has no `sources`),

and runs `python -m spacy package` on that copy. The trained pipeline itself
is not touched, so the project's `train` outputs keep their checksums.

    python scripts/package_pipeline.py training/prompted/model-best packages --corpus sample \
        --name bioner_prompted --version 0.1.0 --meta-path configs/meta.json
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import srsly
import typer
from spacy.util import load_config
from wasabi import msg

ROOT = Path(__file__).resolve().parents[1]


def corpus_sources(sources_path: Path, corpus: str) -> list[dict[str, str]]:
    """The sources (name, url, license, author) of a corpus, from the catalogue.

    sources_path (Path): configs/sources.json: {corpus name: [source, ...]}.
    corpus (str): The corpus name (its directory under corpus/).
    RETURNS (list[dict[str, str]]): Its sources; an unknown corpus gets one entry
        with an unknown licence, and a warning.
    """
    catalogue = srsly.read_json(sources_path)
    if corpus in catalogue:
        return catalogue[corpus]
    msg.warn(f"{sources_path} has no entry for corpus '{corpus}': the package lists its licence as unknown",
             "Add the corpus's sources and licences to that file.")
    return [{"name": f"corpus/{corpus}", "license": "unknown"}]


def licenses_text(corpus: str, sources: list[dict[str, str]]) -> str:
    """The text of LICENSES_SOURCES: each source of the training data with its licence.

    corpus (str): The corpus name.
    sources (list[dict[str, str]]): Its sources.
    RETURNS (str): The file's text.
    """
    lines = [f"This pipeline was trained on corpus/{corpus}, made from the sources below;",
             "their licences apply to that data, the LICENSE file to the code and the package.", ""]
    for source in sources:
        lines.append(source["name"])
        lines += [f"  {key.capitalize()}: {source[key]}" for key in ("url", "license", "author") if source.get(key)]
        lines.append("")
    return "\n".join(lines)


def check_trained_on(pipeline: Path, corpus: str) -> None:
    """Warn if the pipeline's config names another training corpus than `corpus`.

    pipeline (Path): The pipeline directory.
    corpus (str): The corpus name the licences are taken for.
    """
    paths = load_config(pipeline / "config.cfg", interpolate=False)["paths"]
    # a single-corpus config reads paths.train; the base recipe reads a corpus root (paths.corpus;
    # spacy train may add an empty paths.train beside it)
    single = paths.get("train") is not None or paths.get("corpus") is None
    trained_on = str(paths.get("train") if single else paths.get("corpus"))
    expected = Path("corpus") / corpus / ("train.spacy" if single else "")
    if Path(trained_on) != expected:
        msg.warn(f"{pipeline} was trained on {trained_on}, not {expected}",
                 f"The package's LICENSES_SOURCES describes corpus '{corpus}': pass the corpus it was trained on.")


def stage(pipeline: Path, staging: Path, corpus: str, sources: list[dict[str, str]], license_path: Path) -> None:
    """Copy the pipeline to `staging` and add the licence files and meta sources.

    pipeline (Path): The trained pipeline directory.
    staging (Path): Where the copy goes (must not exist).
    corpus (str): The corpus name.
    sources (list[dict[str, str]]): The corpus's sources.
    license_path (Path): The project's LICENSE file.
    """
    shutil.copytree(pipeline, staging)
    shutil.copyfile(license_path, staging / "LICENSE")
    (staging / "LICENSES_SOURCES").write_text(licenses_text(corpus, sources), encoding="utf8")
    meta: dict[str, Any] = srsly.read_json(staging / "meta.json")
    meta["sources"] = sources
    srsly.write_json(staging / "meta.json", meta)


def main(
    pipeline: Path = typer.Argument(..., exists=True, file_okay=False, help="The trained pipeline directory"),
    output_dir: Path = typer.Argument(..., help="Where `spacy package` writes the package directory"),
    corpus: str = typer.Option(..., "--corpus", help="The corpus it was trained on (its name under corpus/)"),
    name: str = typer.Option(..., "--name", help="The package name (without the language prefix)"),
    version: str = typer.Option(..., "--version", help="The package version"),
    meta_path: Path = typer.Option(ROOT / "configs" / "meta.json", "--meta-path", exists=True, dir_okay=False),
    sources_path: Path = typer.Option(ROOT / "configs" / "sources.json", "--sources", exists=True, dir_okay=False),
    license_path: Path = typer.Option(ROOT / "LICENSE", "--license", exists=True, dir_okay=False),
) -> None:
    """Build a wheel of a trained pipeline with its licences (spacy package --build wheel)."""
    check_trained_on(pipeline, corpus)
    sources = corpus_sources(sources_path, corpus)
    output_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bioner-package-") as tmp:
        staged = Path(tmp) / pipeline.name
        stage(pipeline, staged, corpus, sources, license_path)
        cmd = [sys.executable, "-m", "spacy", "package", str(staged), str(output_dir), "--name", name,
               "--version", version, "--meta-path", str(meta_path), "--build", "wheel", "--force"]
        if subprocess.run(cmd, check=False).returncode != 0:
            msg.fail("spacy package failed", " ".join(cmd), exits=1)


if __name__ == "__main__":
    typer.run(main)
