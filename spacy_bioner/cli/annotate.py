"""``python -m spacy_bioner annotate``: tag a whole corpus with a pipeline and
write the predictions back, resumably.

A thin wrapper over :func:`spacy_bioner.annotate.run.annotate_corpus`: parse
the options, run, print "N documents: D done, F failed" and the failures.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias

import typer
from wasabi import msg

from ..annotate.manifest import MANIFEST_FILE, AnnotateError
from ..annotate.predict import parse_labels
from ..annotate.run import ENGINES, HTML_FILE, AnnotateOptions, annotate_corpus
from ..annotate.types import EXISTING_POLICIES, INPUT_FORMATS, OUTPUT_FORMATS
from ..errors import BioNERInputError
from . import app
from ._util import fail

#: Failures printed at the end; the rest are in the manifest.
SHOWN_FAILURES = 20

if TYPE_CHECKING:
    InputFormat: TypeAlias = str
    OutputFormat: TypeAlias = str
    Policy: TypeAlias = str
    Engine: TypeAlias = str
else:  # typer offers a Literal's values as the choices; each built from its one list
    InputFormat, OutputFormat = Literal[INPUT_FORMATS], Literal[OUTPUT_FORMATS]
    Policy, Engine = Literal[EXISTING_POLICIES], Literal[ENGINES]


@app.command("annotate")
def annotate_cli(
    pipeline: Annotated[str, typer.Argument(metavar="PIPELINE", help="Pipeline directory or installed package name.")],
    input_path: Annotated[str, typer.Argument(metavar="INPUT", help="Input file, directory (searched recursively) or quoted glob.")],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="Output directory (new or empty, or a run to --resume).")],
    fmt: Annotated[InputFormat, typer.Option("--format", "-f", help="Input format.")],
    output_format: Annotated[OutputFormat | None, typer.Option("--output-format", help="Output format (default: the input's; brat for text).")] = None,
    labels: Annotated[list[str] | None, typer.Option("--labels", "-l", help="Label to tag (NAME or NAME=description, repeatable) or a .json file of them; bioner_prompted only.")] = None,
    existing: Annotated[Policy, typer.Option("--existing", help="The input's annotations: keep (beside the predictions) or replace.")] = "keep",
    batch_size: Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Documents per nlp.pipe batch.")] = 64,
    shard_size: Annotated[int, typer.Option("--shard-size", min=1, help="Most documents per shard (the unit of work and of resuming).")] = 256,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes (local) or actors (ray); each loads the pipeline.")] = 1,
    engine: Annotated[Engine, typer.Option("--engine", help="local (this machine) or ray (Ray Data; the ray extra).")] = "local",
    address: Annotated[str | None, typer.Option("--address", help="Ray cluster address (default: RAY_ADDRESS, else a local cluster).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish the run in OUTPUT: keep its finished shards, redo the rest.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Delete the run in OUTPUT and start again.")] = False,
    html: Annotated[int, typer.Option("--html", min=0, help=f"Write OUTPUT/{HTML_FILE}: a displaCy page of N tagged documents.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Tag a corpus (BRAT, BioC, PubTator, JSONL or text) and write the predictions
    back, with a manifest accounting for every document. Exit code 0 when the
    run completes, even with failed documents (listed, and in manifest.json)."""
    try:
        options = AnnotateOptions(
            pipeline=pipeline, input=input_path, output=str(output), input_format=fmt,
            output_format=output_format, labels=parse_labels(labels) if labels else None,
            existing=existing, batch_size=batch_size, shard_size=shard_size, workers=workers,
            engine=engine, address=address, resume=resume, overwrite=overwrite, html=html,
            progress=not quiet)
        manifest = annotate_corpus(options)
    except (BioNERInputError, AnnotateError) as err:
        fail(str(err))
    print_summary(manifest, output)


def print_summary(manifest: dict[str, Any], output: Path) -> None:
    """Print the counts, this run's speed and the first failures.

    manifest (dict[str, Any]): From annotate_corpus.
    output (Path): OUTPUT.
    """
    counts, run = manifest["counts"], manifest["this_run"]
    line = f"{counts['in']} documents: {counts['done']} done, {counts['failed']} failed"
    (msg.warn if counts["failed"] else msg.good)(line)
    if run["seconds"] > 0:
        docs_s, words_s = run["documents"] / run["seconds"], run["words"] / run["seconds"]
        msg.info(f"This run: {run['documents']} documents in {run['seconds']:.1f} s "
                 f"({docs_s:,.1f} docs/s, {words_s:,.0f} words/s); {counts['spans']} spans predicted")
    else:
        msg.info("The run was complete already: nothing to do.")
    for failure in manifest["failures"][:SHOWN_FAILURES]:
        msg.text(f"  {failure['file']} [{failure['doc']}]: {failure['reason']}")
    rest = len(manifest["failures"]) - SHOWN_FAILURES
    if rest > 0:
        msg.text(f"  ... and {rest} more in {output / MANIFEST_FILE}")
    if "sample" in manifest:
        sample = manifest["sample"]
        msg.info(f"{sample['documents']} tagged document(s) shown in {sample['path']}")
    msg.good(f"Outputs in {output}; manifest in {output / MANIFEST_FILE}")
