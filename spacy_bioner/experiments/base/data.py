"""The data step: convert every corpus a recipe reads, from a corpora root laid
out like ``../shared/corpora`` (the catalogue's paths), to
``{output}/{corpus id}/{split}.spacy``: raw tags kept, one Doc per sentence,
a conversion report beside each DocBin. A corpus without splits in the
catalogue (MACCROBAT) is split by document with a split file."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import srsly

from ...catalogue import WHOLE, LabelCatalogue
from ...corpora.convert import convert_corpus, output_paths, write_outputs
from ...corpora.report import ConversionReport
from ...errors import BioNERInputError, Errors

#: The corpus reader of the base-model recipe.
READER = "spacy_bioner.CatalogueCorpus.v1"
#: A document split file's entry that is not a split (the seed that drew it).
SPLIT_NOTE_KEYS = ("seed",)
#: The files of one BRAT document, beside its .txt.
BRAT_SUFFIXES = (".txt", ".ann", ".a1", ".a2")


@dataclass(frozen=True)
class Conversion:
    """One split of one corpus to convert.

    corpus (str): Catalogue corpus id, e.g. "conll/BC5CDR-IOB".
    split (str): "train", "dev" or "test".
    source (Path): The file or directory the catalogue names under the corpora root.
    fmt (str): The input format (the catalogue's first for the corpus).
    lang (str): The corpus's language.
    output (Path): The DocBin to write.
    documents (tuple[str, ...] | None): Document ids of the split (a split
        file's), None for the whole source.
    split_file (Path | None): Where `documents` come from.
    """

    corpus: str
    split: str
    source: Path
    fmt: str
    lang: str
    output: Path
    documents: tuple[str, ...] | None = None
    split_file: Path | None = None


def recipe_entries(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The corpus entries the recipe's catalogue readers read, with the split each reads.

    config (Mapping[str, Any]): The interpolated training config.
    RETURNS (list[tuple[str, str]]): (entry as written, e.g. "conll/JNLPBA@dev", its split), train first.
    """
    entries: list[tuple[str, str]] = []
    for reader in config.get("corpora", {}).values():
        if isinstance(reader, Mapping) and reader.get("@readers") == READER:
            default = str(reader.get("split", "train"))
            for entry in reader.get("corpora", []):
                corpus, _, split = str(entry).partition("@")
                entries.append((str(entry), split or default))
    return entries


def recipe_corpora(config: Mapping[str, Any]) -> list[str]:
    """The corpus ids of the recipe, in order, without repeats ("ID@SPLIT" counts as ID).

    config (Mapping[str, Any]): The interpolated training config.
    RETURNS (list[str]): Catalogue corpus ids.
    """
    return list(dict.fromkeys(entry.partition("@")[0] for entry, _ in recipe_entries(config)))


def parse_document_splits(values: Iterable[str]) -> dict[str, Path]:
    """`["brat/maccrobat2020=configs/maccrobat_split.json"]` -> {corpus id: split file}.

    RAISES (BioNERInputError): E917 for a value without "=".
    """
    splits: dict[str, Path] = {}
    for value in values:
        corpus, sep, path = value.partition("=")
        if not sep or not corpus.strip() or not path.strip():
            raise BioNERInputError(Errors.E917.format(value=value))
        splits[corpus.strip()] = Path(path.strip())
    return splits


def read_document_split(path: Path) -> dict[str, list[str]]:
    """A document split file: {"seed": 0, "train": [ids], "dev": [ids], "test": [ids]}.

    path (Path): The JSON file.
    RETURNS (dict[str, list[str]]): Split name -> document ids (the seed left out).
    RAISES (BioNERInputError): E910 if it is not such a file, or a document is in two splits.
    """
    try:
        data = srsly.read_json(path)
    except (OSError, ValueError) as err:
        raise BioNERInputError(Errors.E910.format(path=path, what=f"it cannot be read as JSON ({err})")) from None
    if not isinstance(data, dict):
        raise BioNERInputError(Errors.E910.format(path=path, what="the top level is not an object"))
    splits = {key: value for key, value in data.items() if key not in SPLIT_NOTE_KEYS}
    bad = [key for key, ids in splits.items() if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)]
    if bad or not splits:
        what = f"{', '.join(bad)} is not a list of document ids" if bad else "it names no split"
        raise BioNERInputError(Errors.E910.format(path=path, what=what))
    seen: dict[str, str] = {}
    for split, ids in splits.items():
        for doc_id in ids:
            if doc_id in seen:
                what = f"document {doc_id!r} is in split '{seen[doc_id]}' and in split '{split}'"
                raise BioNERInputError(Errors.E910.format(path=path, what=what))
            seen[doc_id] = split
    return splits


def plan_conversions(
    catalogue: LabelCatalogue,
    root: Path,
    corpora: Sequence[str],
    output_dir: Path,
    document_splits: Mapping[str, Path] | None = None,
) -> list[Conversion]:
    """Every split of every corpus, with its source under `root`, checked to exist.

    catalogue (LabelCatalogue): The label catalogue (paths, splits, formats).
    root (Path): The corpora root, laid out like ../shared/corpora.
    corpora (Sequence[str]): Catalogue corpus ids.
    output_dir (Path): Where {corpus id}/{split}.spacy go.
    document_splits (Mapping[str, Path] | None): Corpus id -> document split
        file, for the corpora without splits in the catalogue.
    RETURNS (list[Conversion]): The conversions, corpus by corpus.
    RAISES (BioNERInputError): E912/E913 for a missing or needless split file,
        E914 for a missing source, E910/E911 for a bad split file.
    """
    document_splits = dict(document_splits or {})
    plan: list[Conversion] = []
    for corpus in corpora:
        info = catalogue.corpus(corpus)
        fmt = next(iter(info.paths))
        files = info.files(root, fmt)
        split_file = document_splits.get(corpus)
        if WHOLE in files and split_file is None:
            raise BioNERInputError(Errors.E912.format(corpus=corpus))
        if WHOLE not in files and split_file is not None:
            raise BioNERInputError(Errors.E913.format(corpus=corpus, splits=", ".join(files), split_file=split_file))
        sources: dict[str, tuple[Path, tuple[str, ...] | None]]
        if split_file is None:
            sources = {split: (path, None) for split, path in files.items()}
        else:
            sources = {split: (files[WHOLE], tuple(ids)) for split, ids in read_document_split(split_file).items()}
        for split, (source, documents) in sources.items():
            if not source.exists():
                raise BioNERInputError(Errors.E914.format(corpus=corpus, split=split, path=source))
            plan.append(Conversion(corpus, split, source, fmt, info.language, output_dir / corpus / f"{split}.spacy",
                                   documents, split_file))
    for conversion in plan:
        if conversion.documents is not None:
            _check_documents(conversion)
    return plan


def _check_documents(conversion: Conversion) -> None:
    for doc_id in conversion.documents or ():
        if not (conversion.source / f"{doc_id}.txt").is_file():
            raise BioNERInputError(Errors.E911.format(corpus=conversion.corpus, doc_id=doc_id, split=conversion.split,
                                                      split_file=conversion.split_file, source=conversion.source))


def check_recipe_splits(entries: Iterable[tuple[str, str]], plan: Sequence[Conversion]) -> None:
    """Check that every split the recipe reads is converted (a corpus without a
    training split needs "ID@SPLIT").

    entries (Iterable[tuple[str, str]]): From `recipe_entries`.
    plan (Sequence[Conversion]): From `plan_conversions`.
    RAISES (BioNERInputError): E915 for a split the corpus does not have.
    """
    splits: dict[str, list[str]] = {}
    for conversion in plan:
        splits.setdefault(conversion.corpus, []).append(conversion.split)
    for entry, split in entries:
        corpus = entry.partition("@")[0]
        if split not in splits.get(corpus, [split]):
            raise BioNERInputError(Errors.E915.format(entry=entry, split=split, corpus=corpus,
                                                      splits=", ".join(splits[corpus])))


def unassigned_documents(plan: Sequence[Conversion]) -> dict[str, list[str]]:
    """Per corpus split by document, the documents of its source that no split lists.

    plan (Sequence[Conversion]): From `plan_conversions`.
    RETURNS (dict[str, list[str]]): Corpus id -> document ids (e.g. the stray
        hi.txt of the MACCROBAT Git copy), only for corpora that have some.
    """
    listed: dict[tuple[str, Path], set[str]] = {}
    for conversion in plan:
        if conversion.documents is not None:
            listed.setdefault((conversion.corpus, conversion.source), set()).update(conversion.documents)
    found = {corpus: sorted(p.stem for p in source.glob("*.txt") if p.stem not in ids)
             for (corpus, source), ids in listed.items()}
    return {corpus: ids for corpus, ids in found.items() if ids}


def convert(conversion: Conversion) -> ConversionReport:
    """Convert one split and write its DocBin and report (both new, or neither).

    conversion (Conversion): What to convert.
    RETURNS (ConversionReport): The report (also written beside the DocBin).
    """
    out_path, report_path = output_paths(conversion.source, conversion.output, conversion.fmt)
    options: dict[str, Any] = {"lang": conversion.lang, "sentences": True}
    if conversion.documents is None:
        docbin, report = convert_corpus(conversion.source, conversion.fmt, **options)
    else:
        with tempfile.TemporaryDirectory(prefix="bioner-split-") as tmp:
            staged = stage_documents(conversion.source, conversion.documents, Path(tmp))
            docbin, report = convert_corpus(staged, conversion.fmt, **options)
        report.corpus = (f"{conversion.source} (split '{conversion.split}': {len(conversion.documents)} "
                         f"documents of {conversion.split_file})")
    write_outputs(docbin, report, out_path, report_path)
    return report


def stage_documents(source: Path, documents: Iterable[str], staging: Path) -> Path:
    """Copy the files of some BRAT documents into a directory of their own.

    source (Path): The corpus directory.
    documents (Iterable[str]): Document ids (file stems).
    staging (Path): An empty directory.
    RETURNS (Path): `staging`, holding each document's .txt and annotation files.
    """
    for doc_id in documents:
        for suffix in BRAT_SUFFIXES:
            path = source / f"{doc_id}{suffix}"
            if path.is_file():
                shutil.copyfile(path, staging / path.name)
    return staging
