"""Tests of the Ray engine (spacy_bioner.annotate.ray_engine) on a local
two-CPU Ray cluster with two actors: the bytes of the local engine, failures
of an actor, the actors' resources, and a clear error without Ray."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import output_tree, write_jsonl_corpus

from spacy_bioner.annotate.manifest import AnnotateError
from spacy_bioner.annotate.ray_engine import actor_resources, import_ray
from spacy_bioner.annotate.run import AnnotateOptions, annotate_corpus
from spacy_bioner.errors import BioNERInputError

# Ray Data's own settings warn about each other when it starts
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """A local Ray cluster of 2 CPUs for this module (the engine uses it, not a new one)."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=128 * 1024**2)
    yield ray
    ray.shutdown()


def _options(pipeline: Path, tmp_path: Path, out: str, **kwargs: Any) -> AnnotateOptions:
    return AnnotateOptions(str(pipeline), str(tmp_path / "corpus"), str(tmp_path / out), "jsonl",
                           shard_size=3, progress=False, **kwargs)


def test_two_ray_actors_write_the_bytes_of_the_local_engine(ray_cluster: Any, annotate_pipeline_dir: Path,
                                                            tmp_path: Path) -> None:
    write_jsonl_corpus(tmp_path / "corpus", files=2, docs=7, bad=[(1, 4)])
    on_ray = annotate_corpus(_options(annotate_pipeline_dir, tmp_path, "ray", engine="ray", workers=2))
    local = annotate_corpus(_options(annotate_pipeline_dir, tmp_path, "local"))
    assert sorted(output_tree(tmp_path / "ray")) == ["part0.jsonl", "part1.jsonl"]
    assert output_tree(tmp_path / "ray") == output_tree(tmp_path / "local")
    assert on_ray["failures"] == local["failures"] and len(local["failures"]) == 1
    assert on_ray["counts"]["in"] == on_ray["counts"]["done"] + on_ray["counts"]["failed"] == 14
    assert on_ray["counts"]["spans"] == local["counts"]["spans"] > 0
    assert ray_cluster.is_initialized()  # the engine used the cluster it found, and left it running


def test_an_actor_that_cannot_load_the_pipeline_fails_the_run_with_its_message(ray_cluster: Any,
                                                                                 tmp_path: Path) -> None:
    write_jsonl_corpus(tmp_path / "corpus", files=1, docs=2)
    # on a cluster the pipeline may exist on the workers only: the driver lets the actors try
    with pytest.raises(BioNERInputError, match=r"\[E985\] Pipeline 'no-such-pipeline'"):
        annotate_corpus(_options(Path("no-such-pipeline"), tmp_path, "out", engine="ray", workers=2))


def test_actor_resources_share_the_cluster(ray_cluster: Any) -> None:
    assert actor_resources(ray_cluster, 2) == (1, 0.0, 2)
    assert actor_resources(ray_cluster, 1) == (2, 0.0, 1)
    assert actor_resources(ray_cluster, 8) == (1, 0.0, 8)


def test_without_ray_the_engine_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(AnnotateError, match=r"\[E973\].*spacy-bioner\[ray\]"):
        import_ray()
