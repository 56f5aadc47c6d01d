"""BioC reader: BioC XML and BioC JSON collections -> :class:`SourceDocument`.

One :class:`SourceDocument` per BioC ``<document>``. BioC offsets are
document-level (``<location offset>`` counts from the start of the document,
and every ``<passage>`` states where its text starts), so the document text is
rebuilt by placing each passage's text at its offset and filling the gaps
with whitespace: one character becomes ``"\\n"``, a longer gap ``"\\n"`` plus
spaces. Annotation offsets then index that text unchanged and the
format-independent :class:`~.base.DocBuilder` validates them.

Why the standard library and not the ``bioc`` package:

* Streaming: ``xml.etree.ElementTree.iterparse`` hands over one
  ``<document>`` at a time and the element is cleared after use, so memory
  stays bounded on large collections (PMC full-text dumps), where building
  the whole collection object first does not.
* Offline: the files declare ``<!DOCTYPE collection SYSTEM "BioC.dtd">``;
  expat never loads external DTDs, so conversion never reaches for the
  network or a file next to the input.
* Real-world quirks are ours to tolerate: single-quoted attributes and CRLF
  files (BioCreative V CDR), documents and passages without ``infons`` in
  JSON (BioRED), wrong passage offsets (the CDR evaluation-kit sample, whose
  producer counted the title's characters in escaped XML, ``&apos;`` as
  six), annotations without ``id`` (allowed by the DTD).
* Error locations we control: every malformed input raises
  :class:`~spacy_bioner.errors.BioNERInputError` naming the file and the
  line/column (parse errors) or the document and annotation id.
* One dependency fewer.

Passage offsets are checked, never trusted blindly: when most annotations of a
passage do not match the text at its declared offset but do match at the
conventional one (end of the previous passage + 1), the passage is placed
there; a passage that overlaps the previous one is placed right after it.
Both are reported as document issues. Relations are counted as skipped.

XML parsers turn CRLF (and a lone CR) inside text into LF, as the XML
specification requires; a producer that counted CR in its offsets is caught
by the builder's text check. JSON strings keep CR as written.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BioNERInputError, Errors, location
from .base import SourceAnnotation, SourceDocument
from .io import display_path, find_files, read_text
from .report import ConversionReport

#: Annotation infons that hold a normalisation id, in order of preference
#: (BioRED ``identifier``, CDR ``MESH``, GNormPlus ``NCBI Gene``).
KB_INFON_KEYS = ("identifier", "MESH", "Identifier", "NCBI Gene")

_EXPAT_POSITION = re.compile(r":? line \d+, column \d+$")
_INTEGER = re.compile(r"-?[0-9]+")


@dataclass
class _Unit:
    """A stretch of text placed in the document: a passage's text, or one
    sentence of a passage that has no text of its own."""

    declared: int
    text: str
    annotations: list[SourceAnnotation]
    passage: int
    what: str


@dataclass
class _Passage:
    offset: int
    text: str | None
    infons: dict[str, str]
    annotations: list[SourceAnnotation] = field(default_factory=list)
    sentences: list[tuple[int, str | None, list[SourceAnnotation]]] = field(default_factory=list)


# -- shared helpers -------------------------------------------------------------
def _norm_ws(text: str) -> str:
    return " ".join(text.split())


def _int(value: Any, loc: str, kind: str, what: str) -> int:
    """Parse a non-negative integer offset or length, or raise with ``loc``."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise BioNERInputError(Errors.E007.format(
            loc=loc, kind=kind, what=f"{what} is missing or not an integer ({value!r})"))
    if number < 0:
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"{what} is negative ({number})"))
    return number


def _make_annotation(
    ann_id: str,
    infons: dict[str, str],
    locations: list[tuple[Any, Any]],
    text: str | None,
    *,
    loc: str,
    infon_key: str,
) -> SourceAnnotation | None:
    """Build a SourceAnnotation from parsed BioC parts; None if it has no location.

    loc (str): ``file [document ID] annotation ID``, for error messages.
    """
    if infon_key not in infons:
        raise BioNERInputError(Errors.E007.format(
            loc=loc, kind="annotation",
            what=f"no infon '{infon_key}' to take the entity type from (its infons: "
                 f"{', '.join(sorted(infons)) or 'none'}); pick the key with --infon-key"))
    if not locations:
        return None
    frags = []
    for off, length in locations:
        start = _int(off, loc, "location", "offset")
        frags.append((start, start + _int(length, loc, "location", "length")))
    kb_id = next((infons[k] for k in KB_INFON_KEYS if infons.get(k)), "")
    return SourceAnnotation(ann_id=ann_id, label=infons[infon_key], fragments=frags, text=text,
                            line=None, kb_id=kb_id)


def _fit(unit: _Unit, pos: int) -> tuple[int, int]:
    """How many of a unit's annotations (with a text) match it when placed at ``pos``.

    RETURNS (tuple[int, int]): (annotations that can be checked, annotations that fit).
    """
    checked = fits = 0
    end = pos + len(unit.text)
    for ann in unit.annotations:
        if ann.text is None:
            continue
        checked += 1
        if all(pos <= s < e <= end for s, e in ann.fragments):
            covered = " ".join(unit.text[s - pos:e - pos] for s, e in ann.fragments)
            fits += _norm_ws(covered) == _norm_ws(ann.text)
    return checked, fits


def _filler(gap: int) -> str:
    return "" if gap <= 0 else "\n" + " " * (gap - 1)


def _assemble(
    doc_id: str,
    doc_infons: dict[str, str],
    passages: list[_Passage],
    shown: str,
    report: ConversionReport,
) -> SourceDocument:
    """Place passages (or their sentences) at their offsets and rebuild the text.

    Passage offsets are checked against the annotations: see the module docstring.
    """
    order = sorted(range(len(passages)), key=lambda i: passages[i].offset)
    ordered = [passages[i] for i in order]
    units: list[_Unit] = []
    for k, p in enumerate(ordered):
        if p.text is not None or not p.sentences:
            anns = p.annotations + [a for s in p.sentences for a in s[2]]
            units.append(_Unit(p.offset, p.text or "", anns, k, f"passage {k}"))
        else:
            sents = sorted(p.sentences, key=lambda s: s[0])
            for j, (s_off, s_text, s_anns) in enumerate(sents):
                anns = s_anns + (p.annotations if j == 0 else [])
                units.append(_Unit(s_off, s_text or "", anns, k, f"passage {k} sentence {j}"))

    pieces: list[str] = []
    cursor = 0
    prev_end: int | None = None
    placed: list[int] = []
    for unit in units:
        declared = unit.declared
        conventional = 0 if prev_end is None else prev_end + 1
        pos = declared
        if prev_end is not None and declared < prev_end:
            # An overlap cannot be honoured: the text would be overwritten.
            pos = conventional if unit.text else prev_end
            checked, fits = _fit(unit, pos)
            report.issue({
                "file": shown, "doc_id": doc_id,
                "issue": Errors.E020.format(loc=unit.what, declared=declared, end=prev_end)
                + f" Placed at {pos}.",
                "declared": declared, "placed": pos, "annotations": checked, "fit_placed": fits,
            })
        elif declared != conventional and unit.text:
            checked, fits = _fit(unit, declared)
            if checked and fits * 2 < checked:
                _, fits_conv = _fit(unit, conventional)
                if fits_conv * 2 > checked and fits_conv > fits:
                    pos = conventional
                    report.issue({
                        "file": shown, "doc_id": doc_id,
                        "issue": f"{unit.what} offset declared {declared}, annotations fit "
                                 f"{conventional}: passage placed at {conventional}",
                        "declared": declared, "placed": conventional, "annotations": checked,
                        "fit_declared": fits, "fit_placed": fits_conv,
                    })
        placed.append(pos)
        if unit.text:
            pieces.append(_filler(pos - cursor))
            pieces.append(unit.text)
            cursor = pos + len(unit.text)
            prev_end = cursor
    text = "".join(pieces)

    meta_passages: list[dict[str, Any]] = []
    starts: set[int] = set()
    for k, p in enumerate(ordered):
        idx = [i for i, u in enumerate(units) if u.passage == k]
        first = idx[0]
        start = placed[first]
        if p.text is None and p.sentences:
            # the passage may start before its first sentence; keep that distance
            start = max(0, min(placed[first] - (units[first].declared - p.offset), start))
        end = max(placed[i] + len(units[i].text) for i in idx)
        entry: dict[str, Any] = {"offset": start, "length": max(end - start, 0),
                                 "type": p.infons.get("type")}
        if start != p.offset:
            entry["declared_offset"] = p.offset
        meta_passages.append(entry)
        starts.add(start)
        if p.text is None and p.sentences:
            # the format states these sentence boundaries; keep them
            starts.update(placed[i] for i in idx)
    meta: dict[str, Any] = {"format": "bioc", "passages": meta_passages}
    if doc_infons:
        meta["infons"] = doc_infons
    annotations = [a for u in units for a in u.annotations]
    return SourceDocument(doc_id=doc_id, text=text, path=shown, annotations=annotations, meta=meta,
                          passage_starts=sorted(starts))


# -- XML ------------------------------------------------------------------------------
def _xml_infons(elem: ET.Element, loc: str, kind: str) -> dict[str, str]:
    infons = {}
    for inf in elem.findall("infon"):
        key = inf.get("key")
        if key is None:
            raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what="<infon> without a 'key' attribute"))
        infons[key] = inf.text or ""
    return infons


def _xml_annotations(parent: ET.Element, doc_loc: str, counter: list[int], report: ConversionReport,
                     infon_key: str) -> list[SourceAnnotation]:
    out = []
    for ann in parent.findall("annotation"):
        counter[0] += 1
        ann_id = ann.get("id") or f"#{counter[0]}"
        loc = f"{doc_loc} annotation {ann_id}"
        locations = [(node.get("offset"), node.get("length")) for node in ann.findall("location")]
        made = _make_annotation(ann_id, _xml_infons(ann, loc, "annotation"), locations,
                                ann.findtext("text"), loc=loc, infon_key=infon_key)
        if made is None:
            report.skip("annotations without location")
        else:
            out.append(made)
    return out


def _xml_document(elem: ET.Element, shown: str, number: int, report: ConversionReport,
                  infon_key: str) -> SourceDocument:
    doc_id = (elem.findtext("id") or "").strip()
    if not doc_id:
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown} [document #{number} in the file]", kind="document", what="no <id>"))
    doc_loc = location(shown, None, doc_id)
    counter = [0]
    passages = []
    for k, p in enumerate(elem.findall("passage")):
        p_loc = f"{doc_loc} passage #{k}"
        offset = _int(p.findtext("offset"), p_loc, "passage", "<offset>")
        passage = _Passage(offset, p.findtext("text"), _xml_infons(p, p_loc, "passage"),
                           _xml_annotations(p, doc_loc, counter, report, infon_key))
        for j, s in enumerate(p.findall("sentence")):
            s_off = _int(s.findtext("offset"), f"{p_loc} sentence #{j}", "sentence", "<offset>")
            passage.sentences.append((s_off, s.findtext("text"),
                                      _xml_annotations(s, doc_loc, counter, report, infon_key)))
        passages.append(passage)
    n_rel = sum(1 for _ in elem.iter("relation"))
    if n_rel:
        report.skip("relations", n_rel)
    return _assemble(doc_id, _xml_infons(elem, doc_loc, "document"), passages, shown, report)


def _iter_xml_elements(path: Path, shown: str) -> Iterator[ET.Element]:
    """Yield each ``<document>`` element once parsed, then free it."""
    with path.open("rb") as fh:
        root: ET.Element | None = None
        try:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                if root is None:
                    root = elem
                    if elem.tag != "collection":
                        raise BioNERInputError(Errors.E008.format(
                            loc=shown, what=f"the root element is <{elem.tag}>, not <collection>"))
                    continue
                if event == "end" and elem.tag == "document":
                    yield elem
                    # bounded memory: drop the finished document from the tree
                    elem.clear()
                    try:
                        root.remove(elem)
                    except ValueError:
                        pass
        except ET.ParseError as err:
            line, col = err.position
            reason = _EXPAT_POSITION.sub("", str(err))
            raise BioNERInputError(Errors.E007.format(
                loc=f"{shown}:{line}:{col + 1}", kind="XML", what=reason)) from None


def read_bioc_xml(
    path: str | Path,
    report: ConversionReport,
    *,
    infon_key: str = "type",
) -> Iterator[SourceDocument]:
    """Read a BioC XML file, or every ``*.xml`` file below a directory, streaming.

    path (str | Path): A file or a directory.
    report (ConversionReport): Receives file counts, skipped relations and
        passage-offset issues.
    infon_key (str): Annotation infon holding the entity type.
    YIELDS (SourceDocument): One document per ``<document>``, with document-level offsets.
    """
    root = Path(path)
    for file in find_files(root, (".xml",), "bioc-xml"):
        report.files += 1
        shown = display_path(file, root)
        n = 0
        for n, elem in enumerate(_iter_xml_elements(file, shown), start=1):
            yield _xml_document(elem, shown, n, report, infon_key)
        if n == 0:
            report.issue({"file": shown, "doc_id": None, "issue": "the collection has no <document>"})


# -- JSON -----------------------------------------------------------------------------
def _json_infons(obj: dict[str, Any], loc: str, kind: str) -> dict[str, str]:
    infons = obj.get("infons") or {}
    if not isinstance(infons, dict):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what="'infons' is not an object"))
    return {str(k): "" if v is None else str(v) for k, v in infons.items()}


def _json_list(obj: dict[str, Any], key: str, loc: str, kind: str) -> list[Any]:
    value = obj.get(key) or []
    if not isinstance(value, list):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"'{key}' is not a list"))
    return value


def _json_object(value: Any, loc: str, kind: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"expected an object, got {type(value).__name__}"))
    return value


def _json_annotations(parent: dict[str, Any], doc_loc: str, counter: list[int], report: ConversionReport,
                      infon_key: str) -> list[SourceAnnotation]:
    out = []
    for raw in _json_list(parent, "annotations", doc_loc, "passage"):
        counter[0] += 1
        ann = _json_object(raw, f"{doc_loc} annotation #{counter[0]}", "annotation")
        ann_id = str(ann.get("id") or f"#{counter[0]}")
        loc = f"{doc_loc} annotation {ann_id}"
        locations = []
        for node in _json_list(ann, "locations", loc, "annotation"):
            node = _json_object(node, loc, "location")
            locations.append((node.get("offset"), node.get("length")))
        text = ann.get("text")
        made = _make_annotation(ann_id, _json_infons(ann, loc, "annotation"), locations,
                                None if text is None else str(text), loc=loc, infon_key=infon_key)
        if made is None:
            report.skip("annotations without location")
        else:
            out.append(made)
    return out


def _json_text(obj: dict[str, Any]) -> str | None:
    text = obj.get("text")
    return None if text is None else str(text)


def _json_document(raw: Any, shown: str, number: int, report: ConversionReport,
                   infon_key: str) -> SourceDocument:
    doc = _json_object(raw, f"{shown} [document #{number} in the file]", "document")
    doc_id = str(doc.get("id") or "").strip()
    if not doc_id:
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown} [document #{number} in the file]", kind="document", what="no 'id'"))
    doc_loc = location(shown, None, doc_id)
    counter = [0]
    passages = []
    n_rel = len(_json_list(doc, "relations", doc_loc, "document"))
    for k, raw_p in enumerate(_json_list(doc, "passages", doc_loc, "document")):
        p_loc = f"{doc_loc} passage #{k}"
        p = _json_object(raw_p, p_loc, "passage")
        passage = _Passage(_int(p.get("offset"), p_loc, "passage", "'offset'"), _json_text(p),
                           _json_infons(p, p_loc, "passage"),
                           _json_annotations(p, doc_loc, counter, report, infon_key))
        n_rel += len(_json_list(p, "relations", p_loc, "passage"))
        for j, raw_s in enumerate(_json_list(p, "sentences", p_loc, "passage")):
            s_loc = f"{p_loc} sentence #{j}"
            s = _json_object(raw_s, s_loc, "sentence")
            passage.sentences.append((_int(s.get("offset"), s_loc, "sentence", "'offset'"), _json_text(s),
                                      _json_annotations(s, doc_loc, counter, report, infon_key)))
            n_rel += len(_json_list(s, "relations", s_loc, "sentence"))
        passages.append(passage)
    if n_rel:
        report.skip("relations", n_rel)
    return _assemble(doc_id, _json_infons(doc, doc_loc, "document"), passages, shown, report)


def _json_documents(data: Any, shown: str) -> list[Any]:
    """The documents of a collection; a list of collections (the NCBI BioC API) is accepted."""
    collections = data if isinstance(data, list) else [data]
    docs: list[Any] = []
    for coll in collections:
        if not isinstance(coll, dict) or not isinstance(coll.get("documents"), list):
            got = type(coll).__name__ if not isinstance(coll, dict) else \
                f"an object with keys {', '.join(sorted(map(str, coll))) or 'none'}"
            raise BioNERInputError(Errors.E008.format(
                loc=shown, what=f'expected an object with a "documents" list, got {got}'))
        docs.extend(coll["documents"])
    return docs


def read_bioc_json(
    path: str | Path,
    report: ConversionReport,
    *,
    infon_key: str = "type",
) -> Iterator[SourceDocument]:
    """Read a BioC JSON file, or every ``*.json`` file below a directory.

    Each file is loaded whole with :func:`json.load` (BioC JSON files are a
    few MB; JSON cannot be streamed by the standard library).

    path (str | Path): A file or a directory.
    report (ConversionReport): Receives file counts, skipped relations and
        passage-offset issues.
    infon_key (str): Annotation infon holding the entity type.
    YIELDS (SourceDocument): One document per collection document.
    """
    root = Path(path)
    for file in find_files(root, (".json",), "bioc-json"):
        report.files += 1
        shown = display_path(file, root)
        content = read_text(file)
        try:
            data = json.loads(content[1:] if content.startswith("\ufeff") else content)
        except json.JSONDecodeError as err:
            raise BioNERInputError(Errors.E007.format(
                loc=f"{shown}:{err.lineno}:{err.colno}", kind="JSON", what=err.msg)) from None
        docs = _json_documents(data, shown)
        if not docs:
            report.issue({"file": shown, "doc_id": None, "issue": "the collection has no documents"})
        for n, raw in enumerate(docs, start=1):
            yield _json_document(raw, shown, n, report, infon_key)
