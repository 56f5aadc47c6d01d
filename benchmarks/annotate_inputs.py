"""The benchmark input of `annotate`: every abstract of the shared corpora, repeated.

    python benchmarks/annotate_inputs.py OUT.jsonl --docs 100000

Reads the PubTator, BioC and BRAT corpora of ../shared/corpora with the
project's readers, keeps one copy of each document by PMID (PubMed ids are the
document ids of PubTator and BioC, and the ``PMID-`` file names of BioNLP-ST;
other ids are kept as they are), drops annotations (the benchmark tags raw
text), and writes JSONL lines ``{"id", "text"}`` repeated in order until --docs
lines: the n-th repetition of a document gets the id ``<id>~<n>``, so ids stay
unique. Exits 0 with a message when ../shared is absent.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpora"
#: (format, path under ../shared/corpora); documents of later sources with a known PMID are skipped.
SOURCES = (
    ("pubtator", "pubtator/bc5cdr"),
    ("pubtator", "pubtator/ncbi-disease"),
    ("pubtator", "pubtator/biored"),
    ("brat", "brat/bionlp-st-2013-cg"),
    ("brat", "brat/anatem"),
)


def pmid_of(doc_id: str) -> str:
    """doc_id (str): A document id or file stem. RETURNS (str): The PMID when it is one, else the id."""
    stem = Path(doc_id).name
    for prefix in ("PMID-", "PMID", "pmid-"):
        if stem.startswith(prefix) and stem[len(prefix):].isdigit():
            return stem[len(prefix):]
    return stem


def abstracts(root: Path = SHARED) -> Iterator[tuple[str, str]]:
    """YIELDS (tuple[str, str]): (id, text) of every distinct document of SOURCES."""
    from spacy_bioner.corpora.convert import get_reader
    from spacy_bioner.corpora.report import ConversionReport

    seen: set[str] = set()
    for fmt, rel in SOURCES:
        path = root / rel
        if not path.exists():
            continue
        for doc in get_reader(fmt)(path, ConversionReport()):
            key = pmid_of(doc.doc_id or doc.path)
            if key in seen or not doc.text.strip():
                continue
            seen.add(key)
            yield key, doc.text


def write_inputs(out: Path, n_docs: int, root: Path = SHARED, *, titles: bool = False) -> dict[str, int]:
    """Write n_docs JSONL lines; with `titles`, each document is its first line only
    (short documents: many of them for little tagging time, to see what grows
    with the number of documents). RETURNS (dict[str, int]): distinct documents,
    lines and characters."""
    docs = list(abstracts(root))
    if titles:
        docs = [(doc_id, text.split("\n", 1)[0]) for doc_id, text in docs if text.split("\n", 1)[0].strip()]
    if not docs:
        raise SystemExit(f"no documents under {root}")
    out.parent.mkdir(parents=True, exist_ok=True)
    chars = 0
    with out.open("w", encoding="utf8") as f:
        for i in range(n_docs):
            doc_id, text = docs[i % len(docs)]
            rep = i // len(docs)
            f.write(json.dumps({"id": f"{doc_id}~{rep}" if rep else doc_id, "text": text}) + "\n")
            chars += len(text)
    return {"distinct": len(docs), "docs": n_docs, "chars": chars}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--titles", action="store_true", help="First lines only (short documents)")
    args = parser.parse_args(argv)
    if not SHARED.exists():
        print(f"{SHARED} is absent: nothing to do")
        return 0
    print(json.dumps(write_inputs(args.output, args.docs, titles=args.titles)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
