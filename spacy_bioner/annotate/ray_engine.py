"""The Ray engine of `annotate` (`--engine ray`): shards tagged by a pool of
Ray actors through Ray Data, on a cluster or on a local one.

The shards become a dataset of one row (a shard, as JSON) per block, mapped by
`map_batches` with a fixed pool of N actors (`ActorPoolStrategy(size=N)`, what
``concurrency=N`` meant before Ray 2.51); each actor loads the pipeline once,
in its constructor, and calls the same `run_shard` as the local engine, so a
shard writes the same bytes and status record whichever engine did it. The
driver only collects the results (for the progress bar) and, after the run,
assembles the outputs and writes the manifest.

The cluster: `--address` or RAY_ADDRESS if given (`ray.init` connects), else a
local cluster started for the run and shut down after it. On a real cluster
the pipeline must load on every node (an installed `spacy package` wheel, or
a directory on shared storage) and OUTPUT must be on shared storage. When the
cluster has GPUs each actor gets one (and uses it through thinc, as spaCy's
`prefer_gpu` does).

Ray is an optional dependency (the `ray` extra): it is imported only here,
only when the engine runs.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, TypeVar

from wasabi import msg

from ..errors import Errors
from .local import failure_report, raise_report
from .manifest import AnnotateError
from .types import Shard, ShardResult

S = TypeVar("S")
C = TypeVar("C")
# the object store holds only shard descriptions and results: keep a local cluster's small
_OBJECT_STORE_BYTES = 256 * 1024**2


def import_ray() -> ModuleType:
    """RETURNS (ModuleType): ray, with Ray Data.
    RAISES (AnnotateError): E973 naming the extra to install."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as err:
        raise AnnotateError(Errors.E973.format(err=err)) from err
    return ray


def connect(ray: ModuleType, address: str | None, num_cpus: int | None = None) -> bool:
    """Connect to the cluster at `address` or RAY_ADDRESS, else start a local one.

    ray (ModuleType): The ray module.
    address (str | None): A cluster address ("auto", "ray://host:10001", "host:6379").
    num_cpus (int | None): CPUs of a local cluster (None: all).
    RETURNS (bool): Whether this call started Ray (and should shut it down).
    RAISES (AnnotateError): E974 if the cluster cannot be reached.
    """
    if ray.is_initialized():
        return False
    target = address or os.environ.get("RAY_ADDRESS")
    kwargs: dict[str, Any] = {"logging_level": logging.WARNING}
    if target:
        kwargs["address"] = target
    else:
        kwargs.update(num_cpus=num_cpus, include_dashboard=False, object_store_memory=_OBJECT_STORE_BYTES)
    try:
        ray.init(**kwargs)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise AnnotateError(Errors.E974.format(address=target, err=err)) from err
    return True


def actor_resources(ray: ModuleType, workers: int) -> tuple[int, float, int]:
    """What each actor asks for: CPUs (the cluster's share, at most one node's),
    a GPU if the cluster has any, and how many actors fit.

    ray (ModuleType): The ray module (connected).
    workers (int): Actors asked for.
    RETURNS (tuple[int, float, int]): CPUs per actor, GPUs per actor, actors.
    """
    total = ray.cluster_resources()
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    largest = max((int(res.get("CPU", 0)) for res in nodes), default=1)
    cpus = max(1, min(int(total.get("CPU", 1)) // workers, largest))
    gpus = int(total.get("GPU", 0))
    if gpus and workers > gpus:
        msg.warn(f"The Ray cluster has {gpus} GPU(s): running {gpus} actor(s), one per GPU, "
                 f"instead of {workers}.")
        workers = gpus
    return cpus, (1.0 if gpus else 0.0), workers


class ShardActor:
    """A Ray Data actor: loads the pipeline once, then does one shard per row.

    Failures travel as rows (`local.failure_report`), not as exceptions, so the
    driver raises the worker's own message (e.g. the pipeline's [E985]) instead
    of Ray's wrapping of it.

    spec (Any): The run (RunSpec).
    setup (Callable[[Any], Any]): Builds the context (loads the pipeline).
    work (Callable[[Shard, Any], ShardResult]): Does one shard (run_shard).
    threads (int): Torch threads (the actor's CPUs).
    gpu (bool): Whether the actor has a GPU to use.
    """

    def __init__(self, spec: Any, setup: Callable[[Any], Any], work: Callable[[Shard, Any], ShardResult],
                 threads: int, gpu: bool) -> None:
        import torch

        torch.set_num_threads(threads)
        if gpu:
            import spacy

            spacy.prefer_gpu()
        self.work = work
        self.context: Any = None
        self.error: Exception | None = None
        try:
            self.context = setup(spec)
        except Exception as err:  # reported with the first shard
            self.error = err

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        rows = []
        for item in batch["shard"]:
            shard = Shard.from_dict(json.loads(str(item)))
            try:
                if self.error is not None:
                    raise self.error
                rows.append(json.dumps(["done", self.work(shard, self.context).to_dict()]))
            except Exception as err:
                rows.append(json.dumps(failure_report(err, shard)))
        return {"result": rows}


def run_ray(shards: Sequence[Shard], spec: S, *, setup: Callable[[S], C],
            work: Callable[[Shard, C], ShardResult], workers: int,
            on_result: Callable[[ShardResult], None], address: str | None = None,
            num_cpus: int | None = None) -> None:
    """Run `work` on every shard with a pool of Ray actors (same contract as local.run_local).

    shards (Sequence[Shard]): The shards to do.
    spec (S): What `setup` needs (sent to every actor).
    setup (Callable[[S], C]): Builds an actor's context (importable on the workers).
    work (Callable[[Shard, C], ShardResult]): Does one shard.
    workers (int): Actors.
    on_result (Callable[[ShardResult], None]): Called on the driver as shards finish.
    address (str | None): The cluster; None: RAY_ADDRESS, else a local cluster.
    num_cpus (int | None): CPUs of a local cluster started here (None: all).
    RAISES (AnnotateError): If Ray is missing, the cluster unreachable, or an actor fails.
    """
    if not shards:
        return
    ray = import_ray()
    started = connect(ray, address, num_cpus)
    try:
        # the driver shows its own bar; Ray Data's INFO lines and bars would garble it
        ray.data.DataContext.get_current().enable_progress_bars = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        cpus, gpus, workers = actor_resources(ray, min(workers, len(shards)))
        rows = [{"shard": json.dumps(shard.to_dict())} for shard in shards]
        # one shard per block: blocks are what Ray Data hands to the next free actor
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
            ShardActor, batch_size=1, batch_format="numpy", compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cpus, num_gpus=gpus or None,
            fn_constructor_kwargs={"spec": spec, "setup": setup, "work": work, "threads": cpus,
                                   "gpu": bool(gpus)})
        for row in dataset.iter_rows():
            kind, payload = json.loads(str(row["result"]))
            if kind != "done":
                raise_report(kind, payload)
            on_result(ShardResult.from_dict(payload))
    finally:
        if started:
            ray.shutdown()
