"""bioner_llama benchmark on NCBI-disease with SmolLM2-135M-Instruct on the CPU:
bidirectional vs causal attention, DBR off / retrieved / random, single
dataset vs NCBI-disease + BC5CDR + linnaeus; speed and memory, 4-bit vs fp32.

    python benchmarks/bench_llama.py --output benchmarks/results/llama

Phases (``--phase``, default all, in this order):

* ``data`` converts the CoNLL releases in ../shared/corpora/conll (one Doc per
  sentence) and cuts the evaluation sets: NCBI-disease test in full, seeded
  random samples of ``--other-test`` sentences of the BC5CDR and linnaeus test
  splits, and ``--dev`` NCBI-disease dev sentences for spaCy's dev scoring.
* ``speed`` (first, on a quiet machine): for 4-bit and fp32 (and for causal
  attention and DBR with 4-bit), one process each initializes the pipeline,
  times ``--speed-updates`` updates of 8 NCBI-disease training sentences
  after two warm-up updates, records the model's memory (parameters and
  buffers of the decoder and head) and saves the pipeline; a second process
  loads that pipeline as a user would (``spacy.load``) and times inference on
  NCBI-disease test, under /usr/bin/time for its peak RSS.
* ``train``: every (setting, seed) with ``spacy train configs/llama.cfg`` and
  the same budget, ``--max-steps`` updates of 8 sentences from one shuffled
  training stream (Adam 2e-4, as the paper), each in its own process.
  DBR settings add one pseudo-sentence per training sentence to the same
  updates (the paper's augmentation), so their updates cost more time.
* ``eval``: model-last of each run (the budget's end, not a dev-chosen
  checkpoint) on each test set; strict span F1 on ``doc.ents``. Each test
  doc is made with its dataset recorded in ``doc.user_data``, as the
  multi-dataset reader records it in training, so a multi-dataset model is
  asked about that dataset's types with that dataset's name.
* ``report`` writes results.json and results.md.

Settings: ``bi`` (bidirectional, DBR off), ``causal`` (the causal mask kept),
``bi-dbr`` (DBR from the training-span knowledge base, retrieved by character
3-gram TF-IDF), ``bi-dbr-random`` (DBR with random KB names: the ablation),
``multi`` (bidirectional, DBR off, NCBI-disease + BC5CDR + linnaeus in one
shuffled stream through ``spacy_bioner.MultiDatasetCorpus.v1``, each with its
dataset name in the instruction). Every single-dataset setting names the
dataset too ("NCBI-disease"), as VANER does.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import srsly

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONLL = ROOT.parent / "shared" / "corpora" / "conll"
#: dataset key -> (directory, name in the instruction, {corpus label: component label})
DATASETS = {
    "ncbi": ("NCBI-disease-IOB", "NCBI-disease", {"Disease": "Disease"}),
    "bc5cdr": ("BC5CDR-IOB", "BC5CDR", {"Chemical": "Chemical", "Disease": "Disease"}),
    "linnaeus": ("linnaeus-IOB", "linnaeus", {"Species": "Species"}),
}
TYPE_NAMES = {"Disease": "disease", "Chemical": "chemical", "Species": "species"}
SETTINGS = {
    "bi": {"bidirectional": True, "dbr": "off", "multi": False},
    "causal": {"bidirectional": False, "dbr": "off", "multi": False},
    "bi-dbr": {"bidirectional": True, "dbr": "retrieved", "multi": False},
    "bi-dbr-random": {"bidirectional": True, "dbr": "random", "multi": False},
    "multi": {"bidirectional": True, "dbr": "off", "multi": True},
}
#: speed-phase variants: (name, 4-bit, bidirectional, dbr)
SPEED = [("4bit", True, True, "off"), ("fp32", False, True, "off"),
         ("4bit-causal", True, False, "off"), ("4bit-dbr", True, True, "retrieved")]


def _sample(docs: list, n: int, seed: int = 0) -> list:
    import numpy

    if n <= 0 or n >= len(docs):
        return docs
    keep = numpy.sort(numpy.random.default_rng(seed).choice(len(docs), n, replace=False))
    return [docs[i] for i in keep]


def prepare_data(args: argparse.Namespace, work: Path) -> dict[str, str]:
    """Convert the corpora; write the evaluation sets with their dataset recorded."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_bioner.corpora.multi_dataset import relabel_doc, set_dataset_info

    data: dict[str, str] = {}
    nlp = spacy.blank("en")
    for key, (directory, name, mapping) in DATASETS.items():
        for split, source in (("train", "train"), ("dev", "devel"), ("test", "test")):
            if split == "dev" and key != "ncbi":
                continue
            path = work / f"{key}.{split}.spacy"
            if not path.exists():
                subprocess.run([sys.executable, "-m", "spacy_bioner", "convert", str(CONLL / directory / f"{source}.tsv"),
                                str(path), "--format", "conll", "--quiet"], check=True)
            data[f"{key}.{split}"] = str(path)
        # evaluation set: the dataset recorded in user_data (DocBins keep it)
        eval_path = work / f"{key}.test.eval.spacy"
        if not eval_path.exists():
            docs = list(DocBin().from_disk(data[f"{key}.test"]).get_docs(nlp.vocab))
            docs = _sample(docs, 0 if key == "ncbi" else args.other_test)
            for doc in docs:
                relabel_doc(doc, mapping, "sc")
                set_dataset_info(doc, name, sorted(set(mapping.values())))
            DocBin(docs=docs, store_user_data=True).to_disk(eval_path)
        data[f"{key}.eval"] = str(eval_path)
    dev_path = work / "ncbi.dev.small.spacy"
    if not dev_path.exists():
        docs = _sample(list(DocBin().from_disk(data["ncbi.dev"]).get_docs(nlp.vocab)), args.dev)
        DocBin(docs=docs).to_disk(dev_path)
    data["ncbi.dev.small"] = str(dev_path)
    return data


def write_config(args: argparse.Namespace, data: dict[str, str], setting: str, path: Path) -> None:
    """configs/llama.cfg with the benchmark's data, labels and setting."""
    from spacy.util import load_config

    opts = SETTINGS[setting]
    cfg = load_config(ROOT / "configs" / "llama.cfg")
    cfg["paths"].update({"train": data["ncbi.train"], "dev": data["ncbi.dev.small"], "base_model": args.base_model})
    comp = cfg["components"]["bioner_llama"]
    comp["dbr"] = opts["dbr"]
    comp["dataset"] = "NCBI-disease"
    comp["model"]["bidirectional"] = opts["bidirectional"]
    labels = {"Disease": TYPE_NAMES["Disease"]}
    if opts["multi"]:
        labels = {label: TYPE_NAMES[label] for _, _, m in DATASETS.values() for label in m.values()}
        cfg["corpora"]["train"] = {
            "@readers": "spacy_bioner.MultiDatasetCorpus.v1", "spans_key": "sc", "shuffle": True,
            "datasets": {key: {"name": name, "path": data[f"{key}.train"], "labels": mapping}
                         for key, (_, name, mapping) in DATASETS.items()},
        }
    comp["labels"] = dict(sorted(labels.items()))
    training = cfg["training"]
    training.update({"max_epochs": 0, "max_steps": args.max_steps, "eval_frequency": args.max_steps})
    cfg.to_disk(path)


def train_all(args: argparse.Namespace, data: dict[str, str], work: Path, results: dict, save) -> None:
    for setting in args.settings:
        for seed in args.seeds if setting in args.headline else args.seeds[:1]:
            name = f"{setting}-s{seed}"
            if (work / name / "model-last").exists() and name in results.get("train", {}):
                continue
            print(f"== train {name}", flush=True)
            cfg_path = work / f"{setting}.cfg"
            write_config(args, data, setting, cfg_path)
            cmd = [sys.executable, "-m", "spacy", "train", str(cfg_path), "--output", str(work / name),
                   "--system.seed", str(seed)]
            results.setdefault("train", {})[name] = run_timed(cmd, work / f"{name}.train.log")
            save()


def eval_all(args: argparse.Namespace, data: dict[str, str], work: Path, results: dict, save) -> None:
    import spacy
    from spacy.tokens import DocBin

    from spacy_bioner.corpora.multi_dataset import dataset_info, set_dataset_info
    from spacy_bioner.scoring import evaluate_docs

    for name in sorted(results.get("train", {})):
        setting = name.rsplit("-s", 1)[0]
        keys = list(DATASETS) if SETTINGS[setting]["multi"] or args.eval_all else ["ncbi"]
        row = results.setdefault("eval", {}).setdefault(name, {})
        if all(key in row for key in keys):
            continue
        nlp = spacy.load(work / name / "model-last")
        for key in keys:
            gold = list(DocBin().from_disk(data[f"{key}.eval"]).get_docs(nlp.vocab))
            info = dataset_info(gold[0])
            labels = set(info["labels"])
            if not labels <= set(nlp.get_pipe("bioner_llama").labels):
                continue

            def make_doc(text: str, info: dict = info, nlp: spacy.Language = nlp) -> spacy.tokens.Doc:
                doc = nlp.make_doc(text)
                set_dataset_info(doc, info["name"], info["labels"])
                return doc

            scores = evaluate_docs(nlp, gold, make_doc=make_doc, batch_size=64)
            row[key] = {"p": scores["ents_p"], "r": scores["ents_r"], "f": scores["ents_f"],
                        "per_type": scores["ents_per_type"], "docs": scores["docs"], "words": scores["words"],
                        "words_per_second": scores["words_per_second"]}
            save()
            print(name, key, json.dumps({k: row[key][k] for k in ("p", "r", "f", "words_per_second")}), flush=True)


def speed_all(args: argparse.Namespace, data: dict[str, str], work: Path, results: dict, save) -> None:
    for variant, *_ in SPEED:
        if variant not in args.speed or variant in results.get("speed", {}):
            continue
        print(f"== speed {variant}", flush=True)
        out = work / f"speed-{variant}.json"
        train = run_timed([sys.executable, __file__, "--phase", "speed-one", "--variant", variant, "--work", str(work),
                           "--base-model", args.base_model, "--speed-updates", str(args.speed_updates)],
                          work / f"speed-{variant}.log")
        row = srsly.read_json(out)
        row["train_process_peak_mb"] = train["peak_mb"]
        infer = run_timed([sys.executable, __file__, "--phase", "infer-one", "--variant", variant, "--work", str(work)],
                          work / f"infer-{variant}.log")
        row.update(srsly.read_json(work / f"infer-{variant}.json"))
        row["infer_process_peak_mb"] = infer["peak_mb"]
        results.setdefault("speed", {})[variant] = row
        save()
        print(variant, json.dumps(row), flush=True)


def speed_one(args: argparse.Namespace, work: Path) -> None:
    """In its own process: initialize, time updates, measure the model, save."""
    import random

    import spacy
    import torch
    from spacy.tokens import DocBin
    from spacy.training import Example
    from spacy.util import load_config
    from thinc.api import Adam

    _, quantize, bidirectional, dbr = next(v for v in SPEED if v[0] == args.variant)
    cfg = load_config(ROOT / "configs" / "llama.cfg")
    cfg["paths"]["base_model"] = args.base_model
    comp = cfg["components"]["bioner_llama"]
    comp.update({"dbr": dbr, "dataset": "NCBI-disease", "labels": {"Disease": "disease"}})
    comp["model"].update({"quantize_4bit": quantize, "bidirectional": bidirectional})
    nlp = spacy.util.load_model_from_config(cfg, auto_fill=True)
    docs = list(DocBin().from_disk(work / "ncbi.train.spacy").get_docs(nlp.vocab))
    random.Random(0).shuffle(docs)
    examples = [Example(nlp.make_doc(d.text), d) for d in docs]
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_llama")
    module = next(shim for node in pipe.model.walk() for shim in node.shims).module
    model_bytes = sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    optimizer = Adam(2e-4)
    batches = [examples[i * 8 : (i + 1) * 8] for i in range(args.speed_updates + 2)]
    for batch in batches[:2]:  # warm-up
        nlp.update(batch, sgd=optimizer)
    start = time.perf_counter()
    for batch in batches[2:]:
        nlp.update(batch, sgd=optimizer)
    seconds = time.perf_counter() - start
    words = sum(len(eg.predicted) for batch in batches[2:] for eg in batch)
    nlp.to_disk(work / f"speed-{args.variant}")
    srsly.write_json(work / f"speed-{args.variant}.json", {
        "model_mb": round(model_bytes / 2**20, 1), "torch_threads": torch.get_num_threads(),
        "train_updates": args.speed_updates, "train_words": words, "train_seconds": round(seconds, 1),
        "train_words_per_second": round(words / seconds, 1),
        "train_sentences_per_second": round(8 * args.speed_updates / seconds, 2),
    })


def infer_one(args: argparse.Namespace, work: Path) -> None:
    """In its own process: load the saved pipeline as a user would; time it on NCBI-disease test."""
    import spacy
    from spacy.tokens import DocBin

    from spacy_bioner.scoring import evaluate_docs

    start = time.perf_counter()
    nlp = spacy.load(work / f"speed-{args.variant}")
    load_seconds = time.perf_counter() - start
    gold = list(DocBin().from_disk(work / "ncbi.test.eval.spacy").get_docs(nlp.vocab))
    list(nlp.pipe(d.text for d in gold[:16]))  # warm-up
    scores = evaluate_docs(nlp, gold[: args.infer_docs], batch_size=64)
    srsly.write_json(work / f"infer-{args.variant}.json", {
        "load_seconds": round(load_seconds, 1), "infer_docs": scores["docs"], "infer_words": scores["words"],
        "infer_words_per_second": round(scores["words_per_second"], 1),
        "infer_rss_after_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    })


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.fmean(values):.2f} ± {statistics.stdev(values):.2f}"


def report(args: argparse.Namespace, results: dict) -> str:
    # inference speed comes from the speed phase (a quiet, dedicated process),
    # not from these evaluations, which may share the machine
    lines = [f"Strict span F1 (%) on test; {args.max_steps} updates of 8 sentences each; model-last.", "",
             "| setting | seeds | NCBI-disease P | R | F1 | BC5CDR F1 | linnaeus F1 | train min |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    evals, trains = results.get("eval", {}), results.get("train", {})
    for setting in SETTINGS:
        names = sorted(n for n in evals if n.rsplit("-s", 1)[0] == setting and "ncbi" in evals[n])
        if not names:
            continue
        seeds = ",".join(n.rsplit("-s", 1)[1] for n in names)

        def col(key: str, metric: str, names: list[str] = names) -> str:
            values = [evals[n][key][metric] * 100 for n in names if key in evals[n]]
            return _mean_sd(values) if values else "–"

        train_min = statistics.fmean(trains[n]["wall_s"] for n in names) / 60
        lines.append(f"| {setting} | {seeds} | {col('ncbi', 'p')} | {col('ncbi', 'r')} | {col('ncbi', 'f')} | "
                     f"{col('bc5cdr', 'f')} | {col('linnaeus', 'f')} | {train_min:.1f} |")
    speed = results.get("speed", {})
    if speed:
        lines += ["", "| variant | model MB | train words/s | train sent/s | train process peak MB | "
                  "inference words/s | inference process peak MB | load s |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for variant, row in speed.items():
            lines.append(f"| {variant} | {row['model_mb']:,.1f} | {row['train_words_per_second']:,.0f} | "
                         f"{row['train_sentences_per_second']:.2f} | {row['train_process_peak_mb']:,.0f} | "
                         f"{row['infer_words_per_second']:,.0f} | {row['infer_process_peak_mb']:,.0f} | "
                         f"{row['load_seconds']:.1f} |")
        if "4bit" in speed and "fp32" in speed:
            ratio = speed["4bit"]["model_mb"] / speed["fp32"]["model_mb"]
            peak = speed["4bit"]["infer_process_peak_mb"] / speed["fp32"]["infer_process_peak_mb"]
            lines += ["", f"4-bit / fp32: model memory {ratio:.2f}×, inference process peak {peak:.2f}×."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--settings", default="bi,causal,bi-dbr,multi,bi-dbr-random")
    parser.add_argument("--headline", default="bi,bi-dbr", help="settings trained with every seed")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--dev", type=int, default=200, help="NCBI-disease dev sentences for spaCy's dev score")
    parser.add_argument("--other-test", type=int, default=500, help="BC5CDR / linnaeus test sentences sampled")
    parser.add_argument("--eval-all", action="store_true", help="score single-dataset models on every test set")
    parser.add_argument("--base-model", default=None, help="default: export smollm2-135m-instruct to WORK/smollm2")
    parser.add_argument("--speed", default=",".join(v[0] for v in SPEED))
    parser.add_argument("--speed-updates", type=int, default=12)
    parser.add_argument("--infer-docs", type=int, default=400)
    parser.add_argument("--variant", default=None)
    parser.add_argument("--phase", default="data,speed,train,eval,report")
    parser.add_argument("--work", default="/tmp/bench_llama")
    parser.add_argument("--output", default="benchmarks/results/llama")
    args = parser.parse_args()
    work = Path(args.work)
    if args.phase == "speed-one":
        return speed_one(args, work)
    if args.phase == "infer-one":
        return infer_one(args, work)
    if not CONLL.exists():
        sys.exit(f"{CONLL} not found: this benchmark needs ../shared/corpora")
    args.settings = args.settings.split(",")
    args.headline = args.headline.split(",")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.speed = args.speed.split(",")
    work.mkdir(parents=True, exist_ok=True)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    if args.base_model is None:
        args.base_model = str(work / "smollm2")
        if not (work / "smollm2" / "config.json").exists():
            subprocess.run([sys.executable, "-m", "spacy_bioner", "export-decoder", "smollm2-135m-instruct",
                            args.base_model], check=True)
    results_path = out / "results.json"
    results = srsly.read_json(results_path) if results_path.exists() else {}
    results["budget"] = {"max_steps": args.max_steps, "batch": 8, "base_model": "SmolLM2-135M-Instruct"}

    def save() -> None:
        srsly.write_json(results_path, results)

    phases = args.phase.split(",")
    data = prepare_data(args, work)
    if "speed" in phases:
        speed_all(args, data, work, results, save)
    if "train" in phases:
        train_all(args, data, work, results, save)
    if "eval" in phases:
        eval_all(args, data, work, results, save)
    if "report" in phases:
        table = report(args, results)
        save()
        (out / "results.md").write_text(table + "\n")
        print(table)


if __name__ == "__main__":
    main()
