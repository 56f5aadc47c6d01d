"""A displaCy page of some tagged documents (`annotate --html N`), to look at
what a run predicted.

displaCy's span style draws overlapping spans on stacked lines, so every
prediction is shown, nested and overlapping ones included. The page is built
from the SourceDocuments (not from spaCy Docs): words are split at white space
and at every span boundary, so each span covers whole words whatever the
pipeline's tokenizer did. A span's label reads "Label 0.93" (the score, two
decimals), coloured by label. Only predictions (annotations with a score) are
drawn; a discontinuous prediction is drawn once per fragment.
"""
from __future__ import annotations

import html
import random
import re
from bisect import bisect_left
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from spacy import displacy

from ..corpora.base import SourceAnnotation, SourceDocument
from ..errors import BioNERInputError, Errors, location

# label colours, in order of the labels' first appearance (sorted); then they repeat
PALETTE = ("#7aecec", "#feca74", "#bfeeb7", "#aa9cfc", "#ff9561", "#e4e7d2", "#c887fb", "#9cc9cc",
           "#ffeb80", "#ff8197", "#f0d0ff", "#bfe1d9")
_WORD = re.compile(r"\S+")


def write_html(docs: Sequence[SourceDocument], path: Path, n: int, seed: int = 0) -> int:
    """Write a displaCy page of `n` documents sampled at random (the same for
    the same documents and seed), in their order.

    docs (Sequence[SourceDocument]): Tagged documents (see Annotator.annotate).
    path (Path): The HTML file to write.
    n (int): How many documents to show (all when there are fewer).
    seed (int): The sampling seed.
    RETURNS (int): The number of documents on the page.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BioNERInputError(Errors.E029.format(setting="number of documents for the HTML page", value=n))
    chosen = sorted(random.Random(seed).sample(range(len(docs)), min(n, len(docs))))
    sample = [docs[i] for i in chosen]
    labels = sorted({ann.label for doc in sample for ann in predictions(doc)})
    colours = {label: PALETTE[k % len(PALETTE)] for k, label in enumerate(labels)}
    parsed = [_parsed(doc) for doc in sample]
    shown = {span["label"]: colours[span["raw_label"]] for item in parsed for span in item["spans"]}
    page = displacy.render(parsed, style="span", manual=True, page=True, options={"colors": shown})
    try:
        Path(path).write_text(page, encoding="utf8")
    except OSError as err:
        raise BioNERInputError(Errors.E028.format(path=path, what="written", err=err)) from err
    return len(sample)


def predictions(doc: SourceDocument) -> list[SourceAnnotation]:
    """doc (SourceDocument): A tagged document.
    RETURNS (list[SourceAnnotation]): Its predictions (annotations with a score)."""
    return [ann for ann in doc.annotations if ann.score is not None]


def span_label(ann: SourceAnnotation) -> str:
    """ann (SourceAnnotation): A prediction. RETURNS (str): Its label on the page (HTML-escaped)."""
    return html.escape(f"{ann.label} {ann.score:.2f}")


def _parsed(doc: SourceDocument) -> dict[str, Any]:
    """displaCy's manual span input for one document: words, spans over words, title."""
    anns = predictions(doc)
    fragments = [(start, end) for ann in anns for start, end in ann.fragments]
    cuts = sorted({0, len(doc.text), *(offset for fragment in fragments for offset in fragment)})
    words: list[str] = []
    starts: list[int] = []
    for begin, end in zip(cuts, cuts[1:], strict=False):
        for match in _WORD.finditer(doc.text, begin, end):
            words.append(match.group())
            starts.append(match.start())
    spans = []
    for ann in anns:
        for start, end in ann.fragments:
            first, last = bisect_left(starts, start), bisect_left(starts, end)
            if first < last:
                spans.append({"start_token": first, "end_token": last, "label": span_label(ann),
                              "raw_label": ann.label})
    title = html.escape(location(doc.path, None, doc.doc_id))
    return {"text": doc.text, "tokens": words, "spans": spans, "title": title}
