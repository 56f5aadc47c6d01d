"""Writers: SourceDocuments and Docs back to BRAT, BioC XML/JSON, PubTator, JSONL and CoNLL.

They serve two purposes: round-trip tests of the readers (write, read back,
compare annotation by annotation) and writing predictions back to the source
format (:func:`source_from_doc` undoes what :class:`~.base.DocBuilder` did).
Every writer keeps character offsets exact: BRAT and BioC annotations carry
the document-level offsets of the :class:`SourceDocument` unchanged.

A predicted annotation (``score`` not None) carries its score where the format
has a place for it: a BRAT ``AnnotatorNotes`` line, BioC ``source`` and
``score`` infons, a JSONL ``"score"``; PubTator has none.
"""
from __future__ import annotations

import datetime
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from spacy.tokens import Doc, Span

from ..errors import BioNERInputError, Errors
from .base import SOURCE_KEY, SourceAnnotation, SourceDocument

CONLL_SCHEMES = ("iob2", "bioes")

_BRAT_ID = re.compile(r"T[0-9]+")
#: The BioC ``source`` infon of a predicted annotation.
PREDICTED_SOURCE = "spacy_bioner"
# Characters XML 1.0 cannot carry, not even as character references.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# Where a BioC XML document starts, and how the collection ends, as the XML writer writes them.
_XML_DOCUMENT = "\n<document>"
_XML_TAIL = "\n</collection>\n"
# What ends a line or a column in PubTator; written as spaces (one character each, so offsets stay exact).
_PUBTATOR_BREAKS = re.compile("[\t\r]")
_PUBTATOR_FIELD = re.compile("[|\t\r\n]")


def _covered(text: str, ann: SourceAnnotation) -> str:
    return " ".join(text[s:e] for s, e in ann.fragments)


def score_text(score: float) -> str:
    """A predicted annotation's score as written: rounded to 4 decimals, so the
    output does not change with the last bits of a float computation.

    score (float): The model's confidence.
    RETURNS (str): E.g. ``"0.9312"``, the same number JSONL writes.
    """
    return str(round(float(score), 4))


def _check_whole(doc: SourceDocument) -> None:
    """Writers need offsets that index ``doc.text``; a sentence of a document does not."""
    if doc.meta.get("char_offset"):
        raise BioNERInputError(Errors.E200.format(doc_id=doc.doc_id, offset=doc.meta["char_offset"]))


# -- BRAT -------------------------------------------------------------------------
def brat_from_source(doc: SourceDocument) -> tuple[str, str]:
    """Write a document as BRAT standoff.

    Annotation ids that are valid BRAT ids (``T`` + digits) are kept; others
    (BioC ids such as ``"0"``) are renumbered ``T1``, ``T2``, ... after the
    highest kept id, because BRAT tells annotation kinds by the id's first
    letter. The text field is the covered text (fragments joined by one
    space, as BRAT does), with CR and LF replaced by spaces since the
    ``.ann`` format is line-based; readers compare whitespace-normalised text,
    so such annotations still validate. Write both strings without newline
    translation (``newline=""``) so CRLF offsets stay exact. A text the BRAT
    reader read with a BOM (``meta["bom"]``, kept as a space) gets its BOM back.
    A predicted annotation's score is written as a note after the ``T`` lines,
    ``#1<TAB>AnnotatorNotes T7<TAB>score=0.93`` (the reader skips notes).

    doc (SourceDocument): The document; its offsets must index ``doc.text``.
    RETURNS (tuple[str, str]): The ``.txt`` and the ``.ann`` content.
    """
    _check_whole(doc)
    taken = {a.ann_id for a in doc.annotations if _BRAT_ID.fullmatch(a.ann_id)}
    next_id = max((int(i[1:]) for i in taken), default=0) + 1
    seen: set[str] = set()
    lines = []
    notes: list[str] = []
    for ann in doc.annotations:
        if not ann.label or any(c.isspace() for c in ann.label):
            raise BioNERInputError(Errors.E201.format(doc_id=doc.doc_id, ann_id=ann.ann_id, label=ann.label))
        ann_id = ann.ann_id
        if ann_id not in taken or ann_id in seen:
            ann_id = f"T{next_id}"
            next_id += 1
        seen.add(ann_id)
        spec = ";".join(f"{s} {e}" for s, e in ann.fragments)
        mention = _covered(doc.text, ann).replace("\r", " ").replace("\n", " ")
        lines.append(f"{ann_id}\t{ann.label} {spec}\t{mention}\n")
        if ann.score is not None:
            notes.append(f"#{len(notes) + 1}\tAnnotatorNotes {ann_id}\tscore={score_text(ann.score)}\n")
    text = doc.text
    if doc.meta.get("bom") and text.startswith(" "):
        text = "\ufeff" + text[1:]
    return text, "".join(lines + notes)


# -- BioC ---------------------------------------------------------------------------
def _passages(doc: SourceDocument) -> list[tuple[int, str, str | None]]:
    """(offset, text, type) per passage: from ``meta["passages"]`` when they fit the text."""
    given = doc.meta.get("passages")
    if isinstance(given, list) and given:
        out = []
        end = 0
        for p in sorted(given, key=lambda p: p.get("offset", 0) if isinstance(p, dict) else 0):
            if not isinstance(p, dict):
                break
            off, length = p.get("offset"), p.get("length")
            if not isinstance(off, int) or not isinstance(length, int) or off < end or length < 0:
                break
            out.append((off, doc.text[off:off + length], p.get("type")))
            end = off + length
        else:
            if end <= len(doc.text):
                return out
    return [(0, doc.text, None)]


def _passage_of(passages: list[tuple[int, str, str | None]], ann: SourceAnnotation) -> int:
    """The passage an annotation is listed under: the last one starting at or before it."""
    start = min((s for s, _ in ann.fragments), default=0)
    k = 0
    for i, (off, _, _) in enumerate(passages):
        if off <= start:
            k = i
    return k


def _bioc_collection(
    docs: Iterable[SourceDocument], source: str, date: str | None, key: str, infon_key: str
) -> dict[str, Any]:
    """The collection as BioC JSON data; the XML writer serialises the same structure."""
    out_docs = []
    for doc in docs:
        _check_whole(doc)
        passages = _passages(doc)
        grouped: list[list[dict[str, Any]]] = [[] for _ in passages]
        for ann in doc.annotations:
            infons = {infon_key: ann.label}
            if ann.kb_id:
                infons["identifier"] = ann.kb_id
            if ann.score is not None:
                infons.setdefault("source", PREDICTED_SOURCE)
                infons.setdefault("score", score_text(ann.score))
            grouped[_passage_of(passages, ann)].append({
                "id": ann.ann_id,
                "infons": infons,
                "text": ann.text if ann.text is not None else _covered(doc.text, ann),
                "locations": [{"offset": s, "length": e - s} for s, e in ann.fragments],
            })
        doc_infons = doc.meta.get("infons")
        out_docs.append({
            "id": doc.doc_id,
            "infons": {str(k): str(v) for k, v in doc_infons.items()} if isinstance(doc_infons, dict) else {},
            "passages": [
                {"offset": off, "infons": {"type": ptype} if ptype else {}, "text": text,
                 "sentences": [], "annotations": anns, "relations": []}
                for (off, text, ptype), anns in zip(passages, grouped, strict=True)
            ],
            "relations": [],
        })
    return {"source": source, "date": date if date is not None else datetime.date.today().isoformat(),
            "key": key, "infons": {}, "documents": out_docs}


def bioc_json_from_sources(
    docs: Iterable[SourceDocument],
    *,
    source: str = "spacy_bioner",
    date: str | None = None,
    key: str = "BioC.key",
    infon_key: str = "type",
) -> str:
    """Write documents as one BioC JSON collection.

    Each document becomes one passage at offset 0, or the passages of
    ``meta["passages"]`` (as the BioC reader records them) when they fit the
    text. Annotations keep their document-level offsets; the label goes into
    the ``infon_key`` infon and ``kb_id`` into ``identifier``; a predicted
    annotation gets the infons ``source`` (``spacy_bioner``) and ``score``.

    docs (Iterable[SourceDocument]): The documents; offsets must index their text.
    source (str): The collection's ``source``.
    date (str | None): The collection's ``date``; today (ISO) when None.
    key (str): The collection's ``key``.
    infon_key (str): Annotation infon that carries the label.
    RETURNS (str): The JSON text.
    """
    return bioc_json_text(_bioc_collection(docs, source, date, key, infon_key))


def bioc_json_text(collection: dict[str, Any]) -> str:
    """Serialise BioC JSON collection data the way :func:`bioc_json_from_sources` does,
    so collections joined from parts come out as if written at once.

    collection (dict[str, Any]): ``{"source", "date", "key", "infons", "documents"}``.
    RETURNS (str): The JSON text.
    """
    return json.dumps(collection, ensure_ascii=False, indent=1)


def _xml_text(value: str, where: str = "collection") -> str:
    bad = _XML_INVALID.search(value)
    if bad:
        raise BioNERInputError(Errors.E202.format(where=where, char=f"U+{ord(bad.group()):04X}", pos=bad.start()))
    # CR must be a character reference: parsers turn a literal CR into LF.
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def _xml_attr(value: str, where: str = "collection") -> str:
    # Attribute-value normalisation turns literal TAB/LF into spaces.
    return _xml_text(value, where).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")


def _xml_infons(infons: dict[str, str], out: list[str], where: str) -> None:
    for k, v in infons.items():
        out.append(f'<infon key="{_xml_attr(k, where)}">{_xml_text(v, where)}</infon>')


def bioc_xml_from_sources(
    docs: Iterable[SourceDocument],
    *,
    source: str = "spacy_bioner",
    date: str | None = None,
    key: str = "BioC.key",
    infon_key: str = "type",
) -> str:
    """Write documents as one BioC XML collection.

    Same content as :func:`bioc_json_from_sources`. Text is escaped so it
    reads back unchanged: CR is written as ``&#13;`` (XML parsers turn a
    literal CR into LF); characters XML 1.0 cannot represent at all (most C0
    controls) raise an error.

    docs (Iterable[SourceDocument]): The documents; offsets must index their text.
    source (str): The collection's ``<source>``.
    date (str | None): The collection's ``<date>``; today (ISO) when None.
    key (str): The collection's ``<key>``.
    infon_key (str): Annotation infon that carries the label.
    RETURNS (str): The XML text, with an XML declaration and the BioC DOCTYPE.
    """
    coll = _bioc_collection(docs, source, date, key, infon_key)
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE collection SYSTEM "BioC.dtd">\n<collection>',
           f"<source>{_xml_text(coll['source'])}</source><date>{_xml_text(coll['date'])}</date>"
           f"<key>{_xml_text(coll['key'])}</key>"]
    for doc in coll["documents"]:
        _xml_document_parts(doc, out)
    out.append(_XML_TAIL)
    return "".join(out)


def _xml_document_parts(doc: dict[str, Any], out: list[str]) -> None:
    where = f"document {doc['id']!r}"
    out.append(f"{_XML_DOCUMENT}<id>{_xml_text(doc['id'], where)}</id>")
    _xml_infons(doc["infons"], out, where)
    for k, p in enumerate(doc["passages"]):
        out.append("\n<passage>")
        _xml_infons(p["infons"], out, where)
        out.append(f"<offset>{p['offset']}</offset><text>{_xml_text(p['text'], f'{where} passage {k}')}</text>")
        for ann in p["annotations"]:
            a_where = f"{where} annotation {ann['id']!r}"
            out.append(f'\n<annotation id="{_xml_attr(ann["id"], a_where)}">')
            _xml_infons(ann["infons"], out, a_where)
            for loc in ann["locations"]:
                out.append(f'<location offset="{loc["offset"]}" length="{loc["length"]}"/>')
            out.append(f"<text>{_xml_text(ann['text'], a_where)}</text></annotation>")
        out.append("\n</passage>")
    out.append("\n</document>")


def split_bioc_xml(text: str) -> tuple[str, str, str] | None:
    """Split a collection written by :func:`bioc_xml_from_sources` into its head
    (declaration to ``<key>``), its documents and its tail, to join collections
    written in parts. Every text is escaped, so the first ``<document>`` tag at
    the start of a line is where the documents begin.

    text (str): The XML text.
    RETURNS (tuple[str, str, str] | None): (head, documents, tail), or None if
        the text was not written by :func:`bioc_xml_from_sources`.
    """
    if not text.startswith("<?xml") or not text.endswith(_XML_TAIL):
        return None
    body_end = len(text) - len(_XML_TAIL)
    start = text.find(_XML_DOCUMENT, 0, body_end)
    start = body_end if start < 0 else start
    return text[:start], text[start:body_end], _XML_TAIL


# -- PubTator and JSONL -----------------------------------------------------------------
def _pubtator_types(doc: SourceDocument, n: int) -> list[str]:
    """The passage key of each text line: the PubTator reader's when they fit, else t, a, a, ..."""
    given = doc.meta.get("passages") if doc.meta.get("format") == "pubtator" else None
    if isinstance(given, list) and len(given) == n:
        types = [p.get("type") if isinstance(p, dict) else None for p in given]
        if all(isinstance(t, str) and t and not _PUBTATOR_FIELD.search(t) for t in types):
            return [str(t) for t in types]
    return ["t"] + ["a"] * (n - 1)


def pubtator_from_source(doc: SourceDocument) -> str:
    """Write a document as a PubTator block: its text lines, then one mention line per annotation.

    The text is written one line per line of text (``ID|t|`` first, then
    ``ID|a|``; the PubTator reader's own passage keys when the document came
    from it), so that the reader's ``title + "\\n" + abstract`` joining gives the
    text back. A TAB or CR cannot stand in a PubTator line; each is written as
    a space, so offsets stay exact. A mention line is
    ``ID<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>id]``, from the first start
    to the last end of a discontinuous mention; PubTator has no column for a
    score (the 7th holds a composite mention's parts), so none is written.

    doc (SourceDocument): The document; its offsets must index ``doc.text``.
    RETURNS (str): The block, every line ending in ``"\\n"``, without the blank
        line that separates it from the next.
    """
    _check_whole(doc)
    where = {"doc_id": doc.doc_id, "file": doc.path}
    if not doc.doc_id or _PUBTATOR_FIELD.search(doc.doc_id) or doc.doc_id != doc.doc_id.strip():
        raise BioNERInputError(Errors.E957.format(
            **where, what="its id is empty, or holds '|', a TAB, a line break or surrounding spaces"))
    text = _PUBTATOR_BREAKS.sub(" ", doc.text)
    lines = text.split("\n")
    out = [f"{doc.doc_id}|{key}|{line}\n" for key, line in zip(_pubtator_types(doc, len(lines)), lines, strict=True)]
    for ann in doc.annotations:
        if not ann.label.strip() or _PUBTATOR_FIELD.search(ann.label):
            raise BioNERInputError(Errors.E957.format(
                **where, what=f"the label {ann.label!r} of annotation {ann.ann_id} is empty or holds '|', a TAB or a line break"))
        start, end = min(s for s, _ in ann.fragments), max(e for _, e in ann.fragments)
        cols = [doc.doc_id, str(start), str(end), text[start:end].replace("\n", " "), ann.label]
        if ann.kb_id:
            cols.append(_PUBTATOR_BREAKS.sub(" ", ann.kb_id).replace("\n", " "))
        out.append("\t".join(cols) + "\n")
    return "".join(out)


def _jsonl_span(text: str, ann: SourceAnnotation) -> dict[str, Any]:
    frags = sorted(ann.fragments)
    start, end = frags[0][0], max(e for _, e in frags)
    span: dict[str, Any] = {"start": start, "end": end, "label": ann.label}
    if ann.score is not None:
        span["score"] = round(float(ann.score), 4)
    span["text"] = text[start:end] if len(frags) == 1 else _covered(text, ann)
    if len(frags) > 1:
        span["fragments"] = [[s, e] for s, e in frags]
    if ann.kb_id:
        span["kb_id"] = ann.kb_id
    return span


def jsonl_from_source(doc: SourceDocument) -> str:
    """Write a document as one JSON line.

    ``{"id", "text", ...the other keys of a JSONL input..., "annotations"?, "spans"}``:
    predicted annotations (with a score) under ``"spans"``, each
    ``{"start", "end", "label", "score", "text"}`` (+ ``"fragments"`` when
    discontinuous, + ``"kb_id"``), the annotations the source had under
    ``"annotations"`` (when there are any), the same without score. ``start``
    and ``end`` are character offsets into ``text``, end exclusive.

    doc (SourceDocument): The document; its offsets must index ``doc.text``.
    RETURNS (str): The JSON object and a line end.
    """
    _check_whole(doc)
    extra = doc.meta.get("jsonl")
    record: dict[str, Any] = {"id": doc.doc_id, "text": doc.text}
    if isinstance(extra, dict):
        record.update((k, v) for k, v in extra.items() if k not in ("id", "text", "annotations", "spans"))
    existing = [_jsonl_span(doc.text, a) for a in doc.annotations if a.score is None]
    if existing:
        record["annotations"] = existing
    record["spans"] = [_jsonl_span(doc.text, a) for a in doc.annotations if a.score is not None]
    return json.dumps(record, ensure_ascii=False) + "\n"


# -- CoNLL ----------------------------------------------------------------------------
def conll_from_doc(doc: Doc, scheme: str = "iob2") -> str:
    """Write a Doc's entities as ``token<TAB>tag`` lines.

    Whitespace tokens are left out (CoNLL has no place for them) and tags are
    computed over the remaining tokens, so a BIOES entity still ends in
    ``E-``/``S-``. Sentences are separated by a blank line when the Doc has
    sentence boundaries; the output ends with a blank line, so the strings of
    several Docs can be concatenated.

    doc (Doc): The document; ``doc.ents`` gives the tags.
    scheme (str): ``"iob2"`` (``B-``/``I-``/``O``) or ``"bioes"`` (adds ``E-``/``S-``).
    RETURNS (str): The CoNLL text.
    """
    if scheme not in CONLL_SCHEMES:
        raise BioNERInputError(Errors.E011.format(setting="tag scheme", value=scheme, options=", ".join(CONLL_SCHEMES)))
    tags = ["O"] * len(doc)
    for ent in doc.ents:
        toks = [t.i for t in ent if not t.is_space]
        for k, i in enumerate(toks):
            if scheme == "bioes" and len(toks) == 1:
                prefix = "S"
            elif k == 0:
                prefix = "B"
            elif scheme == "bioes" and k == len(toks) - 1:
                prefix = "E"
            else:
                prefix = "I"
            tags[i] = f"{prefix}-{ent.label_}"
    has_sents = doc.has_annotation("SENT_START")
    lines: list[str] = []
    for tok in doc:
        if has_sents and tok.is_sent_start and tok.i > 0 and lines and lines[-1] != "":
            lines.append("")
        if tok.is_space:
            continue
        # Tokens never hold a space, but may hold other whitespace; keep two columns.
        lines.append(f"{' '.join(tok.text.split())}\t{tags[tok.i]}")
    if lines and lines[-1] != "":
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")


# -- predictions back to the source ----------------------------------------------------------
def source_from_doc(
    doc: Doc,
    *,
    spans_key: str | None = None,
    label: Callable[[Span], str] | None = None,
) -> SourceDocument:
    """Turn a Doc's entities back into a SourceDocument at *source* offsets.

    The inverse of :meth:`DocBuilder.build`, for writing predictions back
    to the source format. ``doc.user_data["bioner_source"]`` (written by the
    builder) gives the document id, the file, the format's metadata, and
    ``char_offset``: where this Doc starts in its source document (0 for a
    whole document, the sentence start for a ``--sentences`` Doc).
    Annotation offsets are span offsets plus ``char_offset``, so they index
    the *source* text. Spans sharing a span id (``span.id_``; the builder sets
    it to the source annotation id) become one annotation with one fragment
    per span, which undoes the ``split`` policy for discontinuous mentions;
    the ``span`` policy cannot be undone. Spans without an id get ``T1``,
    ``T2``, ... in order.

    For a sentence Doc the returned ``text`` is the sentence and
    ``meta["char_offset"]`` keeps its start, so its annotations do not index
    its text; join the sentences with :func:`merge_sentence_sources` before
    writing.

    doc (Doc): A converted or predicted Doc.
    spans_key (str | None): Take ``doc.spans[spans_key]`` instead of ``doc.ents``.
    label (Callable[[Span], str] | None): Label of a span; ``span.label_`` by default.
    RETURNS (SourceDocument): The document with annotations at source offsets.
    """
    info = dict(doc.user_data.get(SOURCE_KEY, {}))
    base = int(info.pop("char_offset", 0) or 0)
    doc_id = str(info.pop("doc_id", "") or "")
    path = str(info.pop("file", "") or "")
    info.pop("sentence", None)
    spans = list(doc.spans[spans_key]) if spans_key is not None else list(doc.ents)
    get_label = label or (lambda span: span.label_)
    anns: list[SourceAnnotation] = []
    by_id: dict[tuple[str, str], SourceAnnotation] = {}
    counter = 0
    for span in spans:
        lab = get_label(span)
        frag = (base + span.start_char, base + span.end_char)
        if span.id_ and (span.id_, lab) in by_id:
            ann = by_id[(span.id_, lab)]
            ann.fragments.append(frag)
            ann.text = f"{ann.text} {span.text}"
            continue
        if span.id_:
            ann_id = span.id_
        else:
            counter += 1
            ann_id = f"T{counter}"
        ann = SourceAnnotation(ann_id=ann_id, label=lab, fragments=[frag], text=span.text, kb_id=span.kb_id_)
        if span.id_:
            by_id[(span.id_, lab)] = ann
        anns.append(ann)
    meta = {**info, "char_offset": base} if base else info
    return SourceDocument(doc_id=doc_id, text=doc.text, path=path, annotations=anns, meta=meta)


def merge_sentence_sources(sources: Iterable[SourceDocument]) -> list[SourceDocument]:
    """Join consecutive sentence SourceDocuments of one source document into one.

    Each sentence's text is placed at its ``meta["char_offset"]``. Sentence
    Docs drop the whitespace after their last token, so the gaps are filled
    with spaces: offsets stay exact, the whitespace itself is not restored.
    Annotation ids are renumbered ``T1``, ``T2``, ... if they clash across
    sentences.

    sources (Iterable[SourceDocument]): Results of :func:`source_from_doc`, in order.
    RETURNS (list[SourceDocument]): One document per (file, doc_id) run.
    """
    groups: list[list[SourceDocument]] = []
    for src in sources:
        if groups and (groups[-1][0].path, groups[-1][0].doc_id) == (src.path, src.doc_id):
            groups[-1].append(src)
        else:
            groups.append([src])
    out = []
    for group in groups:
        parts: list[str] = []
        cursor = 0
        anns: list[SourceAnnotation] = []
        for src in sorted(group, key=lambda s: s.meta.get("char_offset", 0)):
            start = int(src.meta.get("char_offset", 0) or 0)
            if start > cursor:
                parts.append(" " * (start - cursor))
            elif start < cursor:
                raise BioNERInputError(Errors.E203.format(doc_id=src.doc_id, offset=start, end=cursor))
            parts.append(src.text)
            cursor = start + len(src.text)
            anns.extend(src.annotations)
        ids = [a.ann_id for a in anns]
        if len(set(ids)) != len(ids):
            anns = [SourceAnnotation(f"T{k}", a.label, list(a.fragments), a.text, a.line, a.kb_id, a.file)
                    for k, a in enumerate(anns, start=1)]
        first = group[0]
        meta = {k: v for k, v in first.meta.items() if k != "char_offset"}
        out.append(SourceDocument(doc_id=first.doc_id, text="".join(parts), path=first.path,
                                  annotations=anns, meta=meta))
    return out
