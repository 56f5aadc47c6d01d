"""Corpus conversion: any supported format -> spaCy Docs + a conversion report.

Written output is all or nothing: the DocBin and its report are serialised
first, written to temporary files beside their targets, and only then moved
into place together, so a failure at any point leaves the previous pair (or
nothing) behind, never a new DocBin beside an old report.
"""
from __future__ import annotations

import contextlib
import importlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import spacy
import srsly
from spacy.language import Language
from spacy.tokens import Doc, DocBin

from ..errors import BioNERInputError, Errors
from .base import DEFAULT_SPANS_KEY, DocBuilder, SourceDocument, check_strict
from .limits import DEFAULT_LIMITS, Limits
from .report import ConversionReport

#: format name -> (module, reader function, extra options it accepts)
FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "brat": ("spacy_bioner.corpora.brat", "read_brat", {}),
    "bioc-xml": ("spacy_bioner.corpora.bioc", "read_bioc_xml", {}),
    "bioc-json": ("spacy_bioner.corpora.bioc_json", "read_bioc_json", {}),
    "conll": ("spacy_bioner.corpora.conll", "read_conll", {}),
    "pubtator": ("spacy_bioner.corpora.pubtator", "read_pubtator", {}),
}


def get_reader(fmt: str) -> Callable[..., Iterator[SourceDocument]]:
    """Look up the reader function of a format name.

    fmt (str): One of :data:`FORMATS`.
    RETURNS (Callable): ``reader(path, report, **options) -> Iterator[SourceDocument]``.
    """
    if fmt not in FORMATS:
        raise BioNERInputError(Errors.E011.format(setting="format", value=fmt, options=", ".join(FORMATS)))
    module, name, _ = FORMATS[fmt]
    return getattr(importlib.import_module(module), name)


def load_label_map(path: str | Path | None) -> dict[str, str | None] | None:
    """Read a label map: JSON ``{"SpecificDisease": "Disease", "Modifier": null}``
    or TSV ``source<TAB>target`` lines (an empty target drops the type).

    path (str | Path | None): The file, or None for no mapping.
    RETURNS (dict[str, str | None] | None): Source type -> new type or None.
    """
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise BioNERInputError(Errors.E012.format(path=p, what="no such file" if not p.exists() else "not a file"))
    try:
        content = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise BioNERInputError(Errors.E012.format(path=p, what=f"not UTF-8 ({err.reason})")) from None
    except OSError as err:
        raise BioNERInputError(Errors.E012.format(path=p, what=err.strerror or err)) from None
    if p.suffix.lower() == ".json" or content.lstrip().startswith("{"):
        try:
            data = json.loads(content)
        except json.JSONDecodeError as err:
            raise BioNERInputError(Errors.E012.format(path=p, what=f"line {err.lineno}: {err.msg}")) from None
        if not isinstance(data, dict) or not all(isinstance(v, (str, type(None))) for v in data.values()):
            raise BioNERInputError(Errors.E012.format(path=p, what="values must be strings or null"))
        return {str(k): (v or None) for k, v in data.items()}
    mapping: dict[str, str | None] = {}
    for i, line in enumerate(content.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) > 2:
            raise BioNERInputError(Errors.E012.format(path=p, what=f"line {i} has {len(cols)} columns"))
        mapping[cols[0].strip()] = cols[1].strip() if len(cols) == 2 and cols[1].strip() else None
    return mapping


TOKENIZERS = ("bio", "spacy")


def make_nlp(lang: str = "en", tokenizer: str = "bio") -> Language:
    """A blank pipeline whose tokenizer the conversion uses.

    lang (str): Language code for ``spacy.blank``.
    tokenizer (str): ``"bio"`` for spacy_bioner's biomedical tokenizer (splits
        hyphens, slashes and brackets inside words so entity boundaries fall on
        token boundaries), ``"spacy"`` for spaCy's default one.
    RETURNS (Language): The blank pipeline.
    """
    if tokenizer not in TOKENIZERS:
        raise BioNERInputError(Errors.E011.format(setting="tokenizer", value=tokenizer, options=", ".join(TOKENIZERS)))
    config = {"nlp": {"tokenizer": {"@tokenizers": "spacy_bioner.BioTokenizer.v1"}}} if tokenizer == "bio" else {}
    try:
        return spacy.blank(lang, config=config)
    except ImportError as err:
        raise BioNERInputError(Errors.E025.format(lang=lang)) from err


def iter_docs(
    input_path: str | Path,
    fmt: str,
    nlp: Language,
    report: ConversionReport,
    *,
    spans_key: str = DEFAULT_SPANS_KEY,
    discontinuous: str = "span",
    alignment: str = "expand",
    label_map: dict[str, str | None] | None = None,
    sentences: bool = False,
    reader_options: dict[str, Any] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Doc]:
    """Convert a corpus lazily, one Doc at a time (bounded memory).

    The report is complete once the iterator is exhausted.

    input_path (str | Path): A file or a directory.
    fmt (str): The input format (see :data:`FORMATS`).
    nlp (Language): Supplies vocab and tokenizer.
    report (ConversionReport): Receives every annotation's outcome.
    limits (Limits): The largest document and offset accepted, for the reader and the builder.
    YIELDS (Doc): Converted documents (or sentences).
    """
    reader = get_reader(fmt)
    builder = DocBuilder(nlp, report, spans_key=spans_key, discontinuous=discontinuous,
                         alignment=alignment, label_map=label_map, sentences=sentences, limits=limits)
    start = time.perf_counter()
    for src in reader(input_path, report, limits=limits, **(reader_options or {})):
        yield from builder.build(src)
    report.seconds += time.perf_counter() - start


@contextlib.contextmanager
def _msgpack_registries_snapshot() -> Iterator[None]:
    """Look up srsly's msgpack encoders/decoders once instead of once per object.

    ``DocBin.add`` packs user data and span groups with srsly, whose Packer
    calls ``get_all()`` on two catalogue registries for every object; that
    walks every registered function and rescans the installed packages' entry
    points, and took two thirds of the time on a large corpus. Within the
    block the registries answer from a snapshot taken on entry.
    """
    registries = [srsly.msgpack.msgpack_encoders, srsly.msgpack.msgpack_decoders]
    for reg in registries:
        snapshot = reg.get_all()
        reg.get_all = lambda snapshot=snapshot: dict(snapshot)
    try:
        yield
    finally:
        for reg in registries:
            del reg.get_all


def convert_corpus(
    input_path: str | Path,
    fmt: str,
    *,
    lang: str = "en",
    tokenizer: str = "bio",
    nlp: Language | None = None,
    strict: bool = False,
    progress: Callable[[Iterable[Doc]], Iterable[Doc]] | None = None,
    **options: Any,
) -> tuple[DocBin, ConversionReport]:
    """Convert a corpus into a DocBin and its report.

    input_path (str | Path): A file or a directory.
    fmt (str): The input format.
    lang (str): Language of the blank pipeline, when ``nlp`` is not given.
    tokenizer (str): ``"bio"`` or ``"spacy"`` (see :func:`make_nlp`).
    nlp (Language | None): Use this pipeline's tokenizer instead.
    strict (bool): Raise on any adjusted or rejected annotation.
    progress (Callable | None): Wraps the Doc iterator, e.g. with a progress bar.
    **options: Passed to :func:`iter_docs`.
    RETURNS (tuple[DocBin, ConversionReport]): The documents and the report.
    """
    nlp = nlp if nlp is not None else make_nlp(lang, tokenizer)
    report = ConversionReport(corpus=str(input_path), fmt=fmt)
    docbin = DocBin(store_user_data=True)
    docs: Iterable[Doc] = iter_docs(input_path, fmt, nlp, report, **options)
    if progress is not None:
        docs = progress(docs)
    start = time.perf_counter()
    with _msgpack_registries_snapshot():
        for doc in docs:
            docbin.add(doc)
    # the whole conversion, DocBin packing included, not just parsing and building
    report.seconds = time.perf_counter() - start
    if strict:
        check_strict(report)
    return docbin, report


def output_paths(input_path: str | Path, output: str | Path, fmt: str = "") -> tuple[Path, Path]:
    """Where the DocBin and its report go.

    OUTPUT ending in ``.spacy`` is the DocBin file, unless it is an existing
    directory; otherwise it is a directory and the file is named after the
    input, with ``-xml``/``-json`` added for BioC so that ``Train.BioC.XML``
    and ``Train.BioC.JSON`` do not overwrite each other. The report sits next
    to the DocBin as ``NAME.report.json``.

    RAISES (BioNERInputError): If OUTPUT is an existing file without ``.spacy``,
        or the DocBin or report path is a directory.
    """
    out = Path(output)
    if out.suffix != ".spacy" or out.is_dir():
        if out.exists() and not out.is_dir():
            raise BioNERInputError(Errors.E026.format(path=out))
        name = Path(input_path).name
        stem, dot, ext = name.rpartition(".")
        if not dot or Path(input_path).is_dir():
            stem, ext = name, ""
        if fmt.startswith("bioc") and ext:
            stem = f"{stem}-{ext.lower()}"
        out = out / f"{stem or 'corpus'}.spacy"
    report_path = out.with_suffix(".report.json")
    for what, path in (("DocBin file", out), ("report file", report_path)):
        if path.is_dir():
            raise BioNERInputError(Errors.E027.format(what=what, path=path))
    return out, report_path


def _umask() -> int:
    """The process's umask (os.umask can only be read by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_temporary(data: bytes, path: Path, mode: int) -> Path:
    """Write ``data`` to a new temporary file beside ``path``, with ``mode``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp creates the file 0600; give it the mode any other new file would get
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
    except BaseException:
        os.unlink(tmp)
        raise
    return Path(tmp)


def _replace_pair(tmp_report: Path, report_path: Path, tmp_docbin: Path, out_path: Path) -> None:
    """Move both files into place; if the second move fails, put the old report back."""
    backup: Path | None = None
    if report_path.exists():
        backup = report_path.with_name(f".{report_path.name}.{os.getpid()}.old")
        os.replace(report_path, backup)
    try:
        os.replace(tmp_report, report_path)
        os.replace(tmp_docbin, out_path)
    except BaseException:
        if backup is not None:
            os.replace(backup, report_path)
        elif report_path.exists():
            report_path.unlink()
        raise
    if backup is not None:
        backup.unlink()


def write_outputs(docbin: DocBin, report: ConversionReport, out_path: Path, report_path: Path) -> None:
    """Write a DocBin and its report so that both are new, or both untouched.

    Both are serialised before anything is written (a report that cannot be
    serialised must not leave a new DocBin behind), written to temporary
    files in the target directory, and moved into place last. New files get
    the permissions the umask allows, like any other file the user writes.

    docbin (DocBin): The documents.
    report (ConversionReport): Their conversion report.
    out_path (Path): The DocBin file.
    report_path (Path): The report file.
    RAISES (BioNERInputError): If a file cannot be written (the old pair is kept).
    """
    data, report_data = docbin.to_bytes(), report.to_bytes()
    mode = 0o666 & ~_umask()
    temporaries: list[Path] = []
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.parent.mkdir(parents=True, exist_ok=True)
        temporaries.append(_write_temporary(data, out_path, mode))
        temporaries.append(_write_temporary(report_data, report_path, mode))
        _replace_pair(temporaries[1], report_path, temporaries[0], out_path)
    except OSError as err:
        raise BioNERInputError(Errors.E028.format(path=out_path, what="written", err=err)) from None
    finally:
        for tmp in temporaries:
            if tmp.exists():
                tmp.unlink()


def convert_to_disk(
    input_path: str | Path, output: str | Path, fmt: str, **options: Any
) -> tuple[Path, Path, DocBin, ConversionReport]:
    """Convert a corpus and write the DocBin and its report (what ``convert`` does).

    The output paths are checked before the conversion starts, so a wrong
    OUTPUT fails at once; nothing is written unless the whole conversion succeeds.

    input_path (str | Path): A file or a directory.
    output (str | Path): A ``.spacy`` file or a directory (see :func:`output_paths`).
    fmt (str): The input format.
    **options: Passed to :func:`convert_corpus`.
    RETURNS (tuple[Path, Path, DocBin, ConversionReport]): The DocBin path, the
        report path, the documents and the report.
    """
    out_path, report_path = output_paths(input_path, output, fmt)
    docbin, report = convert_corpus(input_path, fmt, **options)
    write_outputs(docbin, report, out_path, report_path)
    return out_path, report_path, docbin, report
