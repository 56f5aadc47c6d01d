"""Convert every corpus in ../shared/corpora and tabulate the conversion reports.

    python benchmarks/convert_corpora.py [--shared ../shared] [--output benchmarks/results/convert.json]

Each conversion runs in its own process (the real CLI path: read, tokenise,
build, DocBin, write), so the peak resident memory reported is that of one
conversion. Prints a Markdown table: documents, entities, exact, adjusted,
rejected (with the main reasons), documents/second and peak memory.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import srsly

CORPORA: list[tuple[str, str, str, list[str]]] = [
    # (name, format, path relative to shared/corpora, extra CLI options)
    *[(f"brat/ncbi-disease/{s}", "brat", f"brat/ncbi-disease/{s}", []) for s in ("train", "dev", "test")],
    *[(f"brat/anatem/{s}", "brat", f"brat/anatem/{s}", []) for s in ("train", "dev", "test")],
    *[(f"brat/bionlp-st-2013-cg/{s}", "brat", f"brat/bionlp-st-2013-cg/{s}", []) for s in ("train", "dev", "test")],
    ("brat/maccrobat2020", "brat", "brat/maccrobat2020", []),
    *[(f"brat/meddocan/{s}", "brat", f"brat/meddocan/{s}", ["--lang", "es"]) for s in ("train", "dev", "test")],
    ("brat/brat-example-bionlp-st-2011", "brat", "brat/brat-example-bionlp-st-2011", []),
    *[(f"bioc/bc5cdr/{f}", "bioc-xml", f"bioc/bc5cdr/CDR_{f}Set.BioC.xml", []) for f in ("Training", "Development", "Test")],
    ("bioc/bc5cdr-sample", "bioc-xml", "bioc/bc5cdr-sample/CDR_sample.gold.BioC.xml", []),
    *[(f"bioc/biored/{s}.xml", "bioc-xml", f"bioc/biored/{s}.BioC.XML", []) for s in ("Train", "Dev", "Test")],
    *[(f"bioc/biored/{s}.json", "bioc-json", f"bioc/biored/{s}.BioC.JSON", []) for s in ("Train", "Dev", "Test")],
    *[(f"pubtator/ncbi-disease/{s}", "pubtator", f"pubtator/ncbi-disease/NCBI{s}set_corpus.txt", [])
      for s in ("train", "develop", "test")],
    *[(f"pubtator/bc5cdr/{s}", "pubtator", f"pubtator/bc5cdr/CDR_{s}Set.PubTator.txt", [])
      for s in ("Training", "Development", "Test")],
    *[(f"pubtator/biored/{s}", "pubtator", f"pubtator/biored/{s}.PubTator.txt", []) for s in ("Train", "Dev", "Test")],
    ("pubtator/bc5cdr-sample", "pubtator", "pubtator/bc5cdr-sample/CDR_sample.gold.PubTator", []),
    *[(f"conll/{d}/{s}", "conll", f"conll/{d}/{s}.tsv", [])
      for d in ("NCBI-disease-IOB", "BC5CDR-IOB", "BC2GM-IOB", "linnaeus-IOB", "BioNLP13CG-IOB", "AnatEM-IOB",
                "CRAFT-IOB", "BioNLP09-IOB", "BioNLP11EPI-IOB", "BioNLP11ID-IOB", "BioNLP13GE-IOB", "BioNLP13PC-IOB",
                "Ex-PTM-IOB", "BC5CDR-chem-IOB", "BC5CDR-disease-IOB")
      for s in ("train", "devel", "test")],
    *[(f"conll/JNLPBA/{s}", "conll", f"conll/JNLPBA/{s}.tsv", []) for s in ("devel", "test")],
    *[(f"conll/PharmaCoNER-CongSun/{s}", "conll", f"conll/PharmaCoNER-CongSun/{s}.txt", ["--lang", "es"])
      for s in ("train", "dev", "test")],
]


def run_one(fmt: str, path: str, out: str, extra: list[str]) -> None:
    """Child process: convert through the CLI function and print stats as JSON."""
    from typer.testing import CliRunner

    from spacy_bioner.cli import app

    start = time.perf_counter()
    result = CliRunner().invoke(app, ["convert", path, out, "--format", fmt, "--sentences", "--quiet", *extra])
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"exit": result.exit_code, "wall": wall, "peak_mb": peak_mb,
                      "output": result.output[-2000:] if result.exit_code else ""}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    parser.add_argument("--output", default="benchmarks/results/convert.json")
    parser.add_argument("--only", default="", help="substring filter on corpus names")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        fmt, path, out, extra = args.child
        run_one(fmt, path, out, json.loads(extra))
        return
    root = Path(args.shared) / "corpora"
    if not root.exists():
        sys.exit(f"{root} not found")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, fmt, rel, extra in CORPORA:
            if args.only and args.only not in name:
                continue
            src = root / rel
            if not src.exists():
                continue
            out = Path(tmp) / (name.replace("/", "_") + ".spacy")
            proc = subprocess.run([sys.executable, __file__, "--child", fmt, str(src), str(out), json.dumps(extra)],
                                  capture_output=True, text=True, check=False)
            stats = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {"exit": -1}
            if stats.get("exit") != 0:
                print(f"FAILED {name}: {stats.get('output') or proc.stderr[-2000:]}")
                rows.append({"corpus": name, "failed": True})
                continue
            rep = srsly.read_json(out.with_suffix(".report.json"))
            reasons = Counter(r["reason"].split(":")[0] for r in rep["rejected"])
            t = rep["totals"]
            row = {
                "corpus": name, "format": fmt, "documents": rep["documents"], "sentences": rep["sentences"],
                "entities": t["source"], "exact": t["exact"], "adjusted": t["adjusted"],
                "rejected": t["rejected"], "rejected_pct": round(100 * t["rejected"] / max(t["source"], 1), 3),
                "reject_reasons": dict(reasons.most_common(3)), "issues": len(rep["document_issues"]),
                "convert_seconds": rep["seconds"], "docs_per_second": rep["documents_per_second"],
                "wall_seconds": round(stats["wall"], 2), "peak_mb": round(stats["peak_mb"], 1),
                "balanced": t["source"] == t["exact"] + t["adjusted"] + t["rejected"] + t["dropped"],
            }
            rows.append(row)
            print(f"{name}: {row['documents']} docs, {row['entities']} ents, adj {row['adjusted']}, "
                  f"rej {row['rejected']} {row['reject_reasons']}, {row['docs_per_second']} docs/s, "
                  f"{row['peak_mb']} MB", flush=True)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    srsly.write_json(args.output, rows)
    print("\n| corpus | docs | entities | exact | adjusted | rejected | docs/s | peak MB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if r.get("failed"):
            print(f"| {r['corpus']} | FAILED | | | | | | |")
            continue
        print(f"| {r['corpus']} | {r['documents']} | {r['entities']} | {r['exact']} | {r['adjusted']} | "
              f"{r['rejected']} | {r['docs_per_second']} | {r['peak_mb']} |")


if __name__ == "__main__":
    main()
