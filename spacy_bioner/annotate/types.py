"""The units of work of `annotate`, shared by the readers, the writers and the engines.

A run is planned as shards: a shard is a contiguous run of documents of one
input file, so it is read, tagged and written on its own (by a local worker or
a Ray actor), its output is a function of its documents only, and redoing an
unfinished shard after a kill gives the same bytes. A shard is finished when
its status record is written, after its output files.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Input formats `annotate` reads (the project's readers, plus plain text and JSONL).
INPUT_FORMATS = ("brat", "bioc-xml", "bioc-json", "pubtator", "jsonl", "text")
#: Output formats `annotate` writes (text cannot hold annotations).
OUTPUT_FORMATS = ("brat", "bioc-xml", "bioc-json", "pubtator", "jsonl")
#: What happens to the annotations the input already has.
EXISTING_POLICIES = ("keep", "replace")


@dataclass(frozen=True)
class Shard:
    """A contiguous run of documents of one input file.

    index (int): Position in the plan (0, 1, ...); names the shard's files.
    file (str): The input file, relative to the input root (POSIX separators);
        for a single-file input, its name.
    first (int): Index of the shard's first document in the file (0-based).
    count (int): Number of documents (or failed document slots) in the shard.
    """

    index: int
    file: str
    first: int
    count: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Shard:
        return cls(int(data["index"]), str(data["file"]), int(data["first"]), int(data["count"]))


@dataclass(frozen=True)
class Failure:
    """A document that could not be read, tagged or written, and why.

    file (str): The input file (relative to the input root), and ``:line`` where known.
    doc (str): The document's id, or ``#N`` (its position in the file) when it has none.
    reason (str): The message, e.g. "[E951] ...".
    """

    file: str
    doc: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Failure:
        return cls(str(data["file"]), str(data["doc"]), str(data["reason"]))


@dataclass
class ShardResult:
    """What a worker reports of a shard; written (atomically) as its status record.

    done (int): Documents tagged and written.
    failures (list[Failure]): Documents that failed; ``done + len(failures) == shard.count``.
    words (int): Tokens of the tagged documents (for words/s).
    spans (int): Predicted spans written.
    outputs (list[str]): Files written, relative to the output directory.
    seconds (float): Wall time of the shard in the worker.
    """

    shard: Shard
    done: int = 0
    failures: list[Failure] = field(default_factory=list)
    words: int = 0
    spans: int = 0
    outputs: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard.to_dict(), "done": self.done,
                "failures": [f.to_dict() for f in self.failures], "words": self.words,
                "spans": self.spans, "outputs": list(self.outputs), "seconds": self.seconds}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ShardResult:
        return cls(Shard.from_dict(data["shard"]), int(data["done"]),
                   [Failure.from_dict(f) for f in data.get("failures", [])], int(data.get("words", 0)),
                   int(data.get("spans", 0)), [str(p) for p in data.get("outputs", [])],
                   float(data.get("seconds", 0.0)))
