"""BioC JSON reader: the JSON form of BioC collections -> :class:`SourceDocument`.

The text is rebuilt as for BioC XML (:mod:`.bioc_assembly`). JSON lets a
file say things XML cannot, and each would lose annotations without a word
if it were read naively, so the reader refuses them with the file and
document named:

* a duplicate key (``json`` keeps only the last value, so an
  ``"annotations"`` list written twice would lose the first);
* an annotation (an object with ``"locations"``, or an ``"annotations"``
  list) under a key BioC does not define, e.g. a misspelled ``"pasages"``;
  other keys BioC does not define (``"pmid"``, ``"journal"`` in PubTator
  exports) are listed as a document issue and not read;
* a lone surrogate (``"\\ud800"``) in a text, id or infon, which no UTF-8
  writer can store;
* nesting deeper than Python's JSON parser can follow.

``"id": 0`` is an id like any other. Annotations directly under a document
are read, as in XML.
"""
from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import BioNERInputError, Errors, Warnings, location
from .base import SourceAnnotation, SourceDocument
from .bioc_assembly import Passage, assemble, make_annotation, parse_offset
from .io import display_path, find_files, read_text
from .limits import DEFAULT_LIMITS, Limits
from .report import ConversionReport

_SURROGATE = re.compile("[\ud800-\udfff]")
#: Keys BioC defines, per object: the lists of child objects, and the plain values.
_CHILDREN = {
    "collection": {"documents": "document"},
    "document": {"passages": "passage", "annotations": "annotation", "relations": "relation"},
    "passage": {"sentences": "sentence", "annotations": "annotation", "relations": "relation"},
    "sentence": {"annotations": "annotation", "relations": "relation"},
    "annotation": {"locations": "location"},
    "relation": {"nodes": "node"},
    "location": {},
    "node": {},
}
_VALUES = {
    "collection": {"source", "date", "key", "version"},
    "document": {"id"},
    "passage": {"offset", "text"},
    "sentence": {"offset", "text"},
    "annotation": {"id", "text"},
    "relation": {"id"},
    "location": {"offset", "length"},
    "node": {"refid", "role"},
}
#: Keys every object may have: ``bioctype`` is written by the NCBI BioC API.
_ANY = {"infons", "bioctype"}


class _Object(dict):
    """A JSON object that remembers a key it held twice (``json`` would keep the last value only)."""

    duplicate: str | None = None


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                obj.duplicate = key
                break
            seen.add(key)
    return obj


def _load(content: str, shown: str) -> Any:
    """Parse the JSON text; every way it can fail becomes an error naming the file."""
    try:
        return json.loads(content, object_pairs_hook=_pairs)
    except json.JSONDecodeError as err:
        raise BioNERInputError(Errors.E007.format(
            loc=f"{shown}:{err.lineno}:{err.colno}", kind="JSON", what=err.msg)) from None
    except RecursionError:
        raise BioNERInputError(Errors.E007.format(
            loc=shown, kind="JSON", what="arrays or objects nested deeper than the JSON parser can follow")) from None
    except ValueError as err:
        # a number of more than 4,300 digits, which int() refuses
        long_number = re.search(r"[0-9]{4301,}", content)
        line = content[:long_number.start()].count("\n") + 1 if long_number else 1
        raise BioNERInputError(Errors.E007.format(loc=f"{shown}:{line}", kind="JSON", what=err)) from None


def _hidden(value: Any) -> str | None:
    """What a value that is not read holds that must not be lost: an annotation, a
    location, or an object with a duplicate key (which may have hidden one). Walked without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "locations" in item or isinstance(item.get("annotations"), list):
                return "annotations"
            if "offset" in item and "length" in item:
                return "locations"
            if isinstance(item, _Object) and item.duplicate:
                return f"an object with the key {item.duplicate!r} twice (JSON keeps only the last)"
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _check_object(obj: dict, kind: str, where: str, unknown: set[str]) -> None:
    """Refuse a duplicate key, or an annotation where none is read; collect the undefined keys."""
    if isinstance(obj, _Object) and obj.duplicate:
        raise BioNERInputError(Errors.E007.format(
            loc=where, kind=kind, what=f"the key {obj.duplicate!r} appears twice (JSON keeps only the last)"))
    for key, value in obj.items():
        if key in _CHILDREN[kind]:
            continue
        hidden = _hidden(value) if isinstance(value, (dict, list)) else None
        if key == "locations" or (key == "annotations" and value):
            hidden = f"{key!r} where a {kind} has none"
        if hidden:
            guess = difflib.get_close_matches(key, list(_CHILDREN[kind]), n=1)
            hint = f" (did you mean {guess[0]!r}?)" if guess else ""
            raise BioNERInputError(Errors.E007.format(
                loc=where, kind=kind,
                what=f"the key {key!r} is not read, but holds {hidden}; BioC puts annotations in the "
                     f"'annotations' list of a document, passage or sentence, and locations in the "
                     f"'locations' list of an annotation{hint}"))
        if key not in _VALUES[kind] and key not in _ANY:
            unknown.add(f"{key!r} in {kind}")


def check_tree(doc: Any, where: str) -> list[str]:
    """Check a document and everything below it before it is read (no recursion).

    doc (Any): The parsed document.
    where (str): ``file [document ID]``, for errors.
    RETURNS (list[str]): The keys BioC does not define (``'pmid' in document``), sorted.
    """
    unknown: set[str] = set()
    stack: list[tuple[Any, str, str]] = [(doc, "document", where)]
    while stack:
        obj, kind, loc = stack.pop()
        if not isinstance(obj, dict):
            continue
        _check_object(obj, kind, loc, unknown)
        for key, child in _CHILDREN[kind].items():
            items = obj.get(key)
            if isinstance(items, list):
                stack.extend((item, child, f"{loc} {child} #{i}") for i, item in enumerate(items))
    return sorted(unknown)


def _string(value: Any, loc: str, kind: str, what: str) -> str | None:
    """A text, id or infon value: None, a string without lone surrogates, or a number."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise BioNERInputError(Errors.E007.format(
            loc=loc, kind=kind, what=f"{what} is {type(value).__name__}, not a string"))
    bad = _SURROGATE.search(value)
    if bad:
        raise BioNERInputError(Errors.E007.format(
            loc=loc, kind=kind, what=f"{what} holds a lone surrogate U+{ord(bad.group()):04X} at position "
                                    f"{bad.start()}, which is not a character (the JSON escapes half a pair)"))
    return value


def _json_id(obj: dict[str, Any], loc: str, kind: str) -> str | None:
    """The ``id``: a string or an integer (``0`` included); None when missing or empty."""
    value = obj.get("id")
    if isinstance(value, float):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"'id' is a number with a fraction ({value!r})"))
    text = _string(value, loc, kind, "'id'")
    return (text.strip() or None) if text is not None else None


def _json_infons(obj: dict[str, Any], loc: str, kind: str) -> dict[str, str]:
    infons = obj.get("infons") or {}
    if not isinstance(infons, dict):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what="'infons' is not an object"))
    return {str(_string(k, loc, kind, "an infon key")): _string(v, loc, kind, f"the infon {k!r}") or ""
            for k, v in infons.items()}


def _json_list(obj: dict[str, Any], key: str, loc: str, kind: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"'{key}' is not a list"))
    return value


def _json_object(value: Any, loc: str, kind: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"expected an object, got {type(value).__name__}"))
    return value


def _json_annotations(parent: dict[str, Any], doc_loc: str, counter: list[int], report: ConversionReport,
                      infon_key: str, limits: Limits) -> list[SourceAnnotation]:
    out = []
    for raw in _json_list(parent, "annotations", doc_loc, "passage"):
        counter[0] += 1
        ann = _json_object(raw, f"{doc_loc} annotation #{counter[0]}", "annotation")
        ann_id = _json_id(ann, f"{doc_loc} annotation #{counter[0]}", "annotation") or f"#{counter[0]}"
        loc = f"{doc_loc} annotation {ann_id}"
        locations = []
        for node in _json_list(ann, "locations", loc, "annotation"):
            node = _json_object(node, loc, "location")
            locations.append((node.get("offset"), node.get("length")))
        made = make_annotation(ann_id, _json_infons(ann, loc, "annotation"), locations,
                               _string(ann.get("text"), loc, "annotation", "'text'"), loc=loc,
                               infon_key=infon_key, limits=limits)
        if made is None:
            report.skip("annotations without location")
        else:
            out.append(made)
    return out


def _json_passage(raw_p: Any, p_loc: str, doc_loc: str, counter: list[int], report: ConversionReport,
                  infon_key: str, limits: Limits) -> tuple[Passage, int]:
    """One passage and the number of relations in it."""
    p = _json_object(raw_p, p_loc, "passage")
    passage = Passage(parse_offset(p.get("offset"), p_loc, "passage", "'offset'", limits),
                      _string(p.get("text"), p_loc, "passage", "'text'"), _json_infons(p, p_loc, "passage"),
                      _json_annotations(p, doc_loc, counter, report, infon_key, limits))
    n_rel = len(_json_list(p, "relations", p_loc, "passage"))
    for j, raw_s in enumerate(_json_list(p, "sentences", p_loc, "passage")):
        s_loc = f"{p_loc} sentence #{j}"
        s = _json_object(raw_s, s_loc, "sentence")
        passage.sentences.append((parse_offset(s.get("offset"), s_loc, "sentence", "'offset'", limits),
                                  _string(s.get("text"), s_loc, "sentence", "'text'"),
                                  _json_annotations(s, doc_loc, counter, report, infon_key, limits)))
        n_rel += len(_json_list(s, "relations", s_loc, "sentence"))
    return passage, n_rel


def _json_document(raw: Any, shown: str, number: int, report: ConversionReport,
                   infon_key: str, limits: Limits) -> SourceDocument:
    numbered = f"{shown} [document #{number} in the file]"
    doc = _json_object(raw, numbered, "document")
    doc_id = _json_id(doc, numbered, "document")
    if doc_id is None:
        raise BioNERInputError(Errors.E007.format(loc=numbered, kind="document", what="no 'id'"))
    doc_loc = location(shown, None, doc_id)
    unknown = check_tree(doc, doc_loc)
    counter = [0]
    passages = []
    n_rel = len(_json_list(doc, "relations", doc_loc, "document"))
    for k, raw_p in enumerate(_json_list(doc, "passages", doc_loc, "document")):
        passage, n = _json_passage(raw_p, f"{doc_loc} passage #{k}", doc_loc, counter, report, infon_key, limits)
        passages.append(passage)
        n_rel += n
    doc_anns = _json_annotations(doc, doc_loc, counter, report, infon_key, limits)
    if n_rel:
        report.skip("relations", n_rel)
    if unknown:
        report.issue({"file": shown, "doc_id": doc_id, "issue": Warnings.W008.format(what="keys", names=", ".join(unknown))})
    return assemble(doc_id, _json_infons(doc, doc_loc, "document"), passages, shown, report, limits, doc_anns)


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
        unknown: set[str] = set()
        _check_object(coll, "collection", f"{shown} [collection]", unknown)
        docs.extend(coll["documents"])
    return docs


def read_bioc_json(
    path: str | Path,
    report: ConversionReport,
    *,
    infon_key: str = "type",
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[SourceDocument]:
    """Read a BioC JSON file, or every ``*.json`` file below a directory.

    Each file is loaded whole with :func:`json.loads` (BioC JSON files are a
    few MB; JSON cannot be streamed by the standard library).

    path (str | Path): A file or a directory.
    report (ConversionReport): Receives file counts, skipped relations and
        passage-offset issues.
    infon_key (str): Annotation infon holding the entity type.
    limits (Limits): The largest document and offset accepted.
    YIELDS (SourceDocument): One document per collection document.
    """
    root = Path(path)
    for file in find_files(root, (".json",), "bioc-json"):
        report.files += 1
        shown = display_path(file, root)
        content = read_text(file, shown)
        docs = _json_documents(_load(content[1:] if content.startswith("\ufeff") else content, shown), shown)
        if not docs:
            report.issue({"file": shown, "doc_id": None, "issue": Warnings.W006})
        for n, raw in enumerate(docs, start=1):
            yield _json_document(raw, shown, n, report, infon_key, limits)
