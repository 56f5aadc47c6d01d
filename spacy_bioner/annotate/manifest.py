"""What a run of `annotate` keeps on disk: its plan, a status record per
finished shard, and the final manifest.

Layout of OUTPUT::

    .annotate/plan.json            inputs, settings, shards (written before any output)
    .annotate/shards/000042.json   status record of shard 42 (written after its outputs)
    manifest.json                  counts and failures (written last: the run is complete)

A shard is finished exactly when its status record exists; records are written
atomically (temporary file + os.replace), so a killed run leaves whole records
or none, and `--resume` redoes the shards without one. The plan holds the
settings that decide the output bytes (formats, pipeline, labels, policy,
batch and shard size): a resumed run must match them, so its outputs are the
ones an uninterrupted run writes.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import srsly

from ..errors import BioNERInputError, Errors
from .outputs import atomic_write
from .types import Shard, ShardResult

PLAN_VERSION = 1
STATE_DIR = ".annotate"
PLAN_FILE = "plan.json"
STATUS_DIR = "shards"
MANIFEST_FILE = "manifest.json"
#: Settings (plan "settings" keys) that decide the output bytes, with the option that sets each.
SETTINGS = {"format": "--format", "output_format": "--output-format", "pipeline": "PIPELINE",
            "labels": "--labels", "existing": "--existing", "batch_size": "--batch-size",
            "shard_size": "--shard-size"}


class AnnotateError(RuntimeError):
    """A run that cannot start (Ray missing or unreachable) or go on (a worker
    died, an output cannot be written). Finished shards keep their status
    records, so `--resume` goes on from there."""


@dataclass(frozen=True)
class InputFile:
    """An input file as planned: its name (relative to the input root), size and documents."""

    name: str
    size: int
    documents: int


@dataclass
class Plan:
    """A run's plan, `OUTPUT/.annotate/plan.json`.

    input (str): INPUT as given.
    root (str): The directory input file names are relative to (absolute).
    settings (dict[str, Any]): The values of SETTINGS.
    files (list[InputFile]): The input files, sorted.
    shards (list[Shard]): The shards, in order (shard i has index i).
    """

    input: str
    root: str
    settings: dict[str, Any]
    files: list[InputFile] = field(default_factory=list)
    shards: list[Shard] = field(default_factory=list)

    @property
    def total(self) -> int:
        """RETURNS (int): The number of document slots (every one ends done or failed)."""
        return sum(shard.count for shard in self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {"version": PLAN_VERSION, "input": self.input, "root": self.root,
                "settings": dict(self.settings),
                "files": [{"name": f.name, "size": f.size, "documents": f.documents} for f in self.files],
                "shards": [shard.to_dict() for shard in self.shards]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        if data.get("version") != PLAN_VERSION:
            raise ValueError(f"version {data.get('version')!r}, expected {PLAN_VERSION}")
        files = [InputFile(str(f["name"]), int(f["size"]), int(f["documents"])) for f in data["files"]]
        shards = [Shard.from_dict(s) for s in data["shards"]]
        if [s.index for s in shards] != list(range(len(shards))):
            raise ValueError("shard indexes are not 0, 1, 2, ...")
        return cls(str(data["input"]), str(data["root"]), dict(data["settings"]), files, shards)


def make_shards(files: Sequence[InputFile], shard_size: int) -> list[Shard]:
    """Cut each file's documents into shards of at most `shard_size`, never across files.

    files (Sequence[InputFile]): The input files, in plan order.
    shard_size (int): Most documents per shard.
    RETURNS (list[Shard]): The shards, numbered from 0.
    """
    shards: list[Shard] = []
    for file in files:
        for first in range(0, file.documents, shard_size):
            count = min(shard_size, file.documents - first)
            shards.append(Shard(len(shards), file.name, first, count))
    return shards


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so that `path` holds the old content or the new, never a part.

    path (Path): The target file; its directory is created.
    data (Any): JSON-serialisable data.
    RAISES (BioNERInputError): If it cannot be written.
    """
    atomic_write(path, [(json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf8")])


def _read_json(path: Path) -> Any:
    try:
        return srsly.read_json(path)
    except ValueError as err:
        raise BioNERInputError(Errors.E969.format(path=path, err=err)) from None


def plan_path(output: Path) -> Path:
    """output (Path): OUTPUT. RETURNS (Path): Its plan file."""
    return output / STATE_DIR / PLAN_FILE


def status_path(output: Path, index: int) -> Path:
    """output (Path): OUTPUT. index (int): A shard. RETURNS (Path): The shard's status record."""
    return output / STATE_DIR / STATUS_DIR / f"{index:06d}.json"


def read_plan(output: Path) -> Plan | None:
    """output (Path): OUTPUT.
    RETURNS (Plan | None): Its plan, or None if no run was planned there.
    RAISES (BioNERInputError): If the plan file is damaged."""
    path = plan_path(output)
    if not path.exists():
        return None
    try:
        return Plan.from_dict(_read_json(path))
    except (KeyError, TypeError, ValueError) as err:
        raise BioNERInputError(Errors.E969.format(path=path, err=err)) from None


def write_plan(output: Path, plan: Plan) -> None:
    """Write the plan, before any output of the run."""
    write_json_atomic(plan_path(output), plan.to_dict())


def write_status(output: Path, result: ShardResult) -> None:
    """Mark a shard finished: write its status record, after its outputs."""
    write_json_atomic(status_path(output, result.shard.index), result.to_dict())


def read_statuses(output: Path, plan: Plan) -> dict[int, ShardResult]:
    """The finished shards of a run.

    A record that cannot be read, or whose shard or counts do not match the
    plan, does not count: its shard is done again (which rewrites its outputs).

    output (Path): OUTPUT.
    plan (Plan): The run's plan.
    RETURNS (dict[int, ShardResult]): Shard index -> its result.
    """
    results: dict[int, ShardResult] = {}
    for shard in plan.shards:
        path = status_path(output, shard.index)
        if not path.exists():
            continue
        try:
            result = ShardResult.from_dict(srsly.read_json(path))
        except (KeyError, TypeError, ValueError):
            continue
        if result.shard == shard and result.done + len(result.failures) == shard.count:
            results[shard.index] = result
    return results


def _describe(value: Any) -> str:
    return "none" if value is None else repr(value)


def check_resume(output: Path, plan: Plan, settings: Mapping[str, Any], files: Iterable[tuple[str, int]]) -> None:
    """Refuse to resume a run with other settings or a changed input.

    output (Path): OUTPUT.
    plan (Plan): The run's plan.
    settings (Mapping[str, Any]): This run's values of SETTINGS.
    files (Iterable[tuple[str, int]]): The input files now: (name, size).
    RAISES (BioNERInputError): If a setting or the input differs.
    """
    for key, option in SETTINGS.items():
        if plan.settings.get(key) != settings.get(key):
            raise BioNERInputError(Errors.E967.format(
                path=output, what=option, given=_describe(settings.get(key)),
                planned=_describe(plan.settings.get(key)), plan=plan_path(output)))
    now = dict(files)
    planned = {f.name: f.size for f in plan.files}
    changes = [f"'{name}' is missing" for name in planned if name not in now]
    changes += [f"'{name}' is new" for name in now if name not in planned]
    changes += [f"'{name}' was {planned[name]} bytes, is {now[name]}" for name in planned
                if name in now and now[name] != planned[name]]
    if changes:
        more = f", and {len(changes) - 3} more" if len(changes) > 3 else ""
        raise BioNERInputError(Errors.E968.format(path=output, what="; ".join(changes[:3]) + more))


def prepare_output(output: Path, *, resume: bool, overwrite: bool) -> Plan | None:
    """Check OUTPUT before a run, and clear it for `--overwrite`.

    output (Path): OUTPUT.
    resume (bool): Finish the run planned there, if any.
    overwrite (bool): Delete the run planned there, if any.
    RETURNS (Plan | None): The plan to resume, or None to plan a new run.
    RAISES (BioNERInputError): If OUTPUT is a file, a non-empty directory that
        holds no run, or holds a run and neither flag is given.
    """
    if resume and overwrite:
        raise BioNERInputError(Errors.E970)
    if output.exists() and not output.is_dir():
        raise BioNERInputError(Errors.E965.format(path=output, what="is a file"))
    plan = read_plan(output) if output.exists() else None
    if plan is None:
        # a run killed while planning leaves only the state directory
        if output.exists() and any(p.name != STATE_DIR for p in output.iterdir()):
            raise BioNERInputError(Errors.E965.format(
                path=output, what="is not empty and holds no run of `annotate` (no .annotate/plan.json)"))
        return None
    if overwrite:
        for child in output.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        return None
    if not resume:
        state = "complete" if (output / MANIFEST_FILE).exists() else "unfinished"
        raise BioNERInputError(Errors.E966.format(path=output, state=state))
    return plan


def build_manifest(plan: Plan, results: Mapping[int, ShardResult], outputs: Sequence[str],
                   wall_seconds: float) -> dict[str, Any]:
    """The final account of a run: every planned document done or failed.

    plan (Plan): The run's plan.
    results (Mapping[int, ShardResult]): The status record of every shard.
    outputs (Sequence[str]): The output files, relative to OUTPUT.
    wall_seconds (float): Wall time of the last (resumed) part of the run.
    RETURNS (dict[str, Any]): The manifest (counts, failures, outputs, settings).
    """
    ordered = [results[shard.index] for shard in plan.shards]
    failures = [failure.to_dict() for result in ordered for failure in result.failures]
    counts = {"in": plan.total, "done": sum(r.done for r in ordered), "failed": len(failures),
              "spans": sum(r.spans for r in ordered), "words": sum(r.words for r in ordered),
              "seconds": round(sum(r.seconds for r in ordered), 3)}
    return {"input": plan.input, "settings": dict(plan.settings), "counts": counts,
            "wall_seconds": round(wall_seconds, 3), "shards": len(plan.shards),
            "outputs": sorted(outputs), "failures": failures}


def write_manifest(output: Path, manifest: dict[str, Any]) -> Path:
    """Write OUTPUT/manifest.json, last: its presence marks the run complete.
    RETURNS (Path): The file."""
    path = output / MANIFEST_FILE
    write_json_atomic(path, manifest)
    return path


def read_manifest(output: Path) -> dict[str, Any] | None:
    """RETURNS (dict[str, Any] | None): The manifest of a complete run in OUTPUT, else None."""
    path = output / MANIFEST_FILE
    return _read_json(path) if path.exists() else None
