"""The Ray engine on a cluster it connects to: two nodes of one CPU each on this
machine (ray.cluster_utils), reached through `address` and through RAY_ADDRESS,
as on a real cluster. The actors (one per node) write the local engine's bytes."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from engine_fakes import output_tree, write_jsonl_corpus

from spacy_bioner.annotate.run import AnnotateOptions, annotate_corpus

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")


@pytest.fixture(scope="module")
def two_node_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    from ray.cluster_utils import Cluster

    if ray.is_initialized():
        ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                           "object_store_memory": 96 * 1024**2})
    cluster.add_node(num_cpus=1, object_store_memory=96 * 1024**2)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def _options(pipeline: Path, tmp_path: Path, out: str, **kwargs: Any) -> AnnotateOptions:
    return AnnotateOptions(str(pipeline), str(tmp_path / "corpus"), str(tmp_path / out), "jsonl",
                           shard_size=2, progress=False, **kwargs)


def test_two_nodes_by_address_and_by_ray_address(two_node_cluster: Any, annotate_pipeline_dir: Path,
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray

    write_jsonl_corpus(tmp_path / "corpus", files=2, docs=5)
    local = annotate_corpus(_options(annotate_pipeline_dir, tmp_path, "local"))
    by_address = annotate_corpus(_options(annotate_pipeline_dir, tmp_path, "address", engine="ray", workers=2,
                                          address=two_node_cluster.address))
    assert not ray.is_initialized()  # the engine disconnected; the cluster itself runs on
    assert len([n for n in ray_nodes(two_node_cluster) if n["Alive"]]) == 2
    monkeypatch.setenv("RAY_ADDRESS", two_node_cluster.address)
    by_env = annotate_corpus(_options(annotate_pipeline_dir, tmp_path, "env", engine="ray", workers=2))
    assert output_tree(tmp_path / "address") == output_tree(tmp_path / "local") == output_tree(tmp_path / "env")
    assert by_address["counts"] == {**by_address["counts"], "in": 10, "done": 10, "failed": 0}
    assert by_address["counts"]["spans"] == by_env["counts"]["spans"] == local["counts"]["spans"]


def ray_nodes(cluster: Any) -> list[dict[str, Any]]:
    import ray

    ray.init(address=cluster.address, logging_level="ERROR")
    try:
        return list(ray.nodes())
    finally:
        ray.shutdown()
