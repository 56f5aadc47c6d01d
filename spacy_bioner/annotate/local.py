"""The local engine of `annotate`: shards tagged on this machine, in this
process (one worker) or in worker processes.

Workers are started with the ``spawn`` method, never ``fork``: a forked child
inherits torch's thread pools and locks in whatever state the parent's threads
left them, which is how spaCy's ``n_process`` hangs with torch models. Each
worker loads the pipeline once (on its first shard, so a pipeline that cannot
be loaded is reported like any other error) and uses cpu_count // N torch
threads, so N workers do not fight over the cores. Shards are handed out one
at a time as workers finish theirs (a slow shard does not hold up the others),
and a worker holds one shard's documents at a time, so memory stays flat
however large the corpus. A worker whose parent dies (killed) exits at once;
the finished shards have their status records, the rest is redone by
`--resume`.
"""
from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from typing import Any, NoReturn, TypeVar

from ..errors import BioNERInputError, Errors
from .manifest import AnnotateError
from .types import Shard, ShardResult

S = TypeVar("S")
C = TypeVar("C")
# seconds between checks that the workers are alive while waiting for a result
_POLL = 0.5


def cpu_count() -> int:
    """RETURNS (int): The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def torch_threads(workers: int) -> int:
    """workers (int): Worker processes. RETURNS (int): Torch threads for each of them."""
    return max(1, cpu_count() // workers)


def run_local(shards: Sequence[Shard], spec: S, *, setup: Callable[[S], C],
              work: Callable[[Shard, C], ShardResult], workers: int,
              on_result: Callable[[ShardResult], None]) -> None:
    """Run `work` on every shard, with one context per worker.

    shards (Sequence[Shard]): The shards to do.
    spec (S): What `setup` needs (picklable, for worker processes).
    setup (Callable[[S], C]): Builds a worker's context (loads the pipeline);
        a module-level function, so that worker processes can import it.
    work (Callable[[Shard, C], ShardResult]): Does one shard (writes its outputs
        and status record); module-level too.
    workers (int): 1: in this process; N > 1: N spawned processes.
    on_result (Callable[[ShardResult], None]): Called in this process as each
        shard finishes, in the order they finish.
    RAISES (AnnotateError): If a worker fails or dies (the other workers are ended).
    RAISES (BioNERInputError): If a worker fails on bad input (e.g. the pipeline).
    """
    if not shards:
        return
    if workers <= 1:
        context = setup(spec)
        for shard in shards:
            on_result(work(shard, context))
        return
    _run_processes(shards, spec, setup, work, min(workers, len(shards)), on_result)


def _run_processes(shards: Sequence[Shard], spec: Any, setup: Callable[[Any], Any],
                   work: Callable[[Shard, Any], ShardResult], workers: int,
                   on_result: Callable[[ShardResult], None]) -> None:
    """Feed the shards to `workers` spawned processes, a shard more as each finishes."""
    ctx = multiprocessing.get_context("spawn")
    tasks, results = ctx.Queue(), ctx.Queue()
    pending = iter(shards)
    # two shards queued per worker: none waits for its next one; the queue holds shard
    # descriptions only (the workers read the documents)
    queued = 0
    for first in pending:
        tasks.put(first.to_dict())
        queued += 1
        if queued == 2 * workers:
            break
    procs = [ctx.Process(target=_worker, name=f"annotate-worker-{i}", daemon=True,
                         args=(spec, setup, work, torch_threads(workers), tasks, results))
             for i in range(workers)]
    try:
        for proc in procs:
            proc.start()
        for _ in range(len(shards)):
            on_result(_next_result(results, procs))
            shard = next(pending, None)
            if shard is not None:
                tasks.put(shard.to_dict())
        for _ in range(workers):
            tasks.put(None)
        for proc in procs:
            proc.join()
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            if proc.pid is not None:
                proc.join()
        tasks.cancel_join_thread()
        results.cancel_join_thread()


def _next_result(results: Any, procs: Sequence[BaseProcess]) -> ShardResult:
    """Wait for the next finished shard; fail if a worker failed or died."""
    while True:
        try:
            kind, payload = results.get(timeout=_POLL)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise AnnotateError(Errors.E975.format(code=dead[0].exitcode)) from None
            continue
        if kind == "done":
            return ShardResult.from_dict(payload)
        raise_report(kind, payload)


def _exit_with_parent() -> None:
    """End this worker as soon as its parent is gone (killed): an orphan would
    go on writing into OUTPUT while a resumed run does the same shards."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        os._exit(1)

    threading.Thread(target=watch, name="annotate-parent-watch", daemon=True).start()


def failure_report(err: Exception, shard: Shard) -> tuple[str, str]:
    """How a worker reports an exception to the driver (as plain strings, which
    cross any process boundary): the kind and the message.

    err (Exception): What the worker raised.
    shard (Shard): The shard it was doing.
    RETURNS (tuple[str, str]): ("input", message) for bad input (e.g. the
        pipeline), else ("error", message); a bug's traceback goes to stderr.
    """
    if isinstance(err, BioNERInputError):
        return "input", str(err)
    if isinstance(err, AnnotateError):
        return "error", str(err)
    traceback.print_exception(err)
    return "error", Errors.E976.format(index=shard.index, file=shard.file, err=f"{type(err).__name__}: {err}")


def raise_report(kind: str, message: str) -> NoReturn:
    """Raise, in the driver, what a worker reported with `failure_report`."""
    if kind == "input":
        raise BioNERInputError(message)
    raise AnnotateError(message)


def _worker(spec: Any, setup: Callable[[Any], Any], work: Callable[[Shard, Any], ShardResult],
            threads: int, tasks: Any, results: Any) -> None:
    """A worker process: do shards until told to stop (None) or one fails."""
    # Ctrl-C goes to the whole process group: the parent handles it and ends the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    import torch

    torch.set_num_threads(threads)
    context = None
    while (item := tasks.get()) is not None:
        shard = Shard.from_dict(item)
        try:
            if context is None:
                context = setup(spec)
            result = work(shard, context)
        except Exception as err:
            results.put(failure_report(err, shard))
            return
        results.put(("done", result.to_dict()))
