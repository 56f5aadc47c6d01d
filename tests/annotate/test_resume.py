"""Tests of resuming a run of `annotate`: only the unfinished shards are done
again, other options or a changed input are refused, and a run killed
(SIGKILL) and resumed writes the bytes of a run that was never interrupted."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import FakeTagger, output_tree, write_jsonl_corpus

from spacy_bioner.annotate.manifest import STATE_DIR, STATUS_DIR, AnnotateError
from spacy_bioner.annotate.outputs import write_shard
from spacy_bioner.annotate.run import AnnotateOptions, RunSpec, ShardContext, annotate_corpus
from spacy_bioner.annotate.types import Shard
from spacy_bioner.errors import BioNERInputError


def _setup(log: list[int], fail_at: int | None = None) -> Callable[[RunSpec], ShardContext]:
    """A context whose writer logs the shards it writes and fails (disk full) on one."""

    def write(docs: Any, shard: Shard, *args: Any) -> list[str]:
        if shard.index == fail_at:
            raise OSError(28, "No space left on device")
        log.append(shard.index)
        return write_shard(docs, shard, *args)

    return lambda spec: ShardContext(spec, FakeTagger(), write=write)


def _options(tmp_path: Path, out: str, **kwargs: Any) -> AnnotateOptions:
    return AnnotateOptions(str(tmp_path), str(tmp_path / "corpus"), str(tmp_path / out), "jsonl",
                           shard_size=4, progress=False, **kwargs)


@pytest.fixture
def interrupted(tmp_path: Path) -> Path:
    """A run stopped by a failed write at shard 3 (of 6): shards 0-2 are finished."""
    write_jsonl_corpus(tmp_path / "corpus", files=2, docs=12, bad=[(1, 2)])
    with pytest.raises(AnnotateError, match=r"\[E977\] Could not write the output of shard 3"):
        annotate_corpus(_options(tmp_path, "out"), setup=_setup([], fail_at=3))
    return tmp_path


def test_resume_does_only_the_unfinished_shards(interrupted: Path) -> None:
    records = interrupted / "out" / STATE_DIR / STATUS_DIR
    assert sorted(p.name for p in records.iterdir()) == ["000000.json", "000001.json", "000002.json"]
    log: list[int] = []
    manifest = annotate_corpus(_options(interrupted, "out", resume=True), setup=_setup(log))
    assert log == [3, 4, 5]
    assert manifest["this_run"]["documents"] == 12
    reference = annotate_corpus(_options(interrupted, "reference"), setup=_setup([]))
    assert output_tree(interrupted / "out") == output_tree(interrupted / "reference")
    assert manifest["counts"] == {**reference["counts"], "seconds": manifest["counts"]["seconds"]}
    assert manifest["counts"]["failed"] == 1 and manifest["counts"]["in"] == 24
    assert manifest["failures"] == reference["failures"]


def test_resuming_a_complete_run_does_nothing(interrupted: Path) -> None:
    annotate_corpus(_options(interrupted, "out", resume=True), setup=_setup([]))
    before = output_tree(interrupted / "out")
    log: list[int] = []
    manifest = annotate_corpus(_options(interrupted, "out", resume=True), setup=_setup(log))
    assert log == [] and manifest["this_run"]["documents"] == 0
    assert manifest["counts"]["in"] == 24
    assert output_tree(interrupted / "out") == before


@pytest.mark.parametrize("change,option", [
    ({"existing": "replace"}, "--existing"),
    ({"batch_size": 8}, "--batch-size"),
    ({"output_format": "bioc-json"}, "--output-format"),
    ({"labels": {"Disease": None}}, "--labels"),
])
def test_resume_with_other_options_is_refused(interrupted: Path, change: dict[str, Any], option: str) -> None:
    with pytest.raises(BioNERInputError, match=r"\[E967\]") as err:
        annotate_corpus(_options(interrupted, "out", resume=True, **change), setup=_setup([]))
    assert option in str(err.value)


def test_resume_with_another_pipeline_or_input_is_refused(interrupted: Path) -> None:
    options = _options(interrupted, "out", resume=True)
    options.pipeline = str(interrupted / "corpus")
    with pytest.raises(BioNERInputError, match=r"\[E967\].*PIPELINE"):
        annotate_corpus(options, setup=_setup([]))
    with (interrupted / "corpus" / "part0.jsonl").open("a", encoding="utf8") as fh:
        fh.write('{"id": "new", "text": "one more"}\n')
    with pytest.raises(BioNERInputError, match=r"\[E968\].*part0.jsonl"):
        annotate_corpus(_options(interrupted, "out", resume=True), setup=_setup([]))


def test_a_run_in_output_needs_resume_or_overwrite(interrupted: Path) -> None:
    with pytest.raises(BioNERInputError, match=r"\[E966\]"):
        annotate_corpus(_options(interrupted, "out"), setup=_setup([]))
    log: list[int] = []
    annotate_corpus(_options(interrupted, "out", overwrite=True), setup=_setup(log))
    assert log == list(range(6))


# -- kill and resume, through the command line ------------------------------------------------
def _children(pid: int) -> list[int]:
    """The live child processes of `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _annotate_args(pipeline: Path, corpus: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "spacy_bioner", "annotate", str(pipeline), str(corpus), str(out),
            "--format", "jsonl", "--shard-size", "3", "--quiet", *extra]


def test_a_killed_run_resumed_writes_the_bytes_of_an_uninterrupted_run(annotate_pipeline_dir: Path,
                                                                        tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "corpus", files=3, docs=150, bad=[(1, 7)])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out, reference = tmp_path / "out", tmp_path / "reference"
    subprocess.run(_annotate_args(annotate_pipeline_dir, corpus, reference), check=True, cwd=tmp_path,
                   env=env, capture_output=True)
    records = out / STATE_DIR / STATUS_DIR
    proc = subprocess.Popen(_annotate_args(annotate_pipeline_dir, corpus, out, "--workers", "2"), cwd=tmp_path,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _wait_for(lambda: records.is_dir() and len(list(records.glob("*.json"))) >= 5, 120)
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    # the workers end with their parent: none goes on writing into OUTPUT
    assert _wait_for(lambda: not any(_alive(pid) for pid in workers), 10)
    finished = len(list(records.glob("*.json")))
    assert not (out / "manifest.json").exists() and 5 <= finished < 150
    resumed = subprocess.run(_annotate_args(annotate_pipeline_dir, corpus, out, "--resume"), cwd=tmp_path,
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "450 documents: 449 done, 1 failed" in resumed.stdout
    assert output_tree(out) == output_tree(reference)
    assert sorted(output_tree(out)) == ["part0.jsonl", "part1.jsonl", "part2.jsonl"]
    manifest, expected = (json.loads((path / "manifest.json").read_text()) for path in (out, reference))
    assert manifest["counts"]["in"] == manifest["counts"]["done"] + manifest["counts"]["failed"] == 450
    assert {k: v for k, v in manifest["counts"].items() if k != "seconds"} == \
        {k: v for k, v in expected["counts"].items() if k != "seconds"}
    assert manifest["failures"] == expected["failures"]
    assert manifest["failures"][0]["file"] == "part1.jsonl:8"
