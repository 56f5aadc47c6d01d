"""The conversion report: what came in, what went out, and why anything changed."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from wasabi import Printer

OUTCOMES = ("exact", "adjusted", "rejected", "dropped")


class ConversionReport:
    """Counts every annotation of a corpus into one of four outcomes.

    ``source == exact + adjusted + rejected + dropped`` holds per label
    (``dropped`` are types a label map removed on purpose). Adjusted and
    rejected annotations are listed one by one with file, offsets, text and
    reason. Things a reader does not convert into entities (relations,
    events, attributes, normalisations, notes) are counted in ``skipped``.
    """

    def __init__(self, corpus: str = "", fmt: str = "") -> None:
        self.corpus = corpus
        self.format = fmt
        self.documents = 0
        self.sentences = 0
        self.output_docs = 0
        self.files = 0
        self.labels: dict[str, Counter[str]] = defaultdict(Counter)
        self.not_in_ents: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.adjusted_records: list[dict[str, Any]] = []
        self.rejected_records: list[dict[str, Any]] = []
        self.document_issues: list[dict[str, Any]] = []
        self.seconds = 0.0

    # -- counting -------------------------------------------------------------
    def count_document(self) -> None:
        self.documents += 1

    def count_sentences(self, n: int) -> None:
        self.sentences += n

    def count_output(self, n: int) -> None:
        self.output_docs += n

    def count_source(self, label: str) -> None:
        self.labels[label]["source"] += 1

    def exact(self, label: str) -> None:
        self.labels[label]["exact"] += 1

    def adjusted(self, label: str, record: dict[str, Any]) -> None:
        self.labels[label]["adjusted"] += 1
        self.adjusted_records.append(record)

    def rejected(self, label: str, record: dict[str, Any]) -> None:
        self.labels[label]["rejected"] += 1
        self.rejected_records.append(record)

    def dropped(self, label: str) -> None:
        self.labels[label]["dropped"] += 1

    def count_not_in_ents(self, label: str, n: int = 1) -> None:
        """Count spans kept in doc.spans only, under their *converted* label."""
        self.not_in_ents[label] += n

    def skip(self, kind: str, n: int = 1) -> None:
        self.skipped[kind] += n

    def issue(self, record: dict[str, Any]) -> None:
        self.document_issues.append(record)

    # -- summaries ------------------------------------------------------------
    def totals(self) -> dict[str, int]:
        """RETURNS (dict[str, int]): Sums over labels of source and each outcome."""
        out = {"source": 0, **{k: 0 for k in OUTCOMES}}
        for counts in self.labels.values():
            for key in out:
                out[key] += counts[key]
        return out

    def is_balanced(self) -> bool:
        """RETURNS (bool): Whether every annotation is accounted for, for every label."""
        return all(c["source"] == sum(c[k] for k in OUTCOMES) for c in self.labels.values())

    def to_dict(self) -> dict[str, Any]:
        """RETURNS (dict[str, Any]): The report as JSON-serialisable data."""
        return {
            "corpus": self.corpus,
            "format": self.format,
            "files": self.files,
            "documents": self.documents,
            "sentences": self.sentences,
            "output_docs": self.output_docs,
            "totals": self.totals(),
            "labels": {
                label: {"source": c["source"], **{k: c[k] for k in OUTCOMES}}
                for label, c in sorted(self.labels.items())
            },
            "spans_only": dict(sorted(self.not_in_ents.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "document_issues": self.document_issues,
            "adjusted": self.adjusted_records,
            "rejected": self.rejected_records,
            "seconds": round(self.seconds, 3),
            "documents_per_second": round(self.documents / self.seconds, 1) if self.seconds else None,
            "notes": {
                "outcomes": "source == exact + adjusted + rejected + dropped for every label; dropped = removed by the label map.",
                "spans_only": "per converted label (after the label map): spans kept in doc.spans but left out of doc.ents because they overlap a longer one.",
            },
        }

    def to_bytes(self) -> bytes:
        """The report as indented JSON.

        Python's json module is used, not srsly's ujson: ujson raises
        OverflowError on integers beyond 64 bits, which a source file may hold.
        Non-ASCII characters are escaped (as srsly does), so any string can be written.

        RETURNS (bytes): UTF-8 (in fact ASCII) JSON text.
        """
        return (json.dumps(self.to_dict(), indent=2) + "\n").encode("ascii")

    def write(self, path: str | Path) -> None:
        """Write the report as indented JSON (on its own; the converter writes it
        together with the DocBin, see :func:`~.convert.write_outputs`)."""
        Path(path).write_bytes(self.to_bytes())

    def print_summary(self, printer: Printer | None = None, max_examples: int = 5) -> None:
        """Print a per-label table and the first few adjusted/rejected annotations."""
        msg = printer or Printer()
        rows = []
        for label, c in sorted(self.labels.items(), key=lambda kv: -kv[1]["source"]):
            rows.append((label, c["source"], c["exact"], c["adjusted"], c["rejected"], c["dropped"]))
        t = self.totals()
        rows.append(("TOTAL", t["source"], t["exact"], t["adjusted"], t["rejected"], t["dropped"]))
        msg.info(f"{self.corpus} ({self.format}): {self.files} file(s), {self.documents} document(s), "
                 f"{self.sentences} sentence(s) -> {self.output_docs} Doc(s) in {self.seconds:.1f}s")
        msg.table(rows, header=("label", "source", "exact", "adjusted", "rejected", "dropped"),
                  divider=True, aligns=("l", "r", "r", "r", "r", "r"))
        if self.not_in_ents:
            msg.text("In doc.spans only (overlap a longer span in doc.ents): "
                     + ", ".join(f"{k} {v}" for k, v in sorted(self.not_in_ents.items())))
        if self.skipped:
            msg.text("Not converted (not entity mentions): "
                     + ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())))
        for title, records in (("Adjusted", self.adjusted_records), ("Rejected", self.rejected_records)):
            if not records:
                continue
            msg.warn(f"{title}: {len(records)} annotation(s); first {min(len(records), max_examples)}:")
            for r in records[:max_examples]:
                where = f"{r['file']}:{r['line']}" if r.get("line") else f"{r['file']} [{r['doc_id']}]"
                msg.text(f"  {where} {r['ann_id']} {r['label']} {r['fragments']} {r.get('text')!r}: {r['reason']}")
        for r in self.document_issues[:max_examples]:
            msg.warn(f"{r.get('file')} [{r.get('doc_id')}]: {r.get('issue')}")
