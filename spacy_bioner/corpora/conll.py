"""CoNLL / IOB reader: one token per line, the token in the first column and its
tag in the last (TAB- or space-separated), a blank line between sentences and
``-DOCSTART-`` lines between documents.

Tag schemes: IOB1 and IOB2 (``B-``/``I-``/``O``) decode the same way here —
``B-X`` always starts an entity, ``I-X`` continues an open ``X`` entity and
otherwise starts one (the IOB1 reading; in an IOB2 file that is an error of
the source, so such tags are counted and reported as a document issue).
BIOES/BILOU (``S-``/``U-`` single, ``B-`` begin, ``I-``/``M-`` inside,
``E-``/``L-`` end) is recognised from its tags (``--scheme auto``: an
``S-``/``U-``/``E-``/``L-`` tag closes its entity wherever it occurs, and IOB
files have no such tags, so no pre-scan of the file is needed) or forced
(``bioes``, or its alias ``bilou``).

Files without ``-DOCSTART-`` (most of the MTL-Bioinformatics-2016 sets) have
no document boundaries: each sentence becomes a document. Files with it give
one document per ``-DOCSTART-`` block, sentences marked inside.

Columns are separated by TABs (or, in a line without a TAB, by runs of ASCII
spaces), and only ASCII spaces and TABs make a line blank: a token keeps a
no-break space or a control character it contains (splitting at Unicode
white space would cut it there and change its text).
"""
from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

from ..errors import BioNERInputError, Errors, Warnings, location
from .base import SourceAnnotation, SourceDocument
from .io import ASCII_SPACE, display_path, find_files, is_blank, iter_lines
from .limits import DEFAULT_LIMITS, Limits
from .report import ConversionReport

SCHEMES = ("auto", "iob1", "iob2", "bioes", "bilou")
_BEGIN = {"B"}
_INSIDE = {"I", "M"}
_END = {"E", "L"}
_SINGLE = {"S", "U"}
#: Files that sit next to CoNLL data in a corpus directory but hold no tokens
#: (PharmaCoNER's ``labels.txt`` lists the tag set, one tag a line).
_NOT_DATA = frozenset({"labels.txt", "readme.txt", "license.txt", "disclaimer.txt"})


@lru_cache(maxsize=4096)
def _parse_tag(tag: str) -> tuple[str, str] | None:
    if tag == "O":
        return "O", ""
    if len(tag) > 2 and tag[1] in "-_" and tag[0] in "BIMELSU":
        return tag[0], tag[2:]
    return None


def _split_tag(tag: str, shown: str, lineno: int) -> tuple[str, str]:
    # cached, and the location is only formatted for an error: this runs once per token
    parsed = _parse_tag(tag)
    if parsed is None:
        raise BioNERInputError(Errors.E005.format(
            loc=location(shown, lineno), tag=tag, what="expected O or a B-/I-/E-/S- prefix and a type"))
    return parsed


def decode_tags(tags: list[tuple[str, str]], scheme: str) -> tuple[list[tuple[int, int, str]], int]:
    """Turn (prefix, type) tags into entity token ranges.

    tags (list[tuple[str, str]]): Split tags, ``("O", "")`` for outside.
    scheme (str): ``"iob1"``, ``"iob2"`` or ``"bioes"`` (``"auto"`` and
        ``"bilou"`` decode as ``"bioes"``).
    RETURNS (tuple[list[tuple[int, int, str]], int]): ``(start, end, type)``
        entities and the number of entities that began with an inside tag.
    """
    closing = scheme in ("bioes", "bilou", "auto")
    ents: list[tuple[int, int, str]] = []
    orphan = 0
    start, label = -1, ""
    for i, (prefix, typ) in enumerate(tags):
        if prefix == "O":
            if start >= 0:
                ents.append((start, i, label))
            start, label = -1, ""
            continue
        open_same = start >= 0 and label == typ
        begins = prefix in _BEGIN or prefix in _SINGLE or not open_same
        if begins:
            if start >= 0:
                ents.append((start, i, label))
            if prefix not in _BEGIN and prefix not in _SINGLE:
                orphan += 1
            start, label = i, typ
        if closing and (prefix in _SINGLE or prefix in _END):
            ents.append((start, i + 1, label))
            start, label = -1, ""
    if start >= 0:
        ents.append((start, len(tags), label))
    return ents, orphan


def _columns(line: str) -> list[str]:
    """The columns of a token line: TAB-separated, else separated by runs of ASCII spaces."""
    if "\t" in line:
        return [c.strip(" ") for c in line.split("\t")]
    return [c for c in line.strip(ASCII_SPACE).split(" ") if c]


def _iter_sentences(path: Path, shown: str) -> Iterator[tuple[bool, list[tuple[int, str, str]]]]:
    """Yield ``(starts_new_document, [(line, token, tag)])`` per sentence."""
    new_doc = False
    sent: list[tuple[int, str, str]] = []
    for lineno, line in iter_lines(path, shown):
        if is_blank(line):
            if sent:
                yield new_doc, sent
                sent, new_doc = [], False
            continue
        cols = _columns(line)
        while cols and not cols[-1]:
            cols.pop()
        if cols[0] == "-DOCSTART-":
            if sent:
                yield new_doc, sent
                sent = []
            new_doc = True
            continue
        if len(cols) < 2:
            raise BioNERInputError(Errors.E004.format(
                loc=location(shown, lineno), what=f"{line!r} has one column; expected 'token<TAB>tag'"))
        if not cols[0]:
            raise BioNERInputError(Errors.E004.format(loc=location(shown, lineno), what="empty token"))
        sent.append((lineno, cols[0], cols[-1]))
    if sent:
        yield new_doc, sent


def read_conll(path: str | Path, report: ConversionReport, *, scheme: str = "auto",
               limits: Limits = DEFAULT_LIMITS) -> Iterator[SourceDocument]:
    """Read CoNLL/IOB files into documents of pre-tokenised sentences.

    path (str | Path): A file or a directory of ``.tsv``/``.conll``/``.iob``/``.txt``/``.bio`` files
        (in a directory, ``labels.txt``, ``README.txt``, ``LICENSE.txt`` and ``DISCLAIMER.txt`` are skipped).
    report (ConversionReport): Receives document issues (orphan inside tags).
    scheme (str): ``auto``, ``iob1``, ``iob2``, ``bioes`` or ``bilou`` (= ``bioes``).
    limits (Limits): The largest document accepted.
    YIELDS (SourceDocument): Documents with ``words``, ``spaces`` and ``sent_starts``.
    """
    if scheme not in SCHEMES:
        raise BioNERInputError(Errors.E011.format(setting="tag scheme", value=scheme, options=", ".join(SCHEMES)))
    root = Path(path)
    files = find_files(root, (".tsv", ".conll", ".iob", ".iob2", ".bio", ".txt", ".conllu"), "conll")
    for file in files:
        if root.is_dir() and file.name.lower() in _NOT_DATA:
            continue
        report.files += 1
        yield from _read_file(file, display_path(file, root), "bioes" if scheme in ("auto", "bilou") else scheme,
                              report, limits)


def _read_file(file: Path, shown: str, scheme: str, report: ConversionReport,
               limits: Limits) -> Iterator[SourceDocument]:
    stem = Path(shown).stem
    counter = 0
    has_docstart = False
    buffer: list[list[tuple[int, str, str]]] = []
    for new_doc, sent in _iter_sentences(file, shown):
        if new_doc:
            has_docstart = True
            if buffer:
                counter += 1
                yield _make_document(buffer, shown, f"{stem}-{counter:05d}", scheme, report, limits)
            buffer = []
        if has_docstart:
            buffer.append(sent)
        else:
            counter += 1
            yield _make_document([sent], shown, f"{stem}-{counter:05d}", scheme, report, limits)
    if buffer:
        counter += 1
        yield _make_document(buffer, shown, f"{stem}-{counter:05d}", scheme, report, limits)


def _make_document(
    sents: list[list[tuple[int, str, str]]], shown: str, doc_id: str, scheme: str, report: ConversionReport,
    limits: Limits,
) -> SourceDocument:
    words: list[str] = []
    sent_starts: list[bool] = []
    annotations: list[SourceAnnotation] = []
    offsets: list[int] = []
    lines: list[int] = []
    orphans = 0
    pos = 0
    for sent in sents:
        base = len(words)
        tags = []
        for k, (lineno, token, tag) in enumerate(sent):
            tags.append(_split_tag(tag, shown, lineno))
            words.append(token)
            sent_starts.append(k == 0)
            offsets.append(pos)
            lines.append(lineno)
            pos += len(token) + 1
        ents, orphan = decode_tags(tags, scheme)
        orphans += orphan
        for s, e, label in ents:
            start = offsets[base + s]
            end = offsets[base + e - 1] + len(words[base + e - 1])
            annotations.append(SourceAnnotation(
                ann_id=f"L{lines[base + s]}", label=label, fragments=[(start, end)], line=lines[base + s]))
    limits.check_chars(max(pos - 1, 0), location(shown, lines[0] if lines else None, doc_id))
    spaces = [True] * len(words)
    if spaces:
        spaces[-1] = False
    text = " ".join(words)
    if orphans and scheme != "iob1":
        report.issue({"file": shown, "doc_id": doc_id, "issue": Warnings.W007.format(n=orphans, line=lines[0])})
    return SourceDocument(doc_id=doc_id, text=text, path=shown, annotations=annotations,
                          meta={"format": "conll", "line": lines[0] if lines else None},
                          words=words, spaces=spaces, sent_starts=sent_starts)
