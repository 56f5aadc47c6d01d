"""Corpus conversion: any supported format -> spaCy Docs + a conversion report."""
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
from .report import ConversionReport

#: format name -> (module, reader function, extra options it accepts)
FORMATS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "brat": ("spacy_bioner.corpora.brat", "read_brat", {}),
    "bioc-xml": ("spacy_bioner.corpora.bioc", "read_bioc_xml", {}),
    "bioc-json": ("spacy_bioner.corpora.bioc", "read_bioc_json", {}),
    "conll": ("spacy_bioner.corpora.conll", "read_conll", {}),
    "pubtator": ("spacy_bioner.corpora.pubtator", "read_pubtator", {}),
}


def get_reader(fmt: str) -> Callable[..., Iterator[SourceDocument]]:
    """Look up the reader function of a format name.

    fmt (str): One of :data:`FORMATS`.
    RETURNS (Callable): ``reader(path, report, **options) -> Iterator[SourceDocument]``.
    """
    if fmt not in FORMATS:
        raise BioNERInputError(Errors.E011.format(fmt=fmt, options=", ".join(FORMATS)))
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
    if not p.exists():
        raise BioNERInputError(Errors.E009.format(path=p))
    try:
        content = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise BioNERInputError(Errors.E012.format(path=p, what=f"not UTF-8 ({err.reason})")) from None
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


def make_nlp(lang: str = "en", tokenizer: str = "bio") -> Language:
    """A blank pipeline whose tokenizer the conversion uses.

    lang (str): Language code for ``spacy.blank``.
    tokenizer (str): ``"bio"`` for spacy_bioner's biomedical tokenizer (splits
        hyphens, slashes and brackets inside words so entity boundaries fall on
        token boundaries), ``"spacy"`` for spaCy's default one.
    RETURNS (Language): The blank pipeline.
    """
    if tokenizer == "bio":
        return spacy.blank(lang, config={"nlp": {"tokenizer": {"@tokenizers": "spacy_bioner.BioTokenizer.v1"}}})
    if tokenizer == "spacy":
        return spacy.blank(lang)
    raise BioNERInputError(f"Unknown tokenizer '{tokenizer}'. Choose 'bio' or 'spacy'.")


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
) -> Iterator[Doc]:
    """Convert a corpus lazily, one Doc at a time (bounded memory).

    The report is complete once the iterator is exhausted.

    input_path (str | Path): A file or a directory.
    fmt (str): The input format (see :data:`FORMATS`).
    nlp (Language): Supplies vocab and tokenizer.
    report (ConversionReport): Receives every annotation's outcome.
    YIELDS (Doc): Converted documents (or sentences).
    """
    reader = get_reader(fmt)
    builder = DocBuilder(nlp, report, spans_key=spans_key, discontinuous=discontinuous,
                         alignment=alignment, label_map=label_map, sentences=sentences)
    start = time.perf_counter()
    for src in reader(input_path, report, **(reader_options or {})):
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

    OUTPUT ending in ``.spacy`` is the DocBin file; otherwise it is a directory
    and the file is named after the input, with ``-xml``/``-json`` added for
    BioC so that ``Train.BioC.XML`` and ``Train.BioC.JSON`` do not overwrite
    each other. The report sits next to the DocBin as ``NAME.report.json``.
    """
    out = Path(output)
    if out.suffix != ".spacy":
        name = Path(input_path).name
        stem, dot, ext = name.rpartition(".")
        if not dot or Path(input_path).is_dir():
            stem, ext = name, ""
        if fmt.startswith("bioc") and ext:
            stem = f"{stem}-{ext.lower()}"
        out = out / f"{stem or 'corpus'}.spacy"
    return out, out.with_suffix(".report.json")


def write_atomic(data: bytes, path: Path) -> None:
    """Write bytes so that ``path`` is either complete or untouched."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
