"""Tests of the local engine (spacy_bioner.annotate.local): in-process and
spawned workers, the same bytes either way, and failing or dying workers; and
of run_shard, which it runs: what fails alone."""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import (
    FakeTagger,
    bad_input_setup,
    buggy_work,
    dying_work,
    fake_setup,
    output_tree,
    pid_setup,
    threads_work,
    write_jsonl_corpus,
)

from spacy_bioner.annotate.inputs import read_documents
from spacy_bioner.annotate.local import run_local, torch_threads
from spacy_bioner.annotate.manifest import AnnotateError
from spacy_bioner.annotate.run import AnnotateOptions, RunSpec, ShardContext, annotate_corpus
from spacy_bioner.annotate.types import Failure, Shard, ShardResult
from spacy_bioner.corpora.base import SourceDocument
from spacy_bioner.errors import BioNERInputError

SHARDS = [Shard(i, f"f{i % 2}", (i // 2) * 3, 3) for i in range(6)]


def test_two_spawned_workers_write_the_bytes_of_one(annotate_pipeline_dir: Path, tmp_path: Path) -> None:
    corpus = write_jsonl_corpus(tmp_path / "corpus", files=2, docs=12)
    trees, manifests = [], []
    for workers in (1, 2):
        out = tmp_path / f"out{workers}"
        manifests.append(annotate_corpus(AnnotateOptions(
            str(annotate_pipeline_dir), str(corpus), str(out), "jsonl", shard_size=4, workers=workers,
            progress=False)))
        trees.append(output_tree(out))
    assert sorted(trees[0]) == ["part0.jsonl", "part1.jsonl"]
    assert trees[0] == trees[1]
    counts = [{k: v for k, v in m["counts"].items() if k != "seconds"} for m in manifests]
    assert counts[0] == counts[1]
    assert counts[0]["in"] == counts[0]["done"] == 24
    assert counts[0]["spans"] > 0  # the pipeline predicts something, so equal bytes say something


def test_one_worker_runs_in_this_process() -> None:
    calls: list[int] = []

    def setup(spec: str) -> dict[str, int]:
        calls.append(os.getpid())
        return {"pid": os.getpid()}

    results: list[ShardResult] = []
    run_local(SHARDS, "spec", setup=setup, work=threads_work, workers=1, on_result=results.append)
    assert calls == [os.getpid()]
    assert [r.shard for r in results] == SHARDS
    assert {r.spans for r in results} == {os.getpid()}


def test_spawned_workers_split_the_torch_threads_and_do_every_shard_once() -> None:
    results: list[ShardResult] = []
    run_local(SHARDS, "spec", setup=pid_setup, work=threads_work, workers=2, on_result=results.append)
    assert sorted(r.shard.index for r in results) == list(range(len(SHARDS)))
    assert {r.words for r in results} == {torch_threads(2)}
    pids = {r.spans for r in results}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2


def test_torch_threads_share_the_cpus() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert torch_threads(1) == cpus
    assert torch_threads(cpus) == 1
    assert torch_threads(cpus * 4) == 1


def test_a_worker_that_cannot_load_the_pipeline_stops_the_run_with_its_message() -> None:
    with pytest.raises(BioNERInputError, match=r"\[E985\] Pipeline 'nowhere'"):
        run_local(SHARDS, "spec", setup=bad_input_setup, work=threads_work, workers=2, on_result=print)


def test_a_dead_worker_stops_the_run() -> None:
    results: list[ShardResult] = []
    with pytest.raises(AnnotateError, match=r"\[E975\].*exit code 3.*--resume"):
        run_local(SHARDS, "spec", setup=pid_setup, work=dying_work, workers=2, on_result=results.append)
    assert 1 not in {r.shard.index for r in results}


def test_a_bug_in_a_worker_names_the_shard() -> None:
    with pytest.raises(AnnotateError, match=r"\[E976\] A worker failed on shard 2 \(f0\): KeyError"):
        run_local(SHARDS, "spec", setup=pid_setup, work=buggy_work, workers=2, on_result=lambda r: None)


# -- run_shard: what fails alone -------------------------------------------------------------
def _raising_setup(spec: RunSpec) -> ShardContext:
    """A reader that gives one document of each shard, then raises."""

    def read(*args: Any, **kwargs: Any) -> Iterator[SourceDocument | Failure]:
        yield next(read_documents(*args, **kwargs))
        raise RuntimeError("reader bug")

    return ShardContext(spec, FakeTagger(), read=read)


def _fake_run(tmp_path: Path, setup: Callable[[RunSpec], ShardContext]) -> dict[str, Any]:
    corpus = write_jsonl_corpus(tmp_path / "corpus", files=1, docs=6)
    return annotate_corpus(AnnotateOptions(str(tmp_path), str(corpus), str(tmp_path / "out"), "jsonl",
                                           shard_size=3, progress=False), setup=setup)


def test_a_document_the_writer_refuses_fails_alone(tmp_path: Path) -> None:
    # PubTator cannot hold an id with a '|': the real writer refuses that document only
    (tmp_path / "corpus").mkdir()
    docs = [{"id": f"d{k}", "text": f"text {k}"} for k in range(6)]
    docs[1]["id"] = "d|1"
    (tmp_path / "corpus" / "part0.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf8")
    manifest = annotate_corpus(AnnotateOptions(str(tmp_path), str(tmp_path / "corpus"), str(tmp_path / "out"), "jsonl",
                                               output_format="pubtator", shard_size=3, progress=False),
                               setup=fake_setup)
    assert manifest["counts"]["done"] == 5 and manifest["counts"]["failed"] == 1
    assert [f["doc"] for f in manifest["failures"]] == ["d|1"] and "[E957]" in manifest["failures"][0]["reason"]
    ids = [line.split("|")[0] for line in (tmp_path / "out" / "part0.pubtator").read_text().splitlines() if line]
    assert ids == ["d0", "d2", "d3", "d4", "d5"]


def test_a_reader_that_raises_fails_the_rest_of_its_shard_only(tmp_path: Path) -> None:
    manifest = _fake_run(tmp_path, _raising_setup)
    assert manifest["counts"] == {**manifest["counts"], "in": 6, "done": 2, "failed": 4}
    assert [(f["file"], f["doc"]) for f in manifest["failures"]] == [
        ("part0.jsonl", "#2"), ("part0.jsonl", "#3"), ("part0.jsonl", "#5"), ("part0.jsonl", "#6")]
    assert all("[E979]" in f["reason"] and "reader bug" in f["reason"] for f in manifest["failures"])
