"""The outputs of `annotate`: a shard's predictions written in the output format,
then the shards of each input file joined into its output file.

Every file is written atomically (a temporary file beside it, then
``os.replace``), and its bytes are a function of the documents alone: no
dates, no ordering of sets, scores rounded (:func:`~..corpora.writers.score_text`),
so a shard redone after a kill gives the same bytes. The serialisers are the
project's writers (:mod:`spacy_bioner.corpora.writers`), so the output reads
back with the project's readers at the same offsets.

Layout in the output directory:

* BRAT: ``<name>.txt`` (the text) and ``<name>.ann`` per document, where
  ``<name>`` is the input's relative path without its ending for BRAT and text
  inputs, and ``<file without ending>/<document id>`` for the documents of a
  multi-document input. Predicted ``T`` ids continue after the largest kept
  one; scores are ``AnnotatorNotes`` (``#1<TAB>AnnotatorNotes T7<TAB>score=0.93``).
* BioC XML/JSON, PubTator, JSONL: each shard to ``.shards/<index:06d>.<ext>``,
  joined by :func:`assemble` into ``<input file>`` (the output format's ending
  when the input's is not one of it; ``.gz`` dropped). BioC files are one
  collection (the input collection's source, date and key where it had them);
  predicted annotations get the infons ``source=spacy_bioner`` and ``score``.
  PubTator has no place for a score: predictions are ordinary mention lines.

``existing="keep"`` writes the annotations the input had (entity mentions: what
the readers read; relations and events are not carried) and the predictions
apart (BRAT/BioC ids that never collide, JSONL ``"annotations"`` vs
``"spans"``); ``"replace"`` writes the predictions only.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from ..corpora.base import SourceDocument
from ..corpora.convert import _umask, _write_temporary
from ..corpora.io import read_bytes
from ..corpora.writers import (
    bioc_json_from_sources,
    bioc_json_text,
    bioc_xml_from_sources,
    brat_from_source,
    jsonl_from_source,
    pubtator_from_source,
    split_bioc_xml,
)
from ..errors import BioNERInputError, Errors
from .inputs import plain_name
from .types import EXISTING_POLICIES, OUTPUT_FORMATS, Failure, Shard

#: Where shard outputs wait to be joined, below the output directory.
SHARDS_DIR = ".shards"
#: The ending of a shard file, per output format (BRAT writes no shard files).
SHARD_EXTENSIONS = {"bioc-xml": "xml", "bioc-json": "json", "pubtator": "pubtator", "jsonl": "jsonl"}
#: Endings an assembled file keeps; otherwise it gets the first one.
OUTPUT_SUFFIXES = {"bioc-xml": (".xml",), "bioc-json": (".json",), "pubtator": (".pubtator", ".txt"),
                   "jsonl": (".jsonl", ".ndjson")}
#: The collection of a BioC output whose input had none (the date is left empty: outputs carry no dates).
DEFAULT_COLLECTION = {"source": "spacy_bioner", "date": "", "key": "BioC.key"}
_BRAT_ID = re.compile(r"T([0-9]+)")
_UNSAFE = re.compile(r"[^\w.+-]")


def _check(fmt: str, existing: str | None = None) -> None:
    if fmt not in OUTPUT_FORMATS:
        raise BioNERInputError(Errors.E011.format(setting="output format", value=fmt,
                                                  options=", ".join(OUTPUT_FORMATS)))
    if existing is not None and existing not in EXISTING_POLICIES:
        raise BioNERInputError(Errors.E011.format(setting="policy for existing annotations", value=existing,
                                                  options=", ".join(EXISTING_POLICIES)))


# -- names ---------------------------------------------------------------------------------
def shard_path(shard: Shard, fmt: str) -> str:
    """Where a shard of a multi-document output format is written, relative to the output directory.

    shard (Shard): The shard.
    fmt (str): The output format (not ``brat``).
    RETURNS (str): ``.shards/<index:06d>.<ext>``.
    """
    return f"{SHARDS_DIR}/{shard.index:06d}.{SHARD_EXTENSIONS[fmt]}"


def output_name(file: str, fmt: str) -> str:
    """The output file of an input file, relative to the output directory.

    file (str): The input file's relative name (:attr:`Shard.file`).
    fmt (str): The output format (not ``brat``).
    RETURNS (str): The name without ``.gz``, with the format's ending unless it has one already.
    """
    name = plain_name(file)
    suffixes = OUTPUT_SUFFIXES[fmt]
    if name.lower().endswith(suffixes):
        return name
    path = PurePosixPath(name)
    return str(path.with_suffix(suffixes[0]) if path.suffix else f"{name}{suffixes[0]}")


def _safe_relative(name: str, doc: SourceDocument) -> str:
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        raise BioNERInputError(Errors.E962.format(doc_id=doc.doc_id, name=name, path=doc.path))
    return name


def brat_name(doc: SourceDocument) -> str:
    """A document's BRAT files, ``<name>.txt`` and ``<name>.ann``, relative to the output directory.

    doc (SourceDocument): The document (``path`` its input file, ``meta["format"]`` its reader's).
    RETURNS (str): ``<name>``: the input's name without ending for a BRAT or text
        document, else ``<input without ending>/<document id>`` (characters other
        than letters, digits and ``._+-`` in the id written as ``_``).
    """
    file = PurePosixPath(plain_name(doc.path)) if doc.path else None
    stem = str(file.with_suffix("")) if file is not None and file.name else ""
    if stem and doc.meta.get("format") in ("brat", "text"):
        return _safe_relative(stem, doc)
    safe_id = _UNSAFE.sub("_", doc.doc_id)
    safe_id = f"_{safe_id}" if not safe_id or safe_id.startswith(".") else safe_id
    return _safe_relative(f"{stem}/{safe_id}" if stem else safe_id, doc)


# -- writing -------------------------------------------------------------------------------
def atomic_write(path: Path, chunks: Iterable[bytes]) -> None:
    """Write a file so that it holds its old content or the new, never a part.

    path (Path): The file; its directory is created.
    chunks (Iterable[bytes]): The content, in pieces (a joined file is never held whole).
    """
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # an empty temporary file with the permissions any new file gets, filled in place
        tmp = _write_temporary(b"", path, 0o666 & ~_umask())
        with tmp.open("ab") as fh:
            for chunk in chunks:
                fh.write(chunk)
        os.replace(tmp, path)
    except OSError as err:
        raise BioNERInputError(Errors.E028.format(path=path, what="written", err=err)) from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _prepared(doc: SourceDocument, existing: str, fmt: str) -> SourceDocument:
    """The annotations to write: the kept ones, then the predictions with ids that do not collide."""
    kept = [a for a in doc.annotations if a.score is None] if existing == "keep" else []
    predicted = [a for a in doc.annotations if a.score is not None]
    if fmt == "brat":
        # an id that is no BRAT id: brat_from_source numbers it after every kept T id
        ids = [""] * len(predicted)
    else:
        # T<n> after the largest T<n> kept: no kept id can be one of them
        start = max((int(m.group(1)) for a in kept if (m := _BRAT_ID.fullmatch(a.ann_id))), default=0) + 1
        ids = [f"T{k}" for k in range(start, start + len(predicted))]
    renamed = [dataclasses.replace(a, ann_id=i) for a, i in zip(predicted, ids, strict=True)]
    return dataclasses.replace(doc, annotations=kept + renamed)


def _collection(docs: Sequence[SourceDocument]) -> dict[str, str]:
    """The BioC collection header: the input collection's, as the reader kept it, where known."""
    info: dict[str, Any] = next((d.meta["collection"] for d in docs
                                 if isinstance(d.meta.get("collection"), dict)), {})
    return {k: str(info.get(k, default)) for k, default in DEFAULT_COLLECTION.items()}


def _write_brat(docs: Sequence[SourceDocument], shard: Shard, out_dir: Path) -> list[str]:
    names: dict[str, int] = {}
    written: list[str] = []
    for k, doc in enumerate(docs):
        name = brat_name(doc)
        if name in names:
            raise BioNERInputError(Errors.E961.format(first=shard.first + names[name] + 1,
                                                      second=shard.first + k + 1, file=shard.file, name=name))
        names[name] = k
        for suffix, content in zip((".txt", ".ann"), brat_from_source(doc), strict=True):
            atomic_write(out_dir / f"{name}{suffix}", [content.encode("utf-8")])
            written.append(f"{name}{suffix}")
    return written


def _shard_text(docs: Sequence[SourceDocument], fmt: str) -> str:
    if fmt == "bioc-xml":
        return bioc_xml_from_sources(docs, **_collection(docs))
    if fmt == "bioc-json":
        return bioc_json_from_sources(docs, **_collection(docs))
    if fmt == "pubtator":
        return "".join(pubtator_from_source(doc) + "\n" for doc in docs)
    return "".join(jsonl_from_source(doc) for doc in docs)


def writable(docs: Sequence[SourceDocument], shard: Shard, fmt: str,
             existing: str) -> tuple[list[SourceDocument], list[Failure]]:
    """Split a shard's documents into those the output format can hold and the
    failures of the others, so that one document the format cannot hold (a
    BRAT label with a space, a PubTator id with a bar, two documents with one
    BRAT name) fails alone instead of failing its shard.

    docs (Sequence[SourceDocument]): The shard's tagged documents, in file order.
    shard (Shard): The shard (for the failures' file).
    fmt (str): The output format.
    existing (str): The policy for the input's annotations.
    RETURNS (tuple[list[SourceDocument], list[Failure]]): Writable documents
        (in order) and one Failure per other document.
    """
    _check(fmt, existing)
    good: list[SourceDocument] = []
    failures: list[Failure] = []
    names: dict[str, int] = {}
    for k, doc in enumerate(docs):
        try:
            prepared = _prepared(doc, existing, fmt)
            if fmt == "brat":
                name = brat_name(prepared)
                if name in names:
                    raise BioNERInputError(Errors.E961.format(first=shard.first + names[name] + 1,
                                                              second=shard.first + k + 1, file=shard.file, name=name))
                brat_from_source(prepared)
                names[name] = k
            else:
                _shard_text([prepared], fmt)
        except BioNERInputError as err:
            failures.append(Failure(doc.path or shard.file, doc.doc_id or "?", str(err)))
            continue
        good.append(doc)
    return good, failures


def write_shard(docs: Sequence[SourceDocument], shard: Shard, out_dir: Path, fmt: str,
                existing: str) -> list[str]:
    """Write a shard's documents with their predictions.

    docs (Sequence[SourceDocument]): The shard's tagged documents, in file
        order (failed ones left out); predictions are the annotations with a score.
    shard (Shard): The shard.
    out_dir (Path): The output directory.
    fmt (str): The output format (:data:`~.types.OUTPUT_FORMATS`).
    existing (str): ``"keep"`` the input's annotations beside the predictions, or ``"replace"`` them.
    RETURNS (list[str]): The files written, relative to ``out_dir`` (POSIX).
    """
    _check(fmt, existing)
    prepared = [_prepared(doc, existing, fmt) for doc in docs]
    if fmt == "brat":
        return _write_brat(prepared, shard, out_dir)
    # serialised whole before anything is written: a document that cannot be written leaves the old file
    data = _shard_text(prepared, fmt).encode("utf-8")
    rel = shard_path(shard, fmt)
    atomic_write(out_dir / rel, [data])
    return [rel]


# -- assembling ----------------------------------------------------------------------------
def _shard_file(path: Path, shard: Shard) -> bytes:
    if not path.is_file():
        raise BioNERInputError(Errors.E958.format(index=shard.index, file=shard.file, path=path))
    return read_bytes(path)


def _decoded(path: Path, shard: Shard) -> str:
    try:
        return _shard_file(path, shard).decode("utf-8")
    except UnicodeDecodeError as err:
        raise BioNERInputError(Errors.E960.format(path=path, what=f"not UTF-8: {err.reason}",
                                                  index=shard.index)) from None


def _xml_parts(path: Path, shard: Shard) -> tuple[str, str, str]:
    parts = split_bioc_xml(_decoded(path, shard))
    if parts is None:
        raise BioNERInputError(Errors.E960.format(path=path, what="not a BioC collection of the XML writer",
                                                  index=shard.index))
    return parts


def _joined_xml(parts: list[tuple[Path, Shard]]) -> Iterator[bytes]:
    # the head of the first shard with documents: an all-failed shard knows no collection header
    head = next((h for h, body, _ in (_xml_parts(*p) for p in parts) if body), None)
    for k, part in enumerate(parts):
        first, body, tail = _xml_parts(*part)
        if k == 0:
            yield (head if head is not None else first).encode("utf-8")
        yield body.encode("utf-8")
    yield tail.encode("utf-8")


def _joined_json(parts: list[tuple[Path, Shard]]) -> Iterator[bytes]:
    collections: list[dict[str, Any]] = []
    for path, shard in parts:
        try:
            coll = json.loads(_decoded(path, shard))
        except json.JSONDecodeError as err:
            raise BioNERInputError(Errors.E960.format(path=path, what=f"line {err.lineno}: {err.msg}",
                                                      index=shard.index)) from None
        if not isinstance(coll, dict) or not isinstance(coll.get("documents"), list):
            raise BioNERInputError(Errors.E960.format(path=path, what="no collection with documents",
                                                      index=shard.index))
        collections.append(coll)
    head = next((c for c in collections if c["documents"]), collections[0])
    yield bioc_json_text({**head, "documents": [d for c in collections for d in c["documents"]]}).encode("utf-8")


def _concatenated(parts: list[tuple[Path, Shard]]) -> Iterator[bytes]:
    for path, shard in parts:
        yield _shard_file(path, shard)


_JOINERS: dict[str, Callable[[list[tuple[Path, Shard]]], Iterator[bytes]]] = {
    "bioc-xml": _joined_xml, "bioc-json": _joined_json, "pubtator": _concatenated, "jsonl": _concatenated}


def assemble(out_dir: Path, shards: Sequence[Shard], fmt: str) -> list[str]:
    """Join the shard outputs of each input file into its output file.

    The result depends on the shard files only, so running it again gives the
    same bytes; the shard files are left in place (the engine removes them).

    out_dir (Path): The output directory.
    shards (Sequence[Shard]): All shards of the run (any order; each file's are
        joined in document order).
    fmt (str): The output format; ``brat`` has nothing to join.
    RETURNS (list[str]): The files written, relative to ``out_dir``, in the order
        the files first appear in ``shards``.
    """
    _check(fmt)
    if fmt == "brat":
        return []
    by_file: dict[str, list[Shard]] = {}
    for shard in shards:
        by_file.setdefault(shard.file, []).append(shard)
    targets: dict[str, str] = {}
    for file in by_file:
        other = targets.setdefault(output_name(file, fmt), file)
        if other != file:
            raise BioNERInputError(Errors.E959.format(first=other, second=file, target=output_name(file, fmt),
                                                      fmt=fmt))
    for target, file in targets.items():
        group = sorted(by_file[file], key=lambda s: (s.first, s.index))
        atomic_write(out_dir / target, _JOINERS[fmt]([(out_dir / shard_path(s, fmt), s) for s in group]))
    return list(targets)
