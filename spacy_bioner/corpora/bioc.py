"""BioC reader: BioC XML and BioC JSON collections -> :class:`SourceDocument`.

One :class:`SourceDocument` per BioC ``<document>``. BioC offsets are
document-level (``<location offset>`` counts from the start of the document,
and every ``<passage>`` states where its text starts), so the document text is
rebuilt by placing each passage's text at its offset and filling the gaps
with whitespace (:mod:`.bioc_assembly`). Annotation offsets then index that
text unchanged and the format-independent :class:`~.base.DocBuilder`
validates them. This module reads XML; :mod:`.bioc_json` reads JSON
(:func:`read_bioc_json` is importable from here too).

Annotations are read wherever BioC puts them: in a ``<passage>``, in a
``<sentence>``, or directly in the ``<document>`` (document-level offsets like
all others). An ``<annotation>`` anywhere else (in a ``<relation>``, a
misspelled element, another annotation) is an error, so none is lost
unseen; elements BioC does not define are listed as a document issue.

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

Passage offsets are checked, never trusted blindly (see :mod:`.bioc_assembly`).
Relations are counted as skipped.

XML parsers turn CRLF (and a lone CR) inside text into LF, as the XML
specification requires; a producer that counted CR in its offsets is caught
by the builder's text check. JSON strings keep CR as written. A declared
encoding Python has no codec for (or a multi-byte one expat cannot use) is
an error at line 1, like any other parse error.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from ..errors import BioNERInputError, Errors, Warnings, location
from .base import SourceAnnotation, SourceDocument
from .bioc_assembly import KB_INFON_KEYS, Passage, assemble, make_annotation, parse_offset
from .bioc_json import read_bioc_json
from .io import display_path, find_files
from .limits import DEFAULT_LIMITS, Limits
from .report import ConversionReport

__all__ = ["KB_INFON_KEYS", "read_bioc_json", "read_bioc_xml"]

_EXPAT_POSITION = re.compile(r":? line \d+, column \d+$")
#: Where BioC puts annotations (the elements from the document down), and so where they are read.
_ANNOTATION_PATHS = frozenset({("document",), ("document", "passage"), ("document", "passage", "sentence")})
#: The children BioC defines, per element (the BioC DTD).
_XML_CHILDREN = {
    "document": frozenset({"id", "infon", "passage", "annotation", "relation"}),
    "passage": frozenset({"infon", "offset", "text", "sentence", "annotation", "relation"}),
    "sentence": frozenset({"infon", "offset", "text", "annotation", "relation"}),
    "annotation": frozenset({"infon", "location", "text"}),
}


def _xml_infons(elem: ET.Element, loc: str, kind: str) -> dict[str, str]:
    infons = {}
    for inf in elem.findall("infon"):
        key = inf.get("key")
        if key is None:
            raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what="<infon> without a 'key' attribute"))
        infons[key] = inf.text or ""
    return infons


def _xml_annotations(parent: ET.Element, doc_loc: str, counter: list[int], report: ConversionReport,
                     infon_key: str, limits: Limits) -> list[SourceAnnotation]:
    out = []
    for ann in parent.findall("annotation"):
        counter[0] += 1
        ann_id = ann.get("id") or f"#{counter[0]}"
        loc = f"{doc_loc} annotation {ann_id}"
        locations = [(node.get("offset"), node.get("length")) for node in ann.findall("location")]
        made = make_annotation(ann_id, _xml_infons(ann, loc, "annotation"), locations,
                               ann.findtext("text"), loc=loc, infon_key=infon_key, limits=limits)
        if made is None:
            report.skip("annotations without location")
        else:
            out.append(made)
    return out


def _unknown_children(elem: ET.Element) -> list[str]:
    """Elements BioC does not define, below a document (``<pasage> in <document>``)."""
    unknown = []
    for parent in [elem, *elem.iter("passage"), *elem.iter("sentence"), *elem.iter("annotation")]:
        known = _XML_CHILDREN.get(parent.tag)
        if known is None:
            continue
        for child in parent:
            if child.tag not in known:
                unknown.append(f"<{child.tag}> in <{parent.tag}>")
    return sorted(set(unknown))


def _xml_document(elem: ET.Element, strays: list[tuple[str, str]], shown: str, number: int,
                  report: ConversionReport, infon_key: str, limits: Limits) -> SourceDocument:
    doc_id = (elem.findtext("id") or "").strip()
    if not doc_id:
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown} [document #{number} in the file]", kind="document", what="no <id>"))
    doc_loc = location(shown, None, doc_id)
    if strays:
        ann_id, parent = strays[0]
        raise BioNERInputError(Errors.E007.format(
            loc=f"{doc_loc} annotation {ann_id}", kind="annotation",
            what=f"<annotation> inside <{parent}> of the document; BioC puts annotations in a <passage>, "
                 f"in a <sentence> of a passage, or in the <document> itself ({len(strays)} annotation(s) "
                 f"misplaced in this document)"))
    counter = [0]
    passages = []
    for k, p in enumerate(elem.findall("passage")):
        p_loc = f"{doc_loc} passage #{k}"
        passage = Passage(parse_offset(p.findtext("offset"), p_loc, "passage", "<offset>", limits),
                          p.findtext("text"), _xml_infons(p, p_loc, "passage"),
                          _xml_annotations(p, doc_loc, counter, report, infon_key, limits))
        for j, s in enumerate(p.findall("sentence")):
            s_off = parse_offset(s.findtext("offset"), f"{p_loc} sentence #{j}", "sentence", "<offset>", limits)
            passage.sentences.append((s_off, s.findtext("text"),
                                      _xml_annotations(s, doc_loc, counter, report, infon_key, limits)))
        passages.append(passage)
    doc_anns = _xml_annotations(elem, doc_loc, counter, report, infon_key, limits)
    n_rel = sum(1 for _ in elem.iter("relation"))
    if n_rel:
        report.skip("relations", n_rel)
    unknown = _unknown_children(elem)
    if unknown:
        report.issue({"file": shown, "doc_id": doc_id,
                      "issue": Warnings.W008.format(what="elements", names=", ".join(unknown))})
    return assemble(doc_id, _xml_infons(elem, doc_loc, "document"), passages, shown, report, limits, doc_anns)


def _misplaced(tag: str, parent: str | None, elem: ET.Element, shown: str, n_docs: int) -> None:
    """Refuse a <document> outside the <collection>, or an annotation outside every document."""
    if tag == "document" and parent != "collection":
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown} [document #{n_docs + 1} in the file]", kind="document",
            what=f"<document> inside <{parent}>; documents belong directly in the <collection>"))
    if tag == "annotation":
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown} [after document #{n_docs} in the file]", kind="annotation",
            what=f"<annotation id={elem.get('id')!r}> inside <{parent}>, outside every <document>"))


def _iter_xml_elements(path: Path, shown: str) -> Iterator[tuple[ET.Element, list[tuple[str, str]]]]:
    """Yield each ``<document>`` element once parsed (with the annotations found
    where BioC does not put them: ``(id, parent tag)``), then free it."""
    stack: list[str] = []
    strays: list[tuple[str, str]] = []
    n_docs = 0
    root: ET.Element | None = None
    try:
        with path.open("rb") as fh:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                if event == "start":
                    parent = stack[-1] if stack else None
                    if parent is None:
                        if elem.tag != "collection":
                            raise BioNERInputError(Errors.E008.format(
                                loc=shown, what=f"the root element is <{elem.tag}>, not <collection>"))
                        root = elem
                    if elem.tag == "document" and parent != "collection":
                        _misplaced("document", parent, elem, shown, n_docs)
                    if elem.tag == "annotation" and tuple(stack[1:]) not in _ANNOTATION_PATHS:
                        if "document" not in stack:
                            _misplaced("annotation", parent, elem, shown, n_docs)
                        strays.append((elem.get("id") or "without id", "> <".join(stack[2:])))
                    stack.append(elem.tag)
                    continue
                stack.pop()
                if elem.tag == "document":
                    n_docs += 1
                    yield elem, strays
                    strays = []
                    # bounded memory: drop the finished document from the tree
                    elem.clear()
                    if root is not None:
                        root.remove(elem)
    except ET.ParseError as err:
        line, col = err.position
        reason = _EXPAT_POSITION.sub("", str(err))
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown}:{line}:{col + 1}", kind="XML", what=reason)) from None
    except BioNERInputError:
        raise
    except (LookupError, ValueError) as err:
        # an encoding the declaration names but Python lacks, or a multi-byte one expat cannot use
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown}:1", kind="XML", what=f"the declared encoding cannot be read ({err})")) from None
    except OSError as err:
        raise BioNERInputError(Errors.E028.format(path=shown, what="read", err=err.strerror or err)) from None


def read_bioc_xml(
    path: str | Path,
    report: ConversionReport,
    *,
    infon_key: str = "type",
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[SourceDocument]:
    """Read a BioC XML file, or every ``*.xml`` file below a directory, streaming.

    path (str | Path): A file or a directory.
    report (ConversionReport): Receives file counts, skipped relations and
        passage-offset issues.
    infon_key (str): Annotation infon holding the entity type.
    limits (Limits): The largest document and offset accepted.
    YIELDS (SourceDocument): One document per ``<document>``, with document-level offsets.
    """
    root = Path(path)
    for file in find_files(root, (".xml",), "bioc-xml"):
        report.files += 1
        shown = display_path(file, root)
        n = 0
        for n, (elem, strays) in enumerate(_iter_xml_elements(file, shown), start=1):
            yield _xml_document(elem, strays, shown, n, report, infon_key, limits)
        if n == 0:
            report.issue({"file": shown, "doc_id": None, "issue": Warnings.W006})
