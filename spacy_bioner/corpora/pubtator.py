"""PubTator reader: ``PMID|t|title``, ``PMID|a|abstract``, then mention lines
``PMID<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>id[<TAB>individual mentions]]``
and relation lines, with a blank line between documents.

Offsets index ``title + "\\n" + abstract`` (one separator character), so the
document text is rebuilt exactly that way (further ``|x|`` passages are
appended the same way). A composite mention ("ovarian and breast cancer")
becomes one span; the individual mentions of its 7th column carry no
offsets, so they cannot be placed and are counted in ``skipped``. A line
whose second column starts with a letter is a relation (``CID``,
``Association``) and is counted as one; any other line must be a mention
with plain integer offsets (``0.0``, ``+0`` or an empty column is an error,
not a relation). LF, CRLF and CR line endings are accepted; offsets never
count line ends. Only ASCII spaces and TABs make a line blank.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BioNERInputError, Errors, location
from .base import SourceAnnotation, SourceDocument
from .io import display_path, find_files, is_blank, iter_lines
from .limits import DEFAULT_LIMITS, Limits
from .report import ConversionReport

_OFFSET = re.compile(r"[0-9]+")


def _iter_blocks(path: Path, shown: str) -> Iterator[list[tuple[int, str]]]:
    block: list[tuple[int, str]] = []
    for lineno, line in iter_lines(path, shown):
        if is_blank(line):
            if block:
                yield block
                block = []
            continue
        block.append((lineno, line))
    if block:
        yield block


def _is_relation(col: str) -> bool:
    # a relation's second column is its type (CID, Association, Positive_Correlation)
    first = col.strip()[:1]
    return first.isascii() and first.isalpha()


def read_pubtator(path: str | Path, report: ConversionReport, *,
                  limits: Limits = DEFAULT_LIMITS) -> Iterator[SourceDocument]:
    """Read PubTator files.

    path (str | Path): A file or a directory of ``.txt``/``.pubtator`` files.
    report (ConversionReport): Receives skipped relations and composite parts.
    limits (Limits): The largest document and offset accepted.
    YIELDS (SourceDocument): One document per PMID block.
    """
    root = Path(path)
    for file in find_files(root, (".pubtator", ".txt", ".pubtator.txt"), "pubtator"):
        if file.name.lower() in ("readme.txt", "license.txt", "disclaimer.txt"):
            continue
        report.files += 1
        shown = display_path(file, root)
        for block in _iter_blocks(file, shown):
            yield _parse_block(block, shown, report, limits)


@dataclass
class _Block:
    """One document while its lines are read."""

    shown: str
    limits: Limits
    pmid: str | None = None
    text: str = ""
    passages: list[dict] = field(default_factory=list)
    anns: list[SourceAnnotation] = field(default_factory=list)

    def text_line(self, line: str, loc: str) -> None:
        doc_id, key, content = line.split("|", 2)
        if self.pmid is None:
            self.pmid = doc_id
        elif doc_id != self.pmid:
            raise BioNERInputError(Errors.E006.format(
                loc=loc, what=f"PMID {doc_id} inside the block of PMID {self.pmid} (is a blank line missing?)"))
        if self.anns:
            raise BioNERInputError(Errors.E006.format(loc=loc, what="text line after mention lines"))
        sep = "\n" if self.text or self.passages else ""
        self.limits.check_chars(len(self.text) + len(sep) + len(content), location(self.shown, None, self.pmid))
        self.text += sep
        self.passages.append({"offset": len(self.text), "length": len(content), "type": key})
        self.text += content

    def mention_line(self, cols: list[str], loc: str, lineno: int, report: ConversionReport) -> None:
        start_col, end_col = cols[1].strip(), cols[2].strip()
        if not (start_col.isascii() and _OFFSET.fullmatch(start_col) and end_col.isascii()
                and _OFFSET.fullmatch(end_col)):
            raise BioNERInputError(Errors.E006.format(
                loc=loc, what=f"offsets {cols[1]!r}-{cols[2]!r} are not both non-negative integers "
                              f"(a relation line has its type, which starts with a letter, in the second column)"))
        if len(cols) < 5:
            raise BioNERInputError(Errors.E006.format(loc=loc, what="mention line needs PMID, start, end, mention and type"))
        start, end = self.limits.offset(start_col, loc), self.limits.offset(end_col, loc)
        if start > end:
            raise BioNERInputError(Errors.E006.format(loc=loc, what=f"start {start} is after end {end}"))
        kb_id = cols[5].strip() if len(cols) > 5 else ""
        if len(cols) > 6 and cols[6].strip():
            report.skip("composite parts without offsets", len(cols[6].split("|")))
        self.anns.append(SourceAnnotation(ann_id=f"L{lineno}", label=cols[4].strip(), fragments=[(start, end)],
                                          text=cols[3], line=lineno, kb_id=kb_id if kb_id != "-1" else ""))


def _parse_block(block: list[tuple[int, str]], shown: str, report: ConversionReport,
                 limits: Limits) -> SourceDocument:
    doc = _Block(shown, limits)
    for lineno, line in block:
        loc = location(shown, lineno)
        if "\t" not in line and line.count("|") >= 2:
            doc.text_line(line, loc)
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            raise BioNERInputError(Errors.E006.format(
                loc=loc, what=f"{line[:60]!r} is neither a text ('PMID|t|title'), mention nor relation line"))
        if doc.pmid is None:
            raise BioNERInputError(Errors.E006.format(loc=loc, what="annotation line before the 'PMID|t|' title line"))
        if cols[0].strip() != doc.pmid:
            raise BioNERInputError(Errors.E006.format(loc=loc, what=f"PMID {cols[0]!r} differs from the block's {doc.pmid}"))
        if _is_relation(cols[1]):
            report.skip("relations")
        else:
            doc.mention_line(cols, loc, lineno, report)
    assert doc.pmid is not None  # a block always has at least one line
    return SourceDocument(doc_id=doc.pmid, text=doc.text, path=shown, annotations=doc.anns,
                          meta={"format": "pubtator", "pmid": doc.pmid, "passages": doc.passages},
                          passage_starts=[p["offset"] for p in doc.passages])
