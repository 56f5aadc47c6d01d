"""BRAT standoff reader: ``.txt`` + ``.ann``, or the BioNLP shared-task layout
``.txt`` + ``.a1`` (entities) + ``.a2`` (event triggers, events, secondary entities).

Only text-bound ``T`` annotations become entities. Relations (``R``), events
(``E``), attributes and modifications (``A``/``M``), normalisations (``N``),
notes (``#``) and equivalences (``*``) are counted in the report's
``skipped`` table; normalisation ids are kept as ``span.kb_id_`` of the
annotation they reference. In ``.a2`` files, ``T`` lines that are the
trigger of an ``E`` line are event triggers, not entity mentions: they are
skipped and counted unless ``include_triggers`` is set. (In ``.ann`` files
brat cannot tell triggers from entities without ``annotation.conf``, so all
``T`` lines are kept; drop types with a label map.)

Offsets count characters of the file as stored: a leading BOM is character 0
(it is replaced by a space in the Doc so the offsets stay exact) and CRLF
counts two characters. If a CRLF file's annotations only fit once CRLF is
read as LF, the LF reading is used and the document is reported; likewise a
BOM is dropped (and reported) when the offsets only fit without it.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ..errors import BioNERInputError, Errors, location
from .base import SourceAnnotation, SourceDocument
from .io import display_path, find_files, read_text
from .report import ConversionReport

SKIPPED_KINDS = {
    "R": "relations",
    "E": "events",
    "A": "attributes",
    "M": "modifications",
    "N": "normalizations",
    "#": "notes",
    "*": "equivalences",
}
_ASCII_INT = re.compile(r"[0-9]+")


def parse_fragments(spec: str, loc: str) -> list[tuple[int, int]]:
    """Parse ``"0 5;12 20"`` into ``[(0, 5), (12, 20)]``.

    spec (str): The offsets part of a ``T`` line.
    loc (str): ``file:line``, for the error message.
    RETURNS (list[tuple[int, int]]): The fragments, in source order.
    """
    frags = []
    for part in spec.split(";"):
        bits = part.split()
        # str.isdigit() accepts "²" or "١", which int() then rejects without a location
        if len(bits) != 2 or not all(_ASCII_INT.fullmatch(b) for b in bits):
            raise BioNERInputError(Errors.E002.format(loc=loc, what=f"offsets {part.strip()!r} are not 'START END'"))
        start, end = int(bits[0]), int(bits[1])
        if start > end:
            raise BioNERInputError(Errors.E002.format(loc=loc, what=f"start {start} is after end {end}"))
        frags.append((start, end))
    return frags


def parse_ann(
    path: Path,
    text: str,
    report: ConversionReport,
    *,
    shown: str,
    is_a2: bool = False,
    include_triggers: bool = False,
) -> list[SourceAnnotation]:
    """Parse one standoff annotation file.

    path (Path): The ``.ann``/``.a1``/``.a2`` file.
    text (str): Ignored here; offsets are validated by the DocBuilder.
    report (ConversionReport): Receives counts of skipped line kinds.
    shown (str): The file name used in reports.
    is_a2 (bool): Whether this is a BioNLP ``.a2`` file (event triggers inside).
    include_triggers (bool): Keep ``.a2`` event triggers as entities.
    RETURNS (list[SourceAnnotation]): The text-bound annotations to convert.
    """
    content = read_text(path)
    if content.startswith("\ufeff"):
        content = content[1:]
    anns: list[SourceAnnotation] = []
    by_id: dict[str, SourceAnnotation] = {}
    triggers: set[str] = set()
    norms: list[tuple[str, str]] = []
    for lineno, raw in enumerate(content.split("\n"), start=1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        loc = location(path, lineno)
        if "\t" not in line:
            raise BioNERInputError(Errors.E002.format(loc=loc, what="no TAB after the annotation id"))
        ann_id, rest = line.split("\t", 1)
        ann_id = ann_id.strip()
        if not ann_id:
            raise BioNERInputError(Errors.E002.format(loc=loc, what="empty annotation id"))
        kind = ann_id[0]
        if kind == "T":
            fields = rest.split("\t", 1)
            head = fields[0].strip()
            if " " not in head:
                raise BioNERInputError(Errors.E002.format(loc=loc, what=f"{head!r} has no offsets after the type"))
            label, spec = head.split(" ", 1)
            frags = parse_fragments(spec, loc)
            mention = fields[1] if len(fields) > 1 else None
            if ann_id in by_id:
                raise BioNERInputError(Errors.E002.format(loc=loc, what=f"duplicate annotation id {ann_id}"))
            ann = SourceAnnotation(ann_id=ann_id, label=label, fragments=frags, text=mention, line=lineno,
                                   file=shown)
            anns.append(ann)
            by_id[ann_id] = ann
        elif kind in SKIPPED_KINDS:
            report.skip(SKIPPED_KINDS[kind])
            if kind == "E":
                trigger = rest.split("\t")[0].split()[0] if rest.strip() else ""
                if ":" not in trigger:
                    raise BioNERInputError(Errors.E002.format(loc=loc, what="event line has no 'Type:Trigger'"))
                triggers.add(trigger.split(":", 1)[1])
            elif kind == "N":
                bits = rest.split("\t")[0].split()
                if len(bits) < 3:
                    raise BioNERInputError(Errors.E002.format(loc=loc, what="normalisation line is not 'N1<TAB>Reference T1 DB:ID'"))
                norms.append((bits[1], bits[2]))
        else:
            raise BioNERInputError(Errors.E002.format(
                loc=loc, what=f"unknown annotation id {ann_id!r} (expected T, R, E, A, M, N, # or *)"))
    for target, ref in norms:
        if target in by_id:
            ann = by_id[target]
            ann.kb_id = f"{ann.kb_id}|{ref}" if ann.kb_id else ref
    if is_a2 and not include_triggers:
        kept = [a for a in anns if a.ann_id not in triggers]
        report.skip("event triggers", len(anns) - len(kept))
        anns = kept
    return anns


def _fits(text: str, anns: list[SourceAnnotation]) -> int:
    """Number of annotations whose text field matches the text at their offsets."""
    ok = 0
    for a in anns:
        if a.text is None:
            continue
        covered = " ".join(text[s:e] for s, e in a.fragments)
        ok += " ".join(covered.split()) == " ".join(a.text.split())
    return ok


def read_brat(
    path: str | Path,
    report: ConversionReport,
    *,
    include_triggers: bool = False,
) -> Iterator[SourceDocument]:
    """Read a BRAT file pair, or every pair below a directory.

    path (str | Path): A ``.txt`` file, an annotation file, or a directory.
    report (ConversionReport): Receives skipped counts and document issues.
    include_triggers (bool): Keep ``.a2`` event triggers as entities.
    YIELDS (SourceDocument): One document per ``.txt`` file.
    """
    root = Path(path)
    if root.is_file() and root.suffix.lower() in (".ann", ".a1", ".a2"):
        root = root.with_suffix(".txt")
    for txt in find_files(root, (".txt",), "brat"):
        report.files += 1
        shown = display_path(txt, Path(path))
        text = read_text(txt)
        ann_files = [txt.with_suffix(s) for s in (".ann", ".a1", ".a2")]
        anns: list[SourceAnnotation] = []
        found = [p for p in ann_files if p.exists()]
        if not found:
            report.issue({"file": shown, "doc_id": txt.stem,
                          "issue": "no .ann/.a1 file next to the text: converted with no entities"})
        for ann_path in found:
            anns.extend(parse_ann(ann_path, text, report, shown=display_path(ann_path, Path(path)),
                                  is_a2=ann_path.suffix == ".a2",
                                  include_triggers=include_triggers))
        meta: dict = {"format": "brat"}
        if "\r\n" in text:
            lf = text.replace("\r\n", "\n")
            if _fits(lf, anns) > _fits(text, anns):
                report.issue({"file": shown, "doc_id": txt.stem,
                              "issue": "offsets fit the text only with CRLF read as LF; LF reading used"})
                text = lf
                meta["newlines"] = "crlf-as-lf"
        if text.startswith("\ufeff"):
            if _fits(text[1:], anns) > _fits(text, anns):
                # written by a tool that decoded with utf-8-sig
                report.issue({"file": shown, "doc_id": txt.stem,
                              "issue": "offsets fit the text only without its leading BOM; BOM dropped"})
                text = text[1:]
                meta["bom"] = "dropped"
            else:
                # Offsets count the BOM; a space keeps them exact without gluing
                # the BOM onto the first word.
                text = " " + text[1:]
                meta["bom"] = True
        yield SourceDocument(doc_id=txt.stem, text=text, path=shown, annotations=anns, meta=meta)
