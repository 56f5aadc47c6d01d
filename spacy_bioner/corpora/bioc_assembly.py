"""What the BioC XML and JSON readers share: numbers, annotations, and the
document text rebuilt from passages placed at their offsets.

BioC offsets are document-level, so a document's text is rebuilt by placing
each passage's text at its offset and filling the gaps with whitespace (one
character becomes ``"\\n"``, a longer gap ``"\\n"`` plus spaces). Passage
offsets are checked, never trusted blindly: when most annotations of a
passage do not match the text at its declared offset but do match at the
conventional one (end of the previous passage + 1), the passage is placed
there; a passage that overlaps the previous one is placed right after it.
Both are reported as document issues. Every offset is checked against the
:class:`~.limits.Limits` when it is read, and the document's length before the
text is built, so a passage at offset 10^12 is an error, not an allocation.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import BioNERInputError, Errors, Warnings
from .base import SourceAnnotation, SourceDocument
from .limits import Limits
from .report import ConversionReport

#: Annotation infons that hold a normalisation id, in order of preference
#: (BioRED ``identifier``, CDR ``MESH``, GNormPlus ``NCBI Gene``).
KB_INFON_KEYS = ("identifier", "MESH", "Identifier", "NCBI Gene")

_INTEGER = re.compile(r"-?[0-9]+")


@dataclass
class Passage:
    """A passage as read: its declared offset, text, infons and annotations
    (its own, and per sentence ``(offset, text, annotations)``)."""

    offset: int
    text: str | None
    infons: dict[str, str]
    annotations: list[SourceAnnotation] = field(default_factory=list)
    sentences: list[tuple[int, str | None, list[SourceAnnotation]]] = field(default_factory=list)


@dataclass
class _Unit:
    """A stretch of text placed in the document: a passage's text, or one
    sentence of a passage that has no text of its own."""

    declared: int
    text: str
    annotations: list[SourceAnnotation]
    passage: int
    what: str


def norm_ws(text: str) -> str:
    """Collapse white space, to compare a mention text with the text its offsets cover."""
    return " ".join(text.split())


def parse_offset(value: Any, loc: str, kind: str, what: str, limits: Limits) -> int:
    """Parse a non-negative integer offset or length within the limits, or raise with ``loc``.

    value (Any): An int (JSON) or a string of digits (XML, or JSON written with strings).
    loc (str): ``file [document ID] ...``, for the error.
    kind (str): The BioC element (``passage``, ``location``), for the error.
    what (str): The field (``<offset>``, ``'length'``), for the error.
    limits (Limits): The largest offset accepted.
    RETURNS (int): The number.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"{what} is negative ({value})"))
        return limits.check_offset(value, loc)
    digits = value.strip() if isinstance(value, str) else None
    if digits is None or not _INTEGER.fullmatch(digits):
        shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
        raise BioNERInputError(Errors.E007.format(
            loc=loc, kind=kind, what=f"{what} is missing or not an integer ({shown})"))
    if digits.startswith("-") and digits.strip("-0"):
        raise BioNERInputError(Errors.E007.format(loc=loc, kind=kind, what=f"{what} is negative ({digits[:24]})"))
    return limits.offset(digits.lstrip("-"), loc)


def make_annotation(
    ann_id: str,
    infons: dict[str, str],
    locations: list[tuple[Any, Any]],
    text: str | None,
    *,
    loc: str,
    infon_key: str,
    limits: Limits,
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
        start = parse_offset(off, loc, "location", "offset", limits)
        end = limits.check_offset(start + parse_offset(length, loc, "location", "length", limits), loc)
        frags.append((start, end))
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
            fits += norm_ws(covered) == norm_ws(ann.text)
    return checked, fits


def _filler(gap: int) -> str:
    return "" if gap <= 0 else "\n" + " " * (gap - 1)


def _units(ordered: list[Passage]) -> list[_Unit]:
    """The stretches of text to place: each passage, or each sentence of a passage without text."""
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
    return units


def _position(unit: _Unit, prev_end: int | None) -> tuple[int, dict[str, Any] | None]:
    """Where a unit goes, and the document issue to report when that is not its declared offset."""
    declared = unit.declared
    conventional = 0 if prev_end is None else prev_end + 1
    if prev_end is not None and declared < prev_end:
        # An overlap cannot be honoured: the text would be overwritten.
        pos = conventional if unit.text else prev_end
        checked, fits = _fit(unit, pos)
        return pos, {"issue": Warnings.W004.format(where=unit.what, declared=declared, end=prev_end, pos=pos),
                     "declared": declared, "placed": pos, "annotations": checked, "fit_placed": fits}
    if declared != conventional and unit.text:
        checked, fits = _fit(unit, declared)
        if checked and fits * 2 < checked:
            _, fits_conv = _fit(unit, conventional)
            if fits_conv * 2 > checked and fits_conv > fits:
                return conventional, {
                    "issue": Warnings.W005.format(where=unit.what, declared=declared, placed=conventional),
                    "declared": declared, "placed": conventional, "annotations": checked,
                    "fit_declared": fits, "fit_placed": fits_conv}
    return declared, None


def _place(units: list[_Unit], doc_loc: str, limits: Limits,
           issue: Any) -> tuple[str, list[int]]:
    """Place the units; the length is checked before any filler or text is added."""
    pieces: list[str] = []
    cursor = 0
    prev_end: int | None = None
    placed: list[int] = []
    for unit in units:
        pos, record = _position(unit, prev_end)
        if record is not None:
            issue(record)
        placed.append(pos)
        if unit.text:
            limits.check_chars(pos + len(unit.text), doc_loc)
            pieces.append(_filler(pos - cursor))
            pieces.append(unit.text)
            cursor = prev_end = pos + len(unit.text)
    return "".join(pieces), placed


def _passage_meta(ordered: list[Passage], units: list[_Unit], placed: list[int]) -> tuple[list[dict], set[int]]:
    """The placed passages for ``meta["passages"]``, and the offsets that start a passage or a given sentence."""
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
        entry: dict[str, Any] = {"offset": start, "length": max(end - start, 0), "type": p.infons.get("type")}
        if start != p.offset:
            entry["declared_offset"] = p.offset
        meta_passages.append(entry)
        starts.add(start)
        if p.text is None and p.sentences:
            # the format states these sentence boundaries; keep them
            starts.update(placed[i] for i in idx)
    return meta_passages, starts


def assemble(
    doc_id: str,
    doc_infons: dict[str, str],
    passages: list[Passage],
    shown: str,
    report: ConversionReport,
    limits: Limits,
    doc_annotations: list[SourceAnnotation] | None = None,
) -> SourceDocument:
    """Place passages (or their sentences) at their offsets and rebuild the text.

    doc_id (str): The document's id.
    doc_infons (dict[str, str]): Its infons, kept in ``meta``.
    passages (list[Passage]): Its passages, in any order.
    shown (str): The file, for issues and errors.
    report (ConversionReport): Receives passage-offset issues.
    limits (Limits): The largest document accepted.
    doc_annotations (list[SourceAnnotation] | None): Annotations placed under
        the document itself; their offsets are document-level like all others.
    RETURNS (SourceDocument): The document.
    """
    doc_loc = f"{shown} [document {doc_id}]"
    ordered = sorted(passages, key=lambda p: p.offset)
    units = _units(ordered)
    text, placed = _place(units, doc_loc, limits,
                          lambda record: report.issue({"file": shown, "doc_id": doc_id, **record}))
    meta_passages, starts = _passage_meta(ordered, units, placed)
    meta: dict[str, Any] = {"format": "bioc", "passages": meta_passages}
    if doc_infons:
        meta["infons"] = doc_infons
    annotations = [a for u in units for a in u.annotations] + list(doc_annotations or [])
    return SourceDocument(doc_id=doc_id, text=text, path=shown, annotations=annotations, meta=meta,
                          passage_starts=sorted(starts))
