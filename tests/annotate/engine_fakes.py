"""Helpers of the engine tests of `annotate`: a fake tagger (fast, and
predictable without a model), worker functions for the engines that record or
fail on purpose, a corpus writer and a reader of an output tree.

A module of its own (not a conftest) because worker processes import the
functions given to them by their module name: tests/annotate is on sys.path
of the tests, and so of the spawned workers.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from spacy_bioner.annotate.run import RunSpec, ShardContext
from spacy_bioner.annotate.types import Failure, Shard, ShardResult
from spacy_bioner.corpora.base import SourceAnnotation, SourceDocument
from spacy_bioner.errors import BioNERInputError

#: A text with this word makes the fake tagger fail the document.
REFUSED = "unparseable"
WORDS = ["patients", "with", "breast", "cancer", "received", "tamoxifen", "daily", "cisplatin", "induced",
         "nephrotoxicity", "in", "two", "rats", "no", "adverse", "events", "were", "seen", "."]


class FakeTagger:
    """Predicts every "cancer" as Disease (score 0.5); fails texts with REFUSED."""

    def __init__(self) -> None:
        self.words = 0

    def annotate(self, docs: Sequence[SourceDocument]) -> list[SourceDocument | Failure]:
        out: list[SourceDocument | Failure] = []
        for doc in docs:
            if REFUSED in doc.text:
                out.append(Failure(doc.path, doc.doc_id, "fake tagger: refused"))
                continue
            self.words += len(doc.text.split())
            preds = [SourceAnnotation(f"P{k}", "Disease", [(m.start(), m.end())], text=m.group(), score=0.5)
                     for k, m in enumerate(re.finditer("cancer", doc.text), start=1)]
            out.append(dataclasses.replace(doc, annotations=[*doc.annotations, *preds]))
        return out


def fake_setup(spec: RunSpec) -> ShardContext:
    """A worker context with the fake tagger and the real reader and writer."""
    return ShardContext(spec, FakeTagger())


# -- for the engines alone (any spec, any context) ------------------------------------------
def pid_setup(spec: Any) -> dict[str, Any]:
    return {"pid": os.getpid(), "setups": 1}


def threads_work(shard: Shard, context: dict[str, Any]) -> ShardResult:
    """words = the worker's torch threads, spans = its pid."""
    import torch

    return ShardResult(shard, done=shard.count, words=torch.get_num_threads(), spans=context["pid"])


def bad_input_setup(spec: Any) -> dict[str, Any]:
    raise BioNERInputError("[E985] Pipeline 'nowhere' could not be loaded: fake.")


def dying_work(shard: Shard, context: dict[str, Any]) -> ShardResult:
    """Kills its worker process on shard 1 (as the OOM killer would)."""
    if shard.index == 1:
        os._exit(3)
    return ShardResult(shard, done=shard.count)


def buggy_work(shard: Shard, context: dict[str, Any]) -> ShardResult:
    if shard.index == 2:
        raise KeyError("a bug")
    return ShardResult(shard, done=shard.count)


# -- corpora and outputs ----------------------------------------------------------------------
def write_jsonl_corpus(directory: Path, files: int, docs: int, *, bad: Iterable[tuple[int, int]] = (),
                       seed: int = 0) -> Path:
    """Write `files` JSONL files of `docs` documents each (some with an existing
    span); the (file, doc) pairs in `bad` are lines that are not JSON.

    RETURNS (Path): The directory.
    """
    import random

    rng = random.Random(seed)
    bad = set(bad)
    directory.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        lines = []
        for d in range(docs):
            if (f, d) in bad:
                lines.append('{"id": "broken", "text": ')
                continue
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 30)))
            obj: dict[str, Any] = {"id": f"f{f}d{d}", "text": text}
            if d % 3 == 0 and "breast" in text:
                start = text.index("breast")
                obj["spans"] = [{"start": start, "end": start + 6, "label": "Anatomy"}]
            lines.append(json.dumps(obj))
        (directory / f"part{f}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf8")
    return directory


def output_tree(output: Path) -> dict[str, bytes]:
    """Every output file's bytes by relative name: not the run's state
    (.annotate/) nor the manifest, which hold timings."""
    return {p.relative_to(output).as_posix(): p.read_bytes() for p in sorted(output.rglob("*"))
            if p.is_file() and p.relative_to(output).parts[0] not in (".annotate", "manifest.json")}
