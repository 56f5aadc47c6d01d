"""The inputs of `annotate`: which files, how many documents each holds, and the documents.

A file's documents are numbered by *slot* (0, 1, ...), and a shard of the plan
names a run of slots. :func:`count_documents` and :func:`read_documents` walk
the same slots of a file with the same code, so the numbering is identical
whether the file is good or bad, and every slot ends as a document or as a
:class:`~.types.Failure`. A malformed document is a failure of its slot only:
a PubTator block, a JSONL line, a BioC document, a BRAT or text file (the
project's readers stop at the first error, so their per-document parsers are
called one document at a time here). When a file cannot be read on (XML that
is not well-formed, a damaged gzip stream, an unreadable file), the slot where
reading stopped is one failure that stands for it and everything after it; the
documents before it are read. PubTator and JSONL files are split into
documents as bytes and each document decoded on its own, so a byte that is
not UTF-8 fails its document only.

``.gz`` files are read transparently (line formats stream through gzip, the
others are decompressed into a temporary directory); messages and failures
name the real file.

Besides the project's formats (brat, bioc-xml, bioc-json, pubtator):

* ``text``: one document per file, the text exactly as stored (a leading BOM
  kept as a space, as the BRAT reader does); its id is the relative path
  without the ending (``sub/a`` for ``sub/a.txt``).
* ``jsonl``: one JSON object per line, ``{"id", "text", "spans"?, "annotations"?}``;
  the spans of both lists are the document's existing annotations, each
  ``{"start", "end", "label"}`` or ``{"fragments": [[start, end], ...], "label"}``
  (``"text"``, ``"kb_id"`` optional); other keys are kept and written back. A
  document without an id is named ``#N`` (its position in the file).
"""
from __future__ import annotations

import codecs
import contextlib
import functools
import glob
import gzip
import io
import json
import os
import re
import shutil
import tempfile
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Callable, Generator, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from ..corpora.base import SourceAnnotation, SourceDocument
from ..corpora.bioc import _iter_xml_elements, _xml_document
from ..corpora.bioc_json import _json_document, _json_documents, _load
from ..corpora.brat import ANN_SUFFIXES, read_brat
from ..corpora.io import read_text
from ..corpora.limits import DEFAULT_LIMITS
from ..corpora.pubtator import _parse_block
from ..corpora.report import ConversionReport
from ..errors import BioNERInputError, Errors, location
from .types import INPUT_FORMATS, Failure

#: File endings of each input format, looked for in a directory (each also with ``.gz``).
SUFFIXES: dict[str, tuple[str, ...]] = {
    "brat": (".txt",),
    "bioc-xml": (".xml",),
    "bioc-json": (".json",),
    "pubtator": (".pubtator", ".txt"),
    "jsonl": (".jsonl", ".ndjson"),
    "text": (".txt",),
}
GZ = ".gz"
#: Files the PubTator reader leaves out of a directory.
_PUBTATOR_SKIPPED = ("readme.txt", "license.txt", "disclaimer.txt")
_GLOB_MAGIC = re.compile(r"[*?[]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_BOM = codecs.BOM_UTF8

#: One document slot of a file: called (before the next slot is asked for) to read it.
Slot = Callable[[], "SourceDocument | Failure"]


# -- names ------------------------------------------------------------------------------
def plain_name(name: str) -> str:
    """A file name without its ``.gz`` ending (any case): the name its content has.

    name (str): A file name or relative path.
    RETURNS (str): The name without ``.gz``.
    """
    return name[: -len(GZ)] if name.lower().endswith(GZ) else name


def relative_name(path: Path, root: Path) -> str:
    """The name of an input file in shards, failures and outputs.

    path (Path): The file.
    root (Path): The input root (from :func:`discover`).
    RETURNS (str): The path relative to the root, with POSIX separators (the
        file's own name when it is not below the root).
    """
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _check_format(fmt: str) -> None:
    if fmt not in INPUT_FORMATS:
        raise BioNERInputError(Errors.E011.format(setting="input format", value=fmt,
                                                  options=", ".join(INPUT_FORMATS)))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in PurePosixPath(relative_name(path, root)).parts)


def _scan(folder: Path, fmt: str) -> list[Path]:
    suffixes = tuple(s + gz for s in SUFFIXES[fmt] for gz in ("", GZ))
    skipped = _PUBTATOR_SKIPPED if fmt == "pubtator" else ()
    return [p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(suffixes)
            and plain_name(p.name).lower() not in skipped and not _hidden(p, folder)]


def _glob_root(pattern: str) -> Path:
    """The directory a pattern's matches are named relative to: the part before the first wildcard."""
    parts = Path(pattern).parts
    fixed = next((k for k, part in enumerate(parts) if _GLOB_MAGIC.search(part)), len(parts))
    return Path(*parts[:fixed]) if fixed else Path(".")


def discover(input: str | Path, fmt: str) -> tuple[Path, list[Path]]:
    """Find the input files of a run.

    input (str | Path): A file; a directory (searched recursively for the
        format's endings, see :data:`SUFFIXES`, plain or ``.gz``; hidden files
        and directories left out); or a glob pattern (``"data/*.xml.gz"``,
        ``"data/**/*.txt"``) of files.
    fmt (str): The input format (:data:`~.types.INPUT_FORMATS`).
    RETURNS (tuple[Path, list[Path]]): The root the files are named relative to
        (a file's directory, the directory, or the pattern's fixed part), and
        the files, sorted by that name.
    """
    _check_format(fmt)
    path = Path(input)
    if path.is_file():
        root, files = path.parent, [path]
    elif path.is_dir():
        root, files = path, _scan(path, fmt)
        if not files:
            patterns = ", ".join(f"*{s}, *{s}{GZ}" for s in SUFFIXES[fmt])
            raise BioNERInputError(Errors.E010.format(fmt=fmt, path=path, patterns=patterns))
    elif _GLOB_MAGIC.search(str(input)):
        root = _glob_root(str(input))
        files = [p for p in map(Path, glob.glob(str(input), recursive=True))
                 if p.is_file() and not _hidden(p, root)]
        if not files:
            raise BioNERInputError(Errors.E950.format(input=input))
    else:
        raise BioNERInputError(Errors.E009.format(path=path))
    files.sort(key=lambda p: relative_name(p, root))
    seen: dict[str, str] = {}
    for file in files:
        name = relative_name(file, root)
        other = seen.setdefault(plain_name(name), name)
        if other != name:
            raise BioNERInputError(Errors.E951.format(first=other, second=name, what="input file"))
    return root, files


# -- the public readers ------------------------------------------------------------------
def count_documents(path: Path, fmt: str, root: Path) -> int:
    """The number of document slots of an input file (what the plan shards).

    path (Path): The file (from :func:`discover`).
    fmt (str): The input format.
    root (Path): The input root (from :func:`discover`).
    RETURNS (int): The slots: one per document, plus one where reading stops
        early; 1 for a BRAT or text file, whatever it holds.
    """
    _check_format(fmt)
    with contextlib.closing(_slots(path, fmt, relative_name(path, root))) as slots:
        return sum(1 for _ in slots)


def read_documents(path: Path, fmt: str, root: Path, first: int = 0,
                   count: int | None = None) -> Iterator[SourceDocument | Failure]:
    """Read the documents of slots ``first`` to ``first + count`` of an input file, in file order.

    A document comes with its id, ``path`` (the file's name relative to the
    root, as in :class:`~.types.Shard`), its text exactly as the project's
    readers give it, and the annotations it has (``score`` None).

    path (Path): The file.
    fmt (str): The input format.
    root (Path): The input root.
    first (int): The first slot (0-based).
    count (int | None): How many slots; all from ``first`` when None. When the
        file holds fewer, the missing slots are failures (the file changed).
    YIELDS (SourceDocument | Failure): One item per slot.
    """
    _check_format(fmt)
    rel = relative_name(path, root)
    end = None if count is None else first + count
    found = 0
    with contextlib.closing(_slots(path, fmt, rel)) as slots:
        for slot in slots:
            if end is not None and found >= end:
                return
            found += 1
            if found > first:
                yield slot()
    for n in range(max(found, first), end if end is not None else 0):
        yield Failure(rel, f"#{n + 1}", Errors.E955.format(loc=rel, n=n + 1, found=found))


# -- slots per format ----------------------------------------------------------------------
def _slots(path: Path, fmt: str, rel: str) -> Generator[Slot, None, None]:
    if fmt == "brat":
        yield functools.partial(_brat_document, path, rel)
    elif fmt == "text":
        yield functools.partial(_text_document, path, rel)
    elif fmt == "pubtator":
        yield from _pubtator_slots(path, rel)
    elif fmt == "jsonl":
        yield from _jsonl_slots(path, rel)
    else:
        with contextlib.ExitStack() as stack:
            try:
                local = stack.enter_context(_local_copy(path))
            except BioNERInputError as err:
                yield _stopped(rel, None, 1, err)
                return
            yield from (_bioc_xml_slots if fmt == "bioc-xml" else _bioc_json_slots)(local, rel)


def _stopped(rel: str, line: int | None, n: int, err: BioNERInputError) -> Slot:
    """The slot where reading a file stopped: it stands for the rest of the file."""
    failure = Failure(location(rel, line), f"#{n}", Errors.E953.format(loc=rel, n=n, err=err))
    return lambda: failure


def _pubtator_slots(path: Path, rel: str) -> Iterator[Slot]:
    """One slot per block of lines between blank lines (only ASCII spaces and TABs make a line blank)."""
    block: list[tuple[int, bytes]] = []
    n = 0
    try:
        for lineno, line in _byte_lines(path, rel):
            if line.strip(b" \t"):
                block.append((lineno, line))
                continue
            if block:
                n += 1
                yield functools.partial(_pubtator_document, block, rel, n)
                block = []
        if block:
            n += 1
            yield functools.partial(_pubtator_document, block, rel, n)
    except BioNERInputError as err:
        yield _stopped(rel, block[0][0] if block else None, n + 1, err)


def _pubtator_document(block: list[tuple[int, bytes]], rel: str, n: int) -> SourceDocument | Failure:
    try:
        lines = [(lineno, _decode(raw, rel, lineno)) for lineno, raw in block]
        return _parse_block(lines, rel, ConversionReport(), DEFAULT_LIMITS)
    except BioNERInputError as err:
        head = block[0][1].decode("utf-8", "replace")
        pmid = head.split("|", 1)[0].strip() if "\t" not in head and head.count("|") >= 2 else ""
        return Failure(location(rel, block[0][0]), pmid or f"#{n}", str(err))


def _jsonl_slots(path: Path, rel: str) -> Iterator[Slot]:
    """One slot per line that is not blank."""
    n = 0
    try:
        for lineno, line in _byte_lines(path, rel):
            if line.strip(b" \t"):
                n += 1
                yield functools.partial(_jsonl_document, line, lineno, rel, n)
    except BioNERInputError as err:
        yield _stopped(rel, None, n + 1, err)


def _bioc_xml_slots(path: Path, rel: str) -> Iterator[Slot]:
    """One slot per ``<document>``, parsed when its slot is read (the element is freed after)."""
    info = _xml_collection_info(path)
    n = 0
    try:
        for elem, strays in _iter_xml_elements(path, rel):
            n += 1
            yield functools.partial(_bioc_xml_document, elem, strays, rel, n, info)
    except BioNERInputError as err:
        yield _stopped(rel, None, n + 1, err)


def _bioc_xml_document(elem: Any, strays: list[tuple[str, str]], rel: str, n: int,
                       info: dict[str, str]) -> SourceDocument | Failure:
    try:
        doc = _xml_document(elem, strays, rel, n, ConversionReport(), "type", DEFAULT_LIMITS)
    except BioNERInputError as err:
        return Failure(rel, (elem.findtext("id") or "").strip() or f"#{n}", str(err))
    return _with_collection(doc, info)


def _bioc_json_slots(path: Path, rel: str) -> Iterator[Slot]:
    """One slot per document of the collection(s); a file that does not load is one slot."""
    try:
        content = read_text(path, rel)
        data = _load(content[1:] if content.startswith("\ufeff") else content, rel)
        raws = _json_documents(data, rel)
    except BioNERInputError as err:
        yield _stopped(rel, None, 1, err)
        return
    head = next(iter(data), {}) if isinstance(data, list) else data
    info = {k: head[k] for k in ("source", "date", "key") if isinstance(head.get(k), str)}
    for n, raw in enumerate(raws, start=1):
        yield functools.partial(_bioc_json_document, raw, rel, n, info)


def _bioc_json_document(raw: Any, rel: str, n: int, info: dict[str, str]) -> SourceDocument | Failure:
    try:
        doc = _json_document(raw, rel, n, ConversionReport(), "type", DEFAULT_LIMITS)
    except BioNERInputError as err:
        doc_id = raw.get("id") if isinstance(raw, dict) else None
        known = isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool) and str(doc_id).strip()
        return Failure(rel, str(doc_id).strip() if known else f"#{n}", str(err))
    return _with_collection(doc, info)


def _with_collection(doc: SourceDocument, info: dict[str, str]) -> SourceDocument:
    """Keep the collection's source, date and key, for the BioC output."""
    if info:
        doc.meta["collection"] = dict(info)
    return doc


def _xml_collection_info(path: Path) -> dict[str, str]:
    """The ``<source>``, ``<date>`` and ``<key>`` of a BioC XML collection (read up to
    the first document); whatever cannot be read is left out (the documents report it)."""
    info: dict[str, str] = {}
    depth = 0
    try:
        with path.open("rb") as fh:
            for event, elem in ET.iterparse(fh, events=("start", "end")):
                depth += 1 if event == "start" else -1
                if elem.tag == "document":
                    break
                if event == "end" and depth == 1 and elem.tag in ("source", "date", "key"):
                    info[elem.tag] = elem.text or ""
    except (ET.ParseError, OSError, LookupError, ValueError):
        pass
    return info


def _brat_document(path: Path, rel: str) -> SourceDocument | Failure:
    doc_id = PurePosixPath(plain_name(rel)).stem
    try:
        with _brat_stage(path, rel) as (root, txt):
            (doc,) = read_brat(root if txt.name.lower().endswith(".txt") else txt, ConversionReport())
    except BioNERInputError as err:
        return Failure(rel, doc_id, str(err))
    doc.path = rel
    return doc


def _text_document(path: Path, rel: str) -> SourceDocument | Failure:
    doc_id = str(PurePosixPath(plain_name(rel)).with_suffix(""))
    try:
        with _local_copy(path) as local:
            text = read_text(local, rel, DEFAULT_LIMITS)
    except BioNERInputError as err:
        return Failure(rel, doc_id, str(err))
    meta: dict[str, Any] = {"format": "text"}
    if text.startswith("\ufeff"):
        # as the BRAT reader does: a space keeps the offsets, the BRAT writer puts the BOM back
        text, meta["bom"] = " " + text[1:], True
    return SourceDocument(doc_id=doc_id, text=text, path=rel, meta=meta)


# -- JSONL ---------------------------------------------------------------------------------
def _jsonl_document(raw: bytes, lineno: int, rel: str, n: int) -> SourceDocument | Failure:
    loc = location(rel, lineno)
    obj: Any = None
    try:
        text = _decode(raw, rel, lineno)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            raise BioNERInputError(Errors.E954.format(loc=loc, what=f"{err.msg} at column {err.colno}")) from None
        except (RecursionError, ValueError) as err:
            raise BioNERInputError(Errors.E954.format(loc=loc, what=f"not readable JSON ({err})")) from None
        return _jsonl_source(obj, loc, rel, n, lineno)
    except BioNERInputError as err:
        doc_id = obj.get("id") if isinstance(obj, dict) else None
        known = isinstance(doc_id, (str, int)) and not isinstance(doc_id, bool) and str(doc_id)
        return Failure(loc, str(doc_id) if known else f"#{n}", str(err))


def _jsonl_source(obj: Any, loc: str, rel: str, n: int, lineno: int) -> SourceDocument:
    if not isinstance(obj, dict):
        raise BioNERInputError(Errors.E954.format(loc=loc, what=f"a JSON {type(obj).__name__}, not an object"))
    # a document without an id is named by its position, as a failure would be
    doc_id = obj.get("id", f"#{n}")
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)) or not str(doc_id):
        raise BioNERInputError(Errors.E954.format(loc=loc, what=f"'id' is {doc_id!r}, not a non-empty string or an integer"))
    text = obj.get("text")
    if not isinstance(text, str):
        raise BioNERInputError(Errors.E954.format(loc=loc, what="no 'text' string"))
    for key, value in (("id", str(doc_id)), ("text", text)):
        bad = _SURROGATE.search(value)
        if bad:
            raise BioNERInputError(Errors.E954.format(
                loc=loc, what=f"'{key}' holds a lone surrogate U+{ord(bad.group()):04X}, which is not a character"))
    anns: list[SourceAnnotation] = []
    for key in ("annotations", "spans"):
        items = obj.get(key, [])
        if not isinstance(items, list):
            raise BioNERInputError(Errors.E954.format(loc=loc, what=f"'{key}' is not a list"))
        for k, item in enumerate(items, start=1):
            anns.append(_jsonl_annotation(item, text, f"{loc} '{key}' #{k}", f"T{len(anns) + 1}", lineno))
    meta: dict[str, Any] = {"format": "jsonl"}
    extra = {k: v for k, v in obj.items() if k not in ("id", "text", "annotations", "spans")}
    if extra:
        meta["jsonl"] = extra
    return SourceDocument(doc_id=str(doc_id), text=text, path=rel, annotations=anns, meta=meta)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _jsonl_annotation(item: Any, text: str, loc: str, ann_id: str, lineno: int) -> SourceAnnotation:
    """An existing annotation of a JSONL document: ``{"start", "end", "label"}``, or
    ``"fragments": [[start, end], ...]`` for a discontinuous one; ``"text"``, ``"kb_id"`` optional."""
    if not isinstance(item, dict):
        raise BioNERInputError(Errors.E954.format(loc=loc, what="a span is not an object"))
    label = item.get("label")
    if not isinstance(label, str) or not label.strip():
        raise BioNERInputError(Errors.E954.format(loc=loc, what=f"the span's 'label' is {label!r}, not a non-empty string"))
    raw = item.get("fragments", [[item.get("start"), item.get("end")]])
    frags: list[tuple[int, int]] = []
    for frag in raw if isinstance(raw, list) and raw else [None]:
        if not (isinstance(frag, list) and len(frag) == 2 and all(_is_int(v) for v in frag)
                and 0 <= frag[0] < frag[1] <= len(text)):
            raise BioNERInputError(Errors.E954.format(
                loc=loc, what=f"offsets {frag!r} are not integers 0 <= start < end <= {len(text)} (the text's length)"))
        frags.append((frag[0], frag[1]))
    mention, kb_id = item.get("text"), item.get("kb_id", "")
    if not isinstance(kb_id, str):
        raise BioNERInputError(Errors.E954.format(loc=loc, what=f"the span's 'kb_id' is {kb_id!r}, not a string"))
    return SourceAnnotation(ann_id, label, frags, mention if isinstance(mention, str) else None, lineno, kb_id)


# -- bytes, gzip and temporary copies ------------------------------------------------------------
def _is_gz(name: str) -> bool:
    return name.lower().endswith(GZ)


def _open_binary(path: Path) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if _is_gz(path.name) else path.open("rb")


def _read_error(rel: str, path: Path, err: BaseException) -> BioNERInputError:
    if _is_gz(path.name) and not isinstance(err, FileNotFoundError | PermissionError):
        return BioNERInputError(Errors.E952.format(path=rel, err=err))
    return BioNERInputError(Errors.E028.format(path=rel, what="read", err=getattr(err, "strerror", None) or err))


def _byte_lines(path: Path, rel: str) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line number, line)`` as bytes, numbered and split as :func:`~..corpora.io.iter_lines`
    does (LF, CRLF and CR end a line; a BOM at the start is dropped), without decoding."""
    lineno = 0
    try:
        with _open_binary(path) as fh:
            for raw in fh:
                if lineno == 0 and raw.startswith(_BOM):
                    raw = raw[len(_BOM):]
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
                for part in raw.split(b"\r"):
                    lineno += 1
                    yield lineno, part
    except (OSError, EOFError, zlib.error) as err:
        raise _read_error(rel, path, err) from None


def _decode(raw: bytes, rel: str, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BioNERInputError(Errors.E001.format(loc=location(rel, lineno), err=err.reason)) from None


def _materialize(src: Path, dest: Path, rel: str) -> None:
    """Put ``src`` at ``dest``: decompressed if it is gzip'd, else linked (or copied)."""
    try:
        if _is_gz(src.name):
            with gzip.open(src, "rb") as fin, dest.open("wb") as fout:
                shutil.copyfileobj(fin, fout)
            return
        try:
            os.symlink(src.resolve(), dest)
        except OSError:
            shutil.copyfile(src, dest)
    except (OSError, EOFError, zlib.error) as err:
        raise _read_error(rel, src, err) from None


@contextlib.contextmanager
def _local_copy(path: Path) -> Iterator[Path]:
    """The file itself, or for a ``.gz`` file its decompressed copy under the same name
    (the readers accept any name for a file, and name it in their messages)."""
    if not _is_gz(path.name):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="bioner-annotate-") as tmp:
        local = Path(tmp) / path.name
        _materialize(path, local, path.name)
        yield local


@functools.lru_cache(maxsize=16)
def _listing(folder: str, mtime_ns: int) -> tuple[str, ...]:
    """A directory's names, listed once per change of the directory (a BRAT
    directory of 100,000 documents is not listed once per document)."""
    return tuple(sorted(os.listdir(folder)))


def _brat_companions(txt: Path) -> list[Path]:
    """The annotation files beside a text file, matched as the BRAT reader matches them
    (same name, ``.ann``/``.a1``/``.a2`` in any case), plain or ``.gz``."""
    try:
        names = _listing(str(txt.parent), os.stat(txt.parent).st_mtime_ns)
    except OSError:
        return []
    stem = PurePosixPath(plain_name(txt.name)).stem
    return [txt.parent / name for name in names if name != txt.name
            and PurePosixPath(plain_name(name)).suffix.lower() in ANN_SUFFIXES
            and PurePosixPath(plain_name(name)).stem == stem]


@contextlib.contextmanager
def _brat_stage(txt: Path, rel: str) -> Iterator[tuple[Path, Path]]:
    """A temporary directory holding one document's files at its relative path, decompressed,
    so the BRAT reader reads it alone (not its whole directory) and names it relative to the root."""
    with tempfile.TemporaryDirectory(prefix="bioner-annotate-") as tmp:
        folder = Path(tmp).joinpath(*PurePosixPath(rel).parent.parts)
        folder.mkdir(parents=True, exist_ok=True)
        staged: dict[str, str] = {}
        for src in [txt, *_brat_companions(txt)]:
            name = plain_name(src.name)
            shown = str(PurePosixPath(rel).parent / src.name)
            if name in staged:
                raise BioNERInputError(Errors.E951.format(first=staged[name], second=shown, what="file"))
            staged[name] = shown
            _materialize(src, folder / name, shown)
        yield Path(tmp), folder / plain_name(txt.name)
