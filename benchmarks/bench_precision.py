"""What bf16 autocast and int8 dynamic quantization cost in F1, for a trained bioner_prompted.

    python benchmarks/bench_precision.py training/base/model-best corpus/base \\
        --corpora conll/NCBI-disease-IOB,conll/BC5CDR-IOB,brat/bionlp-st-2013-cg --limit 300 \\
        --output benchmarks/results/precision.json

The speed of the three precisions is `bench_biencoder.py`'s; this is their
accuracy. The trained pipeline (either architecture) is loaded once per
precision (fp32, bf16 = `inference_bf16`, int8 = torch dynamic quantization of
the encoders' Linear layers, as in bench_biencoder.py) and scored on the first
--limit test documents of each corpus, on the corpus's own labels, the way
`scripts/evaluate_base.py` scores the base model: strict span and token F1
(micro over the corpora) and the change from fp32. Words/s are printed too,
but only a quiet machine gives comparable ones.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bench_biencoder import PRECISIONS, set_precision  # noqa: E402


def score_precision(pipeline: str, corpus_root: Path, corpora: list[str], limit: int, precision: str) -> dict[str, Any]:
    """Score one precision. RETURNS (dict[str, Any]): micro scores, per-corpus span F1, words/s."""
    import spacy

    from spacy_bioner.catalogue import load_catalogue
    from spacy_bioner.experiments.base.evaluation import corpus_test_set, predict, score_examples

    nlp = spacy.load(pipeline)
    set_precision(nlp, precision)
    tagger: Any = nlp.get_pipe("bioner_prompted")
    descriptions = tagger.label_descriptions
    settings = dict(nlp.config.interpolate()["corpora"]["train"])
    key = str(settings.get("spans_key", "sc"))
    every, per_corpus, words, seconds, scored = [], {}, 0, 0.0, set()
    for corpus in corpora:
        test_set = corpus_test_set(nlp, corpus_root, corpus, settings, load_catalogue(), list(descriptions))
        if test_set is None:
            continue
        labels, references = test_set
        references = references[:limit]
        tagger.set_labels({label: descriptions[label] for label in labels})
        start = time.perf_counter()
        examples = predict(nlp, references)
        seconds += time.perf_counter() - start
        words += sum(len(ref) for ref in references)
        every += examples
        scored.update(labels)
        per_corpus[corpus] = score_examples(examples, key, labels)["span_f"]
    tagger.set_labels(descriptions)
    overall = score_examples(every, key, sorted(scored))
    return {"precision": precision, "span_f": overall["span_f"], "token_f": overall.get("token_f"),
            "per_corpus_span_f": per_corpus, "words": words, "words_per_second": words / seconds if seconds else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pipeline")
    parser.add_argument("corpus_root", type=Path)
    parser.add_argument("--corpora", default="conll/NCBI-disease-IOB,conll/BC5CDR-IOB,brat/bionlp-st-2013-cg")
    parser.add_argument("--limit", type=int, default=300, help="Test documents per corpus")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    corpora = [c for c in args.corpora.split(",") if c]
    rows = []
    for precision in PRECISIONS:
        row = score_precision(args.pipeline, args.corpus_root, corpora, args.limit, precision)
        rows.append(row)
        print(json.dumps(row), flush=True)
    base = rows[0]
    for row in rows:
        row["span_f_change"] = row["span_f"] - base["span_f"]
        if row["token_f"] is not None and base["token_f"] is not None:
            row["token_f_change"] = row["token_f"] - base["token_f"]
    from spacy_bioner.models.precision import native_bf16

    # without native bf16 the bf16 row runs in float32 (spacy_bioner.models.precision)
    report = {"pipeline": args.pipeline, "corpora": corpora, "limit": args.limit,
              "native_bf16": native_bf16("cpu"), "rows": rows}
    if args.output is not None:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(report, indent=2) + "\n", encoding="utf8")
    for row in rows:
        print(f"{row['precision']:5} span F1 {100 * row['span_f']:.2f} ({100 * row['span_f_change']:+.2f})"
              f" token F1 {100 * (row['token_f'] or 0):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
