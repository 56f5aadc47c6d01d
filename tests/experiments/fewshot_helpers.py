"""What the few-shot tests share: a tiny corpus with three labels, and how to write and read it."""
from __future__ import annotations

from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin

ROOT = Path(__file__).resolve().parents[2]
Gold = list[tuple[str, str]]  # (span text, label)

TRAIN: list[tuple[str, Gold]] = [
    ("Patients with breast cancer received tamoxifen daily .", [("breast cancer", "Disease"), ("tamoxifen", "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [("Cisplatin", "Chemical"), ("nephrotoxicity", "Disease")]),
    ("Mutations in brca1 cause ovarian cancer .", [("brca1", "Gene"), ("ovarian cancer", "Disease")]),
    ("Mutations in brca2 cause breast cancer .", [("brca2", "Gene"), ("breast cancer", "Disease")]),
    ("Women with brca1 mutations were treated for lung carcinoma .", [("brca1", "Gene"), ("lung carcinoma", "Disease")]),
    ("No adverse events were seen .", []),
]
DEV: list[tuple[str, Gold]] = [
    ("Tamoxifen was given to women with breast cancer .", [("Tamoxifen", "Chemical"), ("breast cancer", "Disease")]),
    ("Brca2 mutations cause ovarian cancer .", [("Brca2", "Gene"), ("ovarian cancer", "Disease")]),
]
TEST: list[tuple[str, Gold]] = [
    ("Brca1 and brca2 mutations cause breast cancer .", [("Brca1", "Gene"), ("brca2", "Gene"), ("breast cancer", "Disease")]),
    ("Cisplatin was given after surgery .", [("Cisplatin", "Chemical")]),
]


def make_doc(nlp: Language, text: str, gold: Gold, doc_id: str | None = None) -> Doc:
    doc = nlp.make_doc(text)
    spans = []
    for span_text, label in gold:
        start = text.index(span_text)
        span = doc.char_span(start, start + len(span_text), label=label)
        assert span is not None
        spans.append(span)
    doc.spans["sc"] = spans
    doc.set_ents(spacy.util.filter_spans(spans), default="outside")
    if doc_id is not None:
        doc.user_data["bioner_source"] = {"doc_id": doc_id}
    return doc


def write_docbin(path: Path, docs: list[Doc]) -> Path:
    doc_bin = DocBin(store_user_data=True)
    for doc in docs:
        doc_bin.add(doc)
    doc_bin.to_disk(path)
    return path


def read(path: Path) -> list[Doc]:
    return list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))


def labels_of(doc: Doc) -> dict[str, list[str]]:
    out = {"ents": sorted(e.label_ for e in doc.ents)}
    for key, group in doc.spans.items():
        out[key] = sorted(s.label_ for s in group)
    return out
