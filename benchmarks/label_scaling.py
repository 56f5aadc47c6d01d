"""How bioner_prompted's inference time grows with the number of labels.

    python benchmarks/label_scaling.py MODEL TEST.spacy '{"Disease": "disease", ...}' OUT.json [--docs 300]

Labels beyond those the model was trained with are added zero-shot with
`add_label` (only their count matters here). Timing covers `nlp.pipe` on the
texts of the first `--docs` test sentences, after one warm-up batch.
"""
from __future__ import annotations

import argparse
import json
import time

import spacy
import srsly
from spacy.tokens import DocBin


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("test")
    parser.add_argument("labels")
    parser.add_argument("output")
    parser.add_argument("--docs", type=int, default=300)
    parser.add_argument("--counts", default="1,2,4,8")
    args = parser.parse_args()
    nlp = spacy.load(args.model)
    pipe = nlp.get_pipe("bioner_prompted")
    texts = [d.text for d in DocBin().from_disk(args.test).get_docs(nlp.vocab)][: args.docs]
    words = sum(len(nlp.make_doc(t)) for t in texts)
    labels = json.loads(args.labels)
    rows = []
    list(nlp.pipe(texts[:32]))
    for n in (int(c) for c in args.counts.split(",")):
        pipe.set_labels(dict(list(labels.items())[:n]))
        start = time.perf_counter()
        list(nlp.pipe(texts, batch_size=64))
        secs = time.perf_counter() - start
        rows.append({"labels": n, "docs": len(texts), "words": words, "seconds": round(secs, 2),
                     "words_per_second": words / secs, "pairs_per_second": len(texts) * n / secs})
        print(rows[-1], flush=True)
    srsly.write_json(args.output, rows)


if __name__ == "__main__":
    main()
