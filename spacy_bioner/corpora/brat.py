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

Files are paired by name: ``NAME.txt`` with ``NAME.ann``/``.a1``/``.a2``,
whatever the case of the ending (``.TXT``/``.ANN``). An annotation file
without its text file is an error (its annotations could not be counted), as
are two files whose endings differ only in case. LF, CRLF and a lone CR all
end a line of an annotation file.
"""
from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BioNERInputError, Errors, Warnings, location
from .base import SourceAnnotation, SourceDocument
from .io import display_path, find_files, is_blank, read_text, split_lines
from .limits import DEFAULT_LIMITS, Limits
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
ANN_SUFFIXES = (".ann", ".a1", ".a2")
_ASCII_INT = re.compile(r"[0-9]+")


def parse_fragments(spec: str, loc: str, limits: Limits = DEFAULT_LIMITS) -> list[tuple[int, int]]:
    """Parse ``"0 5;12 20"`` into ``[(0, 5), (12, 20)]``.

    spec (str): The offsets part of a ``T`` line.
    loc (str): ``file:line``, for the error message.
    limits (Limits): The largest offset accepted.
    RETURNS (list[tuple[int, int]]): The fragments, in source order.
    """
    frags = []
    for part in spec.split(";"):
        bits = part.split()
        # str.isdigit() accepts "²" or "١", which int() then rejects without a location
        if len(bits) != 2 or not all(_ASCII_INT.fullmatch(b) for b in bits):
            raise BioNERInputError(Errors.E002.format(loc=loc, what=f"offsets {part.strip()!r} are not 'START END'"))
        start, end = limits.offset(bits[0], loc), limits.offset(bits[1], loc)
        if start > end:
            raise BioNERInputError(Errors.E002.format(loc=loc, what=f"start {start} is after end {end}"))
        frags.append((start, end))
    return frags


@dataclass
class _AnnFile:
    """What one annotation file holds, while it is parsed."""

    anns: list[SourceAnnotation] = field(default_factory=list)
    by_id: dict[str, SourceAnnotation] = field(default_factory=dict)
    triggers: set[str] = field(default_factory=set)
    norms: list[tuple[str, str]] = field(default_factory=list)


def _t_line(ann_id: str, rest: str, loc: str, lineno: int, shown: str, limits: Limits, out: _AnnFile) -> None:
    fields = rest.split("\t", 1)
    head = fields[0].strip()
    if " " not in head:
        raise BioNERInputError(Errors.E002.format(loc=loc, what=f"{head!r} has no offsets after the type"))
    label, spec = head.split(" ", 1)
    frags = parse_fragments(spec, loc, limits)
    if ann_id in out.by_id:
        raise BioNERInputError(Errors.E002.format(loc=loc, what=f"duplicate annotation id {ann_id}"))
    ann = SourceAnnotation(ann_id=ann_id, label=label, fragments=frags,
                           text=fields[1] if len(fields) > 1 else None, line=lineno, file=shown)
    out.anns.append(ann)
    out.by_id[ann_id] = ann


def _other_line(kind: str, rest: str, loc: str, out: _AnnFile) -> None:
    if kind == "E":
        trigger = rest.split("\t")[0].split()[0] if rest.strip() else ""
        if ":" not in trigger:
            raise BioNERInputError(Errors.E002.format(loc=loc, what="event line has no 'Type:Trigger'"))
        out.triggers.add(trigger.split(":", 1)[1])
    elif kind == "N":
        bits = rest.split("\t")[0].split()
        if len(bits) < 3:
            raise BioNERInputError(Errors.E002.format(
                loc=loc, what="normalisation line is not 'N1<TAB>Reference T1 DB:ID'"))
        out.norms.append((bits[1], bits[2]))


def parse_ann(
    path: Path,
    text: str,
    report: ConversionReport,
    *,
    shown: str,
    is_a2: bool = False,
    include_triggers: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> list[SourceAnnotation]:
    """Parse one standoff annotation file.

    path (Path): The ``.ann``/``.a1``/``.a2`` file.
    text (str): Ignored here; offsets are validated by the DocBuilder.
    report (ConversionReport): Receives counts of skipped line kinds.
    shown (str): The file name used in reports and errors.
    is_a2 (bool): Whether this is a BioNLP ``.a2`` file (event triggers inside).
    include_triggers (bool): Keep ``.a2`` event triggers as entities.
    limits (Limits): The largest offset accepted.
    RETURNS (list[SourceAnnotation]): The text-bound annotations to convert.
    """
    content = read_text(path, shown)
    if content.startswith("\ufeff"):
        content = content[1:]
    out = _AnnFile()
    for lineno, line in enumerate(split_lines(content), start=1):
        if is_blank(line):
            continue
        loc = location(shown, lineno)
        if "\t" not in line:
            raise BioNERInputError(Errors.E002.format(loc=loc, what="no TAB after the annotation id"))
        ann_id, rest = line.split("\t", 1)
        ann_id = ann_id.strip()
        if not ann_id:
            raise BioNERInputError(Errors.E002.format(loc=loc, what="empty annotation id"))
        if ann_id[0] == "T":
            _t_line(ann_id, rest, loc, lineno, shown, limits, out)
        elif ann_id[0] in SKIPPED_KINDS:
            report.skip(SKIPPED_KINDS[ann_id[0]])
            _other_line(ann_id[0], rest, loc, out)
        else:
            raise BioNERInputError(Errors.E002.format(
                loc=loc, what=f"unknown annotation id {ann_id!r} (expected T, R, E, A, M, N, # or *)"))
    for target, ref in out.norms:
        if target in out.by_id:
            ann = out.by_id[target]
            ann.kb_id = f"{ann.kb_id}|{ref}" if ann.kb_id else ref
    anns = out.anns
    if is_a2 and not include_triggers:
        anns = [a for a in anns if a.ann_id not in out.triggers]
        report.skip("event triggers", len(out.anns) - len(anns))
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


def _one_per_ending(files: list[Path], loc: str) -> dict[str, Path]:
    """The files of one document by lower-case ending; two that differ only in case are an error."""
    by_suffix: dict[str, list[Path]] = defaultdict(list)
    for f in files:
        by_suffix[f.suffix.lower()].append(f)
    for same in by_suffix.values():
        if len(same) > 1:
            raise BioNERInputError(Errors.E030.format(loc=loc, names=", ".join(sorted(p.name for p in same))))
    return {suffix: same[0] for suffix, same in by_suffix.items()}


def find_pairs(path: str | Path) -> list[tuple[Path, list[Path]]]:
    """Pair every text file with its annotation files, matching endings in any case.

    path (str | Path): A ``.txt`` file, an annotation file, or a directory.
    RETURNS (list[tuple[Path, list[Path]]]): ``(text file, annotation files)``
        per document, sorted by path.
    """
    root = Path(path)
    endings = (".txt", *ANN_SUFFIXES)
    if root.is_file():
        # the file and whatever shares its name; a text file may have any ending
        stem = root.with_suffix("")
        files = [root] + [p for p in root.parent.iterdir() if p.is_file() and p.with_suffix("") == stem
                          and p.suffix.lower() in endings and p != root]
    else:
        files = find_files(root, endings, "brat")
    groups: dict[Path, list[Path]] = defaultdict(list)
    for f in files:
        groups[f.with_suffix("")].append(f)
    pairs = []
    for stem, group in sorted(groups.items()):
        by_suffix = _one_per_ending(group, display_path(stem, root))
        anns = [by_suffix[s] for s in ANN_SUFFIXES if s in by_suffix]
        texts = [f for f in group if f.suffix.lower() not in ANN_SUFFIXES]
        if not texts:
            raise BioNERInputError(Errors.E016.format(ann=display_path(anns[0], root), txt=f"{stem.name}.txt"))
        pairs.append((texts[0], anns))
    return pairs


def _fix_text(text: str, anns: list[SourceAnnotation], shown: str, doc_id: str,
              report: ConversionReport) -> tuple[str, dict]:
    """Read CRLF as LF, or drop a BOM, when only that makes the offsets fit; report it."""
    meta: dict = {"format": "brat"}
    if "\r\n" in text:
        lf = text.replace("\r\n", "\n")
        if _fits(lf, anns) > _fits(text, anns):
            report.issue({"file": shown, "doc_id": doc_id, "issue": Warnings.W002})
            text = lf
            meta["newlines"] = "crlf-as-lf"
    if text.startswith("\ufeff"):
        if _fits(text[1:], anns) > _fits(text, anns):
            # written by a tool that decoded with utf-8-sig
            report.issue({"file": shown, "doc_id": doc_id, "issue": Warnings.W003})
            text = text[1:]
            meta["bom"] = "dropped"
        else:
            # Offsets count the BOM; a space keeps them exact without gluing
            # the BOM onto the first word.
            text = " " + text[1:]
            meta["bom"] = True
    return text, meta


def read_brat(
    path: str | Path,
    report: ConversionReport,
    *,
    include_triggers: bool = False,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[SourceDocument]:
    """Read a BRAT file pair, or every pair below a directory.

    path (str | Path): A ``.txt`` file, an annotation file, or a directory.
    report (ConversionReport): Receives skipped counts and document issues.
    include_triggers (bool): Keep ``.a2`` event triggers as entities.
    limits (Limits): The largest document and offset accepted.
    YIELDS (SourceDocument): One document per ``.txt`` file.
    """
    root = Path(path)
    for txt, ann_files in find_pairs(root):
        report.files += 1
        shown = display_path(txt, root)
        text = read_text(txt, shown, limits)
        anns: list[SourceAnnotation] = []
        if not ann_files:
            report.issue({"file": shown, "doc_id": txt.stem, "issue": Warnings.W001})
        for ann_path in ann_files:
            anns.extend(parse_ann(ann_path, text, report, shown=display_path(ann_path, root),
                                  is_a2=ann_path.suffix.lower() == ".a2",
                                  include_triggers=include_triggers, limits=limits))
        text, meta = _fix_text(text, anns, shown, txt.stem, report)
        yield SourceDocument(doc_id=txt.stem, text=text, path=shown, annotations=anns, meta=meta)
