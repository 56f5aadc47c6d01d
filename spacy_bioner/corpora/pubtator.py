"""PubTator reader: ``PMID|t|title``, ``PMID|a|abstract``, then mention lines
``PMID<TAB>start<TAB>end<TAB>mention<TAB>type[<TAB>id[<TAB>individual mentions]]``
and relation lines, with a blank line between documents.

Offsets index ``title + "\\n" + abstract`` (one separator character), so the
document text is rebuilt exactly that way (further ``|x|`` passages are
appended the same way). A composite mention ("ovarian and breast cancer")
becomes one span; the individual mentions of its 7th column carry no
offsets, so they cannot be placed and are counted in ``skipped``. Relation
lines (no numeric offset in the second column) are counted as relations.
CRLF line endings are accepted; offsets never count line ends.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ..errors import BioNERInputError, Errors, location
from .base import SourceAnnotation, SourceDocument
from .io import display_path, find_files, iter_lines
from .report import ConversionReport


def _iter_blocks(path: Path, shown: str) -> Iterator[list[tuple[int, str]]]:
    block: list[tuple[int, str]] = []
    for lineno, line in iter_lines(path, shown):
        if not line.strip():
            if block:
                yield block
                block = []
            continue
        block.append((lineno, line))
    if block:
        yield block


def _is_offset(col: str) -> bool:
    col = col.strip()
    # ASCII digits only: str.isdigit() accepts "²" and the like, which int() refuses
    return col.isascii() and col.isdigit()


def read_pubtator(path: str | Path, report: ConversionReport) -> Iterator[SourceDocument]:
    """Read PubTator files.

    path (str | Path): A file or a directory of ``.txt``/``.pubtator`` files.
    report (ConversionReport): Receives skipped relations and composite parts.
    YIELDS (SourceDocument): One document per PMID block.
    """
    root = Path(path)
    for file in find_files(root, (".pubtator", ".txt", ".pubtator.txt"), "pubtator"):
        if file.name.lower() in ("readme.txt", "license.txt", "disclaimer.txt"):
            continue
        report.files += 1
        shown = display_path(file, root)
        for block in _iter_blocks(file, shown):
            yield _parse_block(block, file, shown, report)


def _parse_block(block: list[tuple[int, str]], file: Path, shown: str, report: ConversionReport) -> SourceDocument:
    pmid: str | None = None
    passages: list[dict] = []
    text = ""
    anns: list[SourceAnnotation] = []
    for lineno, line in block:
        loc = location(shown, lineno)
        if "\t" not in line and line.count("|") >= 2:
            doc_id, key, content = line.split("|", 2)
            if pmid is None:
                pmid = doc_id
            elif doc_id != pmid:
                raise BioNERInputError(Errors.E006.format(
                    loc=loc, what=f"PMID {doc_id} inside the block of PMID {pmid} (is a blank line missing?)"))
            if anns:
                raise BioNERInputError(Errors.E006.format(loc=loc, what="text line after mention lines"))
            if text or passages:
                text += "\n"
            passages.append({"offset": len(text), "length": len(content), "type": key})
            text += content
            continue
        cols = line.split("\t")
        if len(cols) < 3:
            raise BioNERInputError(Errors.E006.format(
                loc=loc, what=f"{line[:60]!r} is neither a text ('PMID|t|title'), mention nor relation line"))
        if pmid is None:
            raise BioNERInputError(Errors.E006.format(loc=loc, what="annotation line before the 'PMID|t|' title line"))
        if cols[0].strip() != pmid:
            raise BioNERInputError(Errors.E006.format(loc=loc, what=f"PMID {cols[0]!r} differs from the block's {pmid}"))
        if _is_offset(cols[1]) and _is_offset(cols[2]):
            if len(cols) < 5:
                raise BioNERInputError(Errors.E006.format(
                    loc=loc, what="mention line needs PMID, start, end, mention and type"))
            start, end = int(cols[1]), int(cols[2])
            if start > end:
                raise BioNERInputError(Errors.E006.format(loc=loc, what=f"start {start} is after end {end}"))
            kb_id = cols[5].strip() if len(cols) > 5 else ""
            if len(cols) > 6 and cols[6].strip():
                report.skip("composite parts without offsets", len(cols[6].split("|")))
            anns.append(SourceAnnotation(ann_id=f"L{lineno}", label=cols[4].strip(), fragments=[(start, end)],
                                         text=cols[3], line=lineno, kb_id=kb_id if kb_id != "-1" else ""))
        elif _is_offset(cols[1]) or cols[1].strip().lstrip("-").isdigit():
            # a relation's second column is its type, never a number
            raise BioNERInputError(Errors.E006.format(
                loc=loc, what=f"offsets {cols[1]!r}-{cols[2]!r} are not both non-negative integers"))
        else:
            report.skip("relations")
    assert pmid is not None  # a block always has at least one line
    return SourceDocument(doc_id=pmid, text=text, path=shown, annotations=anns,
                          meta={"format": "pubtator", "pmid": pmid, "passages": passages},
                          passage_starts=[p["offset"] for p in passages])
