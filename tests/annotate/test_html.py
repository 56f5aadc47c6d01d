"""The displaCy page of `annotate --html N` (spacy_bioner.annotate.html),
opened in headless chromium: every predicted span of the sampled documents is
on the rendered page, with its text and its label."""
from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
from spacy.language import Language

from spacy_bioner.annotate.html import write_html
from spacy_bioner.annotate.predict import Annotator
from spacy_bioner.corpora.base import SourceAnnotation, SourceDocument
from spacy_bioner.errors import BioNERInputError, location

Shown = Counter[tuple[str, str]]
_TOP = re.compile(r"top:\s*(-?\d+)px")


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no headless browser: install chromium (apt-get install chromium) to test the HTML page")


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The page's DOM after chromium has parsed and laid it out."""
    out = subprocess.run(
        [browser(), "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}",
         "--dump-dom", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=180, check=False)
    assert out.returncode == 0 and "<figure" in out.stdout, out.stderr[-2000:]
    return out.stdout


class SpanPage(HTMLParser):
    """Read displaCy's span markup back: per figure (document title), the
    spans as (text, label). A word inside spans is an element holding the word,
    one "slice" per span over it (its line: `top`) and a "start" with the label
    for each span it starts; a span runs on over the next words that have a
    slice on its line, until another span starts on that line."""

    def __init__(self) -> None:
        super().__init__()
        self.figures: dict[str, Shown] = {}
        self._title: str | None = None
        self._in_title = False
        self._depth = -1  # element depth inside div.spans; -1 outside
        self._words: list[dict] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        style = dict(attrs).get("style") or ""
        if tag == "h2":
            self._in_title, self._title = True, ""
        elif tag == "div" and dict(attrs).get("class") == "spans":
            self._depth, self._words = 0, []
        elif self._depth >= 0:
            self._depth += 1
            if self._depth == 1:
                self._words.append({"text": "", "slices": set(), "starts": {}})
            elif self._depth == 2:
                found = _TOP.search(style)
                assert found is not None, style
                top = int(found.group(1))
                word = self._words[-1]
                if "border-top-left-radius" in style:
                    word["starts"][top] = ""
                    word["open"] = top
                else:
                    word["slices"].add(top)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self._in_title = False
        elif self._depth == 0 and tag == "div":
            self.figures[self._title or ""] = self._spans()
            self._depth = -1
        elif self._depth > 0:
            self._depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self._title = (self._title or "") + data
        elif self._depth == 0:
            self._words.extend({"text": w, "slices": set(), "starts": {}} for w in data.split())
        elif self._depth == 1:
            self._words[-1]["text"] += data.strip()
        elif self._depth == 3:
            word = self._words[-1]
            word["starts"][word["open"]] += data.strip()

    def _spans(self) -> Shown:
        shown: Shown = Counter()
        for i, word in enumerate(self._words):
            for top, label in word["starts"].items():
                j = i + 1
                while j < len(self._words) and top in self._words[j]["slices"] and top not in self._words[j]["starts"]:
                    j += 1
                shown[(" ".join(w["text"] for w in self._words[i:j]), label)] += 1
        return shown


def read_page(page: Path, tmp_path: Path) -> dict[str, Shown]:
    parser = SpanPage()
    parser.feed(dump_dom(page, tmp_path))
    return parser.figures


def wanted(doc: SourceDocument) -> Shown:
    """The spans a document's predictions should show: (text, "Label 0.93")."""
    return Counter((" ".join(doc.text[s:e].split()), f"{ann.label} {ann.score:.2f}")
                   for ann in doc.annotations if ann.score is not None for s, e in ann.fragments)


def title(doc: SourceDocument) -> str:
    return location(doc.path, None, doc.doc_id)


@pytest.fixture
def overlapping() -> SourceDocument:
    """Nested and overlapping predictions, characters HTML must escape, an existing annotation."""
    text = "BRCA1 & <b>BRCA2</b> mutations\r\ncause ovarian  cancer ."

    def ann(phrase: str, label: str, score: float | None, ann_id: str) -> SourceAnnotation:
        start = text.index(phrase)
        return SourceAnnotation(ann_id, label, [(start, start + len(phrase))], text=phrase, score=score)

    anns = [ann("mutations", "Existing", None, "T1"), ann("BRCA1", "Gene", 0.9, "P1"),
            ann("BRCA1 & <b>BRCA2</b> mutations", "Variant<i>&amp;", 0.5, "P2"),
            ann("<b>BRCA2</b>", "Gene", 0.875, "P3"), ann("ovarian  cancer", "Disease", 0.75, "P4"),
            ann("cancer", "Disease", 0.6, "P5"), ann("cancer .", "Disease", 0.55, "P6")]
    # a discontinuous prediction: drawn once per fragment
    anns.append(SourceAnnotation("P7", "Site", [(text.index("ovarian"), text.index("ovarian") + 7),
                                                 (text.index(" ."), len(text))], score=0.25))
    return SourceDocument("o<b>1</b>", text, "x&y.txt", annotations=anns)


def test_every_predicted_span_is_on_the_page(
        annotate_nlp: Language, sample_documents: list[SourceDocument], overlapping: SourceDocument,
        tmp_path: Path) -> None:
    tagged = Annotator(annotate_nlp).annotate(sample_documents)
    docs = [doc for doc in tagged if isinstance(doc, SourceDocument)] + [overlapping]
    page = tmp_path / "page.html"
    assert write_html(docs, page, n=len(docs)) == len(docs)
    figures = read_page(page, tmp_path)
    assert list(figures) == [title(doc) for doc in docs]
    for doc in docs:
        assert figures[title(doc)] == wanted(doc), doc.doc_id
    assert sum(len(wanted(doc)) for doc in docs) > len(wanted(overlapping))
    # existing annotations (no score) are not drawn
    assert "Existing" not in page.read_text(encoding="utf8")


def test_the_sample_is_reproducible(overlapping: SourceDocument, tmp_path: Path) -> None:
    docs = [SourceDocument(f"d{i}", f"Cisplatin {i} .", "f.txt",
                           [SourceAnnotation("P1", "Chemical", [(0, 9)], score=i / 20)]) for i in range(20)]
    pages: dict[int, list[bytes]] = {}
    for seed in (0, 0, 1):
        path = tmp_path / f"{seed}.html"
        assert write_html(docs, path, n=3, seed=seed) == 3
        pages.setdefault(seed, []).append(path.read_bytes())
    assert pages[0][0] == pages[0][1] != pages[1][0]
    figures = read_page(tmp_path / "1.html", tmp_path)
    titles = [title(doc) for doc in docs]
    assert len(figures) == 3 and sorted(figures, key=titles.index) == list(figures)
    for name, shown in figures.items():
        assert shown == wanted(docs[titles.index(name)])
    assert write_html(docs[:2], tmp_path / "all.html", n=5) == 2


def test_invalid_page_settings(tmp_path: Path) -> None:
    with pytest.raises(BioNERInputError, match=r"\[E029\]"):
        write_html([], tmp_path / "p.html", n=0)
    with pytest.raises(BioNERInputError, match=r"\[E028\]"):
        write_html([], tmp_path / "missing" / "p.html", n=1)
