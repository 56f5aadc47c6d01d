"""Running `annotate`: the work of one shard, done by every engine's workers,
and the run as a whole (plan or resume, hand the unfinished shards to an
engine, assemble, write the manifest).

A shard is read (`inputs.read_documents`), tagged (`predict.Annotator`),
written (`outputs.write_shard`, atomically) and then marked finished by its
status record. Its output depends on its documents and the run's settings
only, so a shard redone after a kill writes the same bytes. Every document
slot of the plan ends done or failed: a document that cannot be read or tagged
fails alone, with its file and the reason; an output that cannot be written
stops the run (`--resume` goes on).
"""
from __future__ import annotations

import os
import random
import shutil
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate, islice
from pathlib import Path
from typing import Any, Protocol

import spacy
from tqdm import tqdm

from ..corpora.base import SourceDocument
from ..errors import BioNERInputError, Errors
from . import inputs, outputs
from .html import write_html
from .local import run_local
from .manifest import (
    AnnotateError,
    InputFile,
    Plan,
    build_manifest,
    check_resume,
    make_shards,
    prepare_output,
    read_manifest,
    read_statuses,
    write_manifest,
    write_plan,
    write_status,
)
from .progress import Progress
from .ray_engine import run_ray
from .types import EXISTING_POLICIES, INPUT_FORMATS, OUTPUT_FORMATS, Failure, Shard, ShardResult

ENGINES = ("local", "ray")
#: The page `--html N` writes into OUTPUT.
HTML_FILE = "sample.html"


class Tagger(Protocol):
    """What run_shard needs of an Annotator."""

    words: int

    def annotate(self, docs: Sequence[SourceDocument]) -> list[SourceDocument | Failure]: ...


@dataclass(frozen=True)
class RunSpec:
    """What a worker needs to build its context: plain data, picklable for
    worker processes and Ray actors. Paths are absolute (workers may run
    elsewhere)."""

    pipeline: str
    root: str
    output: str
    input_format: str
    output_format: str
    existing: str = "keep"
    labels: dict[str, str | None] | None = None
    batch_size: int = 64


@dataclass
class ShardContext:
    """A worker's means to do shards: its tagger (the loaded pipeline), and the
    reader and writer (replaceable in tests)."""

    spec: RunSpec
    tagger: Tagger
    read: Callable[..., Iterator[SourceDocument | Failure]] = inputs.read_documents
    write: Callable[..., list[str]] = outputs.write_shard
    check: Callable[..., tuple[list[SourceDocument], list[Failure]]] = outputs.writable


def make_context(spec: RunSpec) -> ShardContext:
    """Load the pipeline for one worker.

    spec (RunSpec): The run.
    RETURNS (ShardContext): The context, with an Annotator.
    RAISES (BioNERInputError): If the pipeline cannot be loaded or the labels not set.
    """
    from .predict import load_annotator

    return ShardContext(spec, load_annotator(spec.pipeline, labels=spec.labels, batch_size=spec.batch_size))


def _read_slots(shard: Shard, context: ShardContext) -> list[SourceDocument | Failure]:
    """The shard's documents, exactly `shard.count` slots: what the reader
    could not give (it raised, or the file has fewer documents now) fails."""
    spec = context.spec
    root = Path(spec.root)
    slots: list[SourceDocument | Failure] = []
    reader = context.read(root / shard.file, spec.input_format, root, first=shard.first, count=shard.count)
    try:
        slots.extend(islice(reader, shard.count))
    except Exception as err:  # an unforeseen reading problem fails the rest of this shard only
        reason = Errors.E979.format(err=f"{type(err).__name__}: {err}")
        slots += [Failure(shard.file, f"#{n + 1}", reason) for n in range(shard.first + len(slots),
                                                                         shard.first + shard.count)]
    slots += [Failure(shard.file, f"#{n + 1}", Errors.E978) for n in range(shard.first + len(slots),
                                                                           shard.first + shard.count)]
    return slots


def _tag_slots(slots: list[SourceDocument | Failure], tagger: Tagger) -> None:
    """Replace each document of `slots` by its tagged copy, or its Failure."""
    positions = [i for i, slot in enumerate(slots) if isinstance(slot, SourceDocument)]
    if positions:
        tagged = tagger.annotate([slot for slot in slots if isinstance(slot, SourceDocument)])
        for i, item in zip(positions, tagged, strict=True):
            slots[i] = item


def _write(docs: Sequence[SourceDocument], shard: Shard, context: ShardContext) -> list[str]:
    """Write documents as the shard's output; a file-system failure stops the run."""
    spec = context.spec
    output = Path(spec.output)
    try:
        return context.write(docs, shard, output, spec.output_format, spec.existing)
    except (OSError, BioNERInputError) as err:
        if isinstance(err, OSError) or isinstance(err.__context__, OSError):
            raise AnnotateError(Errors.E977.format(index=shard.index, file=shard.file, path=output,
                                                   err=err)) from err
        raise


def _write_slots(slots: list[SourceDocument | Failure], shard: Shard, context: ShardContext) -> list[str]:
    """Write the shard's documents. A document the output format cannot hold
    (found by the writer's own check, `outputs.writable`, which also catches
    documents that clash with each other, e.g. two with one BRAT name) fails
    alone, and the shard is written without it."""
    docs = [slot for slot in slots if isinstance(slot, SourceDocument)]
    spec = context.spec
    good, failures = context.check(docs, shard, spec.output_format, spec.existing)
    if failures:
        kept = {id(doc) for doc in good}
        bad = iter(failures)
        for i, slot in enumerate(slots):
            if isinstance(slot, SourceDocument) and id(slot) not in kept:
                slots[i] = next(bad)
    try:
        return _write(good, shard, context)
    except BioNERInputError as err:  # a refusal the check did not foresee: a bug, named with its shard
        raise AnnotateError(Errors.E976.format(index=shard.index, file=shard.file, err=err)) from err


def run_shard(shard: Shard, context: ShardContext) -> ShardResult:
    """Read, tag and write one shard, then write its status record.

    shard (Shard): The shard.
    context (ShardContext): The worker's tagger, reader and writer.
    RETURNS (ShardResult): What was done (also written as the status record).
    RAISES (AnnotateError): If the output cannot be written (no status record then).
    """
    start = time.perf_counter()
    slots = _read_slots(shard, context)
    words = context.tagger.words
    _tag_slots(slots, context.tagger)
    written = _write_slots(slots, shard, context)
    docs = [slot for slot in slots if isinstance(slot, SourceDocument)]
    result = ShardResult(shard, done=len(docs), failures=[s for s in slots if isinstance(s, Failure)],
                         words=context.tagger.words - words,
                         spans=sum(ann.score is not None for doc in docs for ann in doc.annotations),
                         outputs=list(written), seconds=round(time.perf_counter() - start, 3))
    write_status(Path(context.spec.output), result)
    return result


@dataclass
class AnnotateOptions:
    """The options of a run (the `annotate` command's arguments).

    pipeline (str): A saved pipeline's directory or an installed package's name.
    input (str): INPUT: a file, a directory or a glob.
    output (str): OUTPUT: the directory to write into.
    input_format (str): One of INPUT_FORMATS.
    output_format (str | None): One of OUTPUT_FORMATS; None: the input format (brat for text).
    labels (dict[str, str | None] | None): Labels to tag with (bioner_prompted), or the pipeline's.
    existing (str): What to do with the input's annotations: keep | replace.
    batch_size (int): Documents per nlp.pipe batch.
    shard_size (int): Most documents per shard.
    workers (int): Worker processes (local) or actors (ray).
    engine (str): local | ray.
    address (str | None): The Ray cluster (else RAY_ADDRESS, else a local cluster).
    resume (bool): Finish the run in OUTPUT.
    overwrite (bool): Delete the run in OUTPUT and start again.
    html (int): Write a displaCy page of this many tagged documents (0: none).
    progress (bool): Show progress bars.
    """

    pipeline: str
    input: str
    output: str
    input_format: str
    output_format: str | None = None
    labels: dict[str, str | None] | None = None
    existing: str = "keep"
    batch_size: int = 64
    shard_size: int = 256
    workers: int = 1
    engine: str = "local"
    address: str | None = None
    resume: bool = False
    overwrite: bool = False
    html: int = 0
    progress: bool = True

    @property
    def out_format(self) -> str:
        """RETURNS (str): The output format (text input: brat, a .txt and an .ann per document)."""
        if self.output_format is not None:
            return self.output_format
        return "brat" if self.input_format == "text" else self.input_format

    def validate(self) -> None:
        """RAISES (BioNERInputError): E971 for an option out of its range."""
        choices = {"--format": (self.input_format, INPUT_FORMATS),
                   "--output-format": (self.out_format, OUTPUT_FORMATS),
                   "--existing": (self.existing, EXISTING_POLICIES), "--engine": (self.engine, ENGINES)}
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise BioNERInputError(Errors.E971.format(name=name, value=value,
                                                          what=f"choose one of {', '.join(allowed)}"))
        numbers = {"--batch-size": self.batch_size, "--shard-size": self.shard_size, "--workers": self.workers}
        for name, number in numbers.items():
            if isinstance(number, bool) or not isinstance(number, int) or number < 1:
                raise BioNERInputError(Errors.E971.format(name=name, value=number, what="give a whole number >= 1"))
        if isinstance(self.html, bool) or not isinstance(self.html, int) or self.html < 0:
            raise BioNERInputError(Errors.E971.format(name="--html", value=self.html, what="give a whole number >= 0"))


def resolve_pipeline(name: str, engine: str) -> str:
    """The pipeline as workers load it: an absolute directory or a package name.

    name (str): PIPELINE.
    engine (str): local | ray (on a Ray cluster it may exist on the workers only).
    RETURNS (str): The absolute path of an existing directory, else `name`.
    RAISES (BioNERInputError): E972 if the local engine cannot find it.
    """
    path = Path(name)
    if path.exists():
        return str(path.resolve())
    if engine == "local" and not spacy.util.is_package(name):
        raise BioNERInputError(Errors.E972.format(name=name))
    return name


def _settings(options: AnnotateOptions, pipeline: str) -> dict[str, Any]:
    """The plan's settings (manifest.SETTINGS), as they read back from JSON."""
    labels = None if options.labels is None else [[k, v] for k, v in options.labels.items()]
    return {"format": options.input_format, "output_format": options.out_format, "pipeline": pipeline,
            "labels": labels, "existing": options.existing, "batch_size": options.batch_size,
            "shard_size": options.shard_size}


def _new_plan(options: AnnotateOptions, settings: dict[str, Any], root: Path, paths: Sequence[Path]) -> Plan:
    """Count the documents of every input file and cut them into shards."""
    files = [InputFile(inputs.relative_name(path, root), path.stat().st_size,
                       inputs.count_documents(path, options.input_format, root))
             for path in tqdm(paths, desc="Planning", unit=" files", disable=not options.progress,
                              leave=False)]
    return Plan(str(options.input), str(root), settings, files, make_shards(files, options.shard_size))


def annotate_corpus(options: AnnotateOptions, *,
                    setup: Callable[[RunSpec], ShardContext] = make_context) -> dict[str, Any]:
    """Tag a corpus and write the predictions back, resumably.

    options (AnnotateOptions): The run.
    setup (Callable[[RunSpec], ShardContext]): Builds a worker's context; a
        module-level function (worker processes import it).
    RETURNS (dict[str, Any]): The manifest (also OUTPUT/manifest.json), with
        "this_run": documents, words and seconds of this invocation, and with
        `html`, "sample": the page and its number of documents.
    RAISES (BioNERInputError): For bad options, input or pipeline, or an OUTPUT
        that cannot be used (see manifest.prepare_output, check_resume).
    RAISES (AnnotateError): If the run cannot go on (Ray, a worker, a write).
    """
    options.validate()
    output = Path(options.output).resolve()
    pipeline = resolve_pipeline(options.pipeline, options.engine)
    plan = prepare_output(output, resume=options.resume, overwrite=options.overwrite)
    found_root, found = inputs.discover(options.input, options.input_format)
    # absolute for the workers, but not resolved: a linked file keeps the name it has under root
    root, paths = Path(os.path.abspath(found_root)), [Path(os.path.abspath(p)) for p in found]
    settings = _settings(options, pipeline)
    if plan is None:
        plan = _new_plan(options, settings, root, paths)
        write_plan(output, plan)
    else:
        check_resume(output, plan, settings, [(inputs.relative_name(p, root), p.stat().st_size) for p in paths])
    spec = RunSpec(pipeline, str(root), str(output), options.input_format, options.out_format,
                   options.existing, options.labels, options.batch_size)
    manifest = read_manifest(output)
    if manifest is None:
        manifest = _execute(plan, spec, options, setup)
    else:
        manifest["this_run"] = {"documents": 0, "words": 0, "seconds": 0.0}
    if options.html:
        shown = write_sample(plan, spec, setup, options.html, output / HTML_FILE)
        manifest["sample"] = {"path": str(output / HTML_FILE), "documents": shown}
    return manifest


def _engine(options: AnnotateOptions) -> Callable[..., None]:
    if options.engine == "ray":
        return partial(run_ray, address=options.address)
    return run_local


def _execute(plan: Plan, spec: RunSpec, options: AnnotateOptions,
             setup: Callable[[RunSpec], ShardContext]) -> dict[str, Any]:
    """Do the unfinished shards, then assemble the outputs and write the manifest."""
    output = Path(spec.output)
    finished = read_statuses(output, plan)
    pending = [shard for shard in plan.shards if shard.index not in finished]
    initial = sum(result.shard.count for result in finished.values())
    with Progress(plan.total, initial, enabled=options.progress) as progress:
        _engine(options)(pending, spec, setup=setup, work=run_shard, workers=options.workers,
                         on_result=progress.update)
    results = read_statuses(output, plan)
    missing = [shard.index for shard in plan.shards if shard.index not in results]
    if missing:
        raise AnnotateError(Errors.E980.format(path=output, shards=", ".join(map(str, missing[:10]))))
    assembled = outputs.assemble(output, plan.shards, spec.output_format)
    written = set(assembled) | {name for result in results.values() for name in result.outputs
                                if not name.startswith(f"{outputs.SHARDS_DIR}/")}
    manifest = build_manifest(plan, results, sorted(written), progress.seconds)
    counts = manifest["counts"]
    if counts["done"] + counts["failed"] != counts["in"]:
        raise AnnotateError(Errors.E981.format(path=output, n=counts["in"], done=counts["done"],
                                               failed=counts["failed"]))
    write_manifest(output, manifest)
    shutil.rmtree(output / outputs.SHARDS_DIR, ignore_errors=True)
    manifest["this_run"] = {"documents": progress.documents, "words": progress.words,
                            "seconds": round(progress.seconds, 3)}
    return manifest


def write_sample(plan: Plan, spec: RunSpec, setup: Callable[[RunSpec], ShardContext], n: int,
                 path: Path, seed: int = 0) -> int:
    """Tag a reproducible random sample of `n` documents of the run again and
    write them as a displaCy page (`html.write_html`).

    plan (Plan): The run's plan (where the documents are).
    spec (RunSpec): The run.
    setup (Callable[[RunSpec], ShardContext]): Builds the tagger and reader.
    n (int): How many documents to show.
    path (Path): The page.
    seed (int): The sampling seed.
    RETURNS (int): The number of documents on the page (fewer than n if the
        corpus is smaller or sampled documents failed).
    """
    context = setup(spec)
    starts = [0, *accumulate(shard.count for shard in plan.shards)]
    candidates = random.Random(seed).sample(range(plan.total), min(plan.total, 3 * n))
    docs: list[SourceDocument] = []
    for slot in candidates:
        if len(docs) == n:
            break
        shard = plan.shards[bisect_right(starts, slot) - 1]
        single = Shard(shard.index, shard.file, shard.first + slot - starts[shard.index], 1)
        docs += [d for d in _read_slots(single, context) if isinstance(d, SourceDocument)]
    tagged = [d for d in context.tagger.annotate(docs) if isinstance(d, SourceDocument)]
    return write_html(tagged, path, n, seed=seed) if tagged else 0
