"""Format-independent half of every corpus reader.

Each format module parses its files into :class:`SourceDocument` objects that
hold the text and the annotations with *document-level character offsets*,
exactly as the source gives them. :class:`DocBuilder` then turns those into
spaCy ``Doc`` objects. Keeping the two halves apart means that alignment,
discontinuous-span policy, label maps, sentence splitting and the conversion
report are written once and behave the same for BRAT, BioC, CoNLL and
PubTator.

Accounting rule: every source annotation ends in exactly one of
``exact``, ``adjusted``, ``rejected`` or ``dropped`` (removed on purpose by a
label map), and the report lists each adjusted and rejected one with a reason.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy
from spacy.attrs import SENT_START
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import filter_spans

from ..errors import BioNERInputError, Errors, Warnings, location
from .limits import DEFAULT_LIMITS, Limits
from .report import ConversionReport

#: Key of the source identity in ``doc.user_data``.
SOURCE_KEY = "bioner_source"
DEFAULT_SPANS_KEY = "sc"
DISCONTINUOUS_POLICIES = ("span", "split", "skip")
ALIGNMENT_MODES = ("expand", "contract", "reject")


@dataclass
class SourceAnnotation:
    """One entity mention as the source file states it.

    ann_id (str): Identifier in the source (BRAT ``T3``, BioC annotation id, PubTator line).
    label (str): Entity type as written in the source.
    fragments (list[tuple[int, int]]): Document-level ``(start, end)`` character
        offsets, end exclusive; more than one for a discontinuous mention.
    text (str | None): The mention text the source gives, used to validate offsets.
    line (int | None): 1-based line in the source file, where the format has lines.
    kb_id (str): Normalisation identifier(s), kept as ``span.kb_id_``.
    file (str | None): The file ``line`` refers to, when not the document's own
        file (a BRAT ``.ann`` next to the ``.txt``).
    score (float | None): The model's confidence, for a predicted mention
        (``annotate``); None for one read from the source.
    """

    ann_id: str
    label: str
    fragments: list[tuple[int, int]]
    text: str | None = None
    line: int | None = None
    kb_id: str = ""
    file: str | None = None
    score: float | None = None


@dataclass
class SourceDocument:
    """A document as parsed from its source, before tokenisation.

    For token-based formats (CoNLL) ``words``/``spaces``/``sent_starts`` are
    given and the text is their concatenation, so no alignment is needed.
    ``meta`` goes into ``doc.user_data`` (it must be JSON/msgpack-serialisable)
    so predictions can be written back to the source later.
    """

    doc_id: str
    text: str
    path: str
    annotations: list[SourceAnnotation] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    words: list[str] | None = None
    spaces: list[bool] | None = None
    sent_starts: list[bool] | None = None
    #: Character offsets that must not be turned into sentence boundaries, or
    #: boundaries a format gives (e.g. passage starts).
    passage_starts: list[int] = field(default_factory=list)


# Abbreviations after which a full stop rarely ends a sentence in biomedical text.
_ABBREVIATIONS = frozenset(
    """al e.g i.e fig figs eq ref refs vs ca approx dr prof mr mrs ms no nos vol
    resp sp spp var cf etc st inc ltd co corp jr sr mol wt conc min max""".split()
)
_SENT_END = frozenset(".?!")


def split_sentences(doc: Doc, protected: Sequence[tuple[int, int]] = (),
                    forced: Iterable[int] = ()) -> list[tuple[int, int]]:
    """Split a Doc into sentences by rule, never inside a protected token range.

    A rule-based splitter is used because spaCy's statistical parsers are not
    part of a blank pipeline and its ``sentencizer`` splits after "et al." and
    "Fig.", which biomedical text is full of. A sentence ends after ``.?!``
    followed by a token starting with an upper-case letter, digit or bracket
    (unless the full stop belongs to a known abbreviation), and at every line
    break. Boundaries that would cut an annotation are removed, so every span
    stays inside one sentence.

    doc (Doc): The document.
    protected (Sequence[tuple[int, int]]): Token ranges (start, end) that must
        not be split, e.g. annotated spans.
    forced (Iterable[int]): Token indices that always start a sentence.
    RETURNS (list[tuple[int, int]]): Sentence token ranges covering the Doc.
    """
    n = len(doc)
    if n == 0:
        return []
    # Boundaries are placed only on non-space tokens, so whitespace (a double
    # space, a line break, U+2009) always stays with the sentence before it and
    # no sentence consists of whitespace alone.
    words = [t.i for t in doc if not t.is_space]
    starts = {0}
    for k, i in enumerate(words[:-1]):
        j = words[k + 1]
        tok = doc[i]
        between = tok.whitespace_ + "".join(doc[m].text_with_ws for m in range(i + 1, j))
        if "\n" in between:
            starts.add(j)
        elif tok.text in _SENT_END or (len(tok.text) > 1 and tok.text[-1] in "?!"):
            prev = doc[i - 1].text.lower().rstrip(".") if i > 0 else ""
            if tok.text == "." and (prev in _ABBREVIATIONS or (len(prev) == 1 and prev.isalpha())):
                continue
            first = doc[j].text[:1]
            if first.isupper() or first.isdigit() or first in "([":
                starts.add(j)
    for i in forced:
        nxt = next((w for w in words if w >= i), None)
        if nxt is not None and nxt > 0:
            starts.add(nxt)
    starts = {i for i in starts if i == 0 or any(not t.is_space for t in doc[:i])}
    for s, e in protected:
        for i in range(s + 1, e):
            starts.discard(i)
    bounds = sorted(starts)
    return [(b, bounds[k + 1] if k + 1 < len(bounds) else n) for k, b in enumerate(bounds)]


def _norm_ws(text: str) -> str:
    return " ".join(text.split())


class DocBuilder:
    """Turn SourceDocuments into spaCy Docs and account for every annotation.

    nlp (Language): Supplies the vocab and the tokenizer.
    report (ConversionReport): Receives the outcome of every annotation.
    spans_key (str): Key of the span group that keeps *all* annotations,
        overlapping and nested ones included.
    discontinuous (str): ``"span"`` (one span from the first start to the
        last end, reported as adjusted), ``"split"`` (one span per fragment,
        reported as adjusted) or ``"skip"`` (rejected).
    alignment (str): What to do when a boundary falls inside a token:
        ``"expand"`` to the enclosing tokens, ``"contract"`` to the tokens
        fully inside (both reported as adjusted), or ``"reject"``.
    label_map (dict[str, str | None] | None): Renames types; ``None`` drops one.
    sentences (bool): Emit one Doc per sentence instead of one per document.
    limits (Limits): The largest document accepted (checked before tokenising;
        spaCy's ``nlp.max_length`` is not consulted, this takes its place).
    """

    def __init__(
        self,
        nlp: Language,
        report: ConversionReport,
        *,
        spans_key: str = DEFAULT_SPANS_KEY,
        discontinuous: str = "span",
        alignment: str = "expand",
        label_map: dict[str, str | None] | None = None,
        sentences: bool = False,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        if discontinuous not in DISCONTINUOUS_POLICIES:
            raise BioNERInputError(Errors.E011.format(setting="discontinuous-span policy", value=discontinuous,
                                                      options=", ".join(DISCONTINUOUS_POLICIES)))
        if alignment not in ALIGNMENT_MODES:
            raise BioNERInputError(Errors.E011.format(setting="alignment mode", value=alignment,
                                                      options=", ".join(ALIGNMENT_MODES)))
        self.nlp = nlp
        self.report = report
        self.spans_key = spans_key
        self.discontinuous = discontinuous
        self.alignment = alignment
        self.label_map = label_map or {}
        self.sentences = sentences
        self.limits = limits

    # -- public -------------------------------------------------------------
    def build(self, src: SourceDocument) -> list[Doc]:
        """Convert one source document into one Doc, or one Doc per sentence.

        src (SourceDocument): The parsed document.
        RETURNS (list[Doc]): The converted Doc(s), each with ``doc.ents``,
            ``doc.spans[spans_key]`` and the source identity in ``doc.user_data``.
        """
        doc = self._make_doc(src)
        spans = []
        for ann in src.annotations:
            spans.extend(self._convert(src, doc, ann))
        spans.sort(key=lambda s: (s.start, -s.end, s.label_))
        self.report.count_document()
        if not self.sentences:
            self._set_annotations(doc, spans)
            doc.user_data[SOURCE_KEY] = {**src.meta, "doc_id": src.doc_id, "file": src.path,
                                         "char_offset": src.meta.get("char_offset", 0)}
            ranges = self._sentence_ranges(src, doc, spans)
            if len(doc):
                # one from_array call: assigning token.is_sent_start one by one is quadratic
                flags = numpy.full((len(doc), 1), -1, dtype="int64")
                flags[[s for s, _ in ranges], 0] = 1
                doc.from_array([SENT_START], flags.astype("uint64"))  # type: ignore[arg-type]
            self.report.count_sentences(len(ranges))
            self.report.count_output(1)
            return [doc]
        out = []
        ranges = self._sentence_ranges(src, doc, spans)
        self.report.count_sentences(len(ranges))
        it = iter(spans)
        pending = next(it, None)
        for k, (s, e) in enumerate(ranges):
            sent_spans = []
            while pending is not None and pending.start < e:
                sent_spans.append(pending)
                pending = next(it, None)
            sent = self._sentence_doc(doc, s, e, sent_spans)
            start_char = doc[s].idx
            base = src.meta.get("char_offset", 0)
            sent.user_data[SOURCE_KEY] = {
                **src.meta,
                "doc_id": src.doc_id,
                "file": src.path,
                "sentence": k,
                "char_offset": base + start_char,
            }
            out.append(sent)
        self.report.count_output(len(out))
        return out

    # -- internals ----------------------------------------------------------
    def _make_doc(self, src: SourceDocument) -> Doc:
        self.limits.check_chars(len(src.text), location(src.path, None, src.doc_id))
        if src.words is not None:
            return Doc(self.nlp.vocab, words=src.words, spaces=src.spaces, sent_starts=None)
        # the tokenizer itself: nlp.make_doc would apply nlp.max_length, which the limits replace
        return self.nlp.tokenizer(src.text)

    def _sentence_ranges(self, src: SourceDocument, doc: Doc, spans: list[Span]) -> list[tuple[int, int]]:
        if len(doc) == 0:
            return []
        if src.sent_starts is not None:
            starts = [i for i, flag in enumerate(src.sent_starts) if flag or i == 0]
            return [(b, starts[k + 1] if k + 1 < len(starts) else len(doc)) for k, b in enumerate(starts)]
        forced = []
        for char in src.passage_starts:
            tok = doc.char_span(char, char + 1, alignment_mode="expand")
            if tok is not None:
                forced.append(tok.start)
        return split_sentences(doc, [(s.start, s.end) for s in spans], forced)

    def _sentence_doc(self, doc: Doc, s: int, e: int, spans: list[Span]) -> Doc:
        toks = doc[s:e]
        words = [t.text for t in toks]
        spaces = [bool(t.whitespace_) for t in toks]
        if spaces:
            spaces[-1] = False
        sent = Doc(doc.vocab, words=words, spaces=spaces)
        new = []
        for sp in spans:
            ns = Span(sent, sp.start - s, sp.end - s, label=sp.label_, kb_id=sp.kb_id_, span_id=sp.id_)
            new.append(ns)
        self._set_annotations(sent, new)
        return sent

    def _set_annotations(self, doc: Doc, spans: list[Span]) -> None:
        doc.spans[self.spans_key] = spans
        ents = filter_spans(spans)
        doc.set_ents(ents, default="outside")
        left_out = Counter(sp.label_ for sp in spans)
        left_out.subtract(sp.label_ for sp in ents)
        for label, n in left_out.items():
            if n > 0:
                self.report.count_not_in_ents(label, n)

    def _convert(self, src: SourceDocument, doc: Doc, ann: SourceAnnotation) -> list[Span]:
        rep = self.report
        rep.count_source(ann.label)
        record = {
            "file": ann.file or src.path,
            "doc_id": src.doc_id,
            "ann_id": ann.ann_id,
            "line": ann.line,
            "label": ann.label,
            "fragments": [list(f) for f in ann.fragments],
            "text": ann.text,
        }
        if not ann.label.strip():
            # a span without a label would be kept in doc.spans but never reach doc.ents
            rep.rejected(ann.label, {**record, "reason": Warnings.W016})
            return []
        label = ann.label
        if ann.label in self.label_map:
            mapped = self.label_map[ann.label]
            if not mapped:
                rep.dropped(ann.label)
                return []
            label = mapped
        problem = self._check_offsets(src.text, ann)
        if problem:
            rep.rejected(ann.label, {**record, "reason": problem})
            return []
        frags = sorted(ann.fragments)
        reasons: list[str] = []
        if len(frags) > 1:
            if self.discontinuous == "skip":
                rep.rejected(ann.label, {**record, "reason": Warnings.W013})
                return []
            if self.discontinuous == "span":
                frags = [(frags[0][0], max(e for _, e in frags))]
                reasons.append(Warnings.W017)
            else:
                reasons.append(Warnings.W018.format(n=len(frags)))
        spans = self._place(doc, frags, label, ann, reasons)
        if spans is None:
            rep.rejected(ann.label, {**record, "reason": reasons[-1]})
            return []
        if reasons:
            rep.adjusted(ann.label, {
                **record,
                "reason": "; ".join(reasons),
                "converted": [[s.start_char, s.end_char] for s in spans],
                "converted_text": [s.text for s in spans],
            })
        else:
            rep.exact(ann.label)
        return spans

    @staticmethod
    def _check_offsets(text: str, ann: SourceAnnotation) -> str | None:
        """RETURNS (str | None): Why the offsets cannot be used, or None."""
        for start, end in ann.fragments:
            if not (0 <= start < end <= len(text)):
                if start < end:
                    return Warnings.W010.format(start=start, end=end, length=len(text))
                return Warnings.W011.format(start=start, end=end)
        covered = " ".join(text[s:e] for s, e in ann.fragments)
        if ann.text is not None and _norm_ws(covered) != _norm_ws(ann.text):
            return Warnings.W012.format(covered=covered)
        return None

    def _place(self, doc: Doc, frags: list[tuple[int, int]], label: str, ann: SourceAnnotation,
               reasons: list[str]) -> list[Span] | None:
        """Spans for the fragments, aligned to tokens; None (reason appended) if one cannot be placed."""
        spans = []
        text = doc.text
        for start, end in frags:
            span = doc.char_span(start, end, label=label, kb_id=ann.kb_id, span_id=ann.ann_id)
            if span is None:
                if self.alignment == "reject":
                    reasons.append(Warnings.W014.format(text=text[start:end]))
                    return None
                span = doc.char_span(start, end, label=label, kb_id=ann.kb_id, span_id=ann.ann_id,
                                     alignment_mode=self.alignment)
                if span is None or len(span) == 0:
                    reasons.append(Warnings.W015.format(text=text[start:end], mode=self.alignment))
                    return None
                reasons.append(Warnings.W019.format(text=text[start:end], mode=self.alignment,
                                                    converted=span.text))
            spans.append(span)
        return spans


def check_strict(report: ConversionReport) -> None:
    """Raise if the report holds any adjusted or rejected annotation (``--strict``)."""
    problems = report.adjusted_records + report.rejected_records
    if problems:
        first = problems[0]
        loc = location(first.get("file"), first.get("line"), None if first.get("line") else first.get("doc_id"))
        raise BioNERInputError(Errors.E015.format(
            n=len(problems), first=f"{loc} {first.get('ann_id')} {first.get('label')}: {first.get('reason')}"))
