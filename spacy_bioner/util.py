"""Helpers that the library and the command line share: reading DocBin files
with clear errors, and formatting scores for people."""
from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from .errors import BioNERInputError, Errors

#: What DocBin.from_disk / get_docs raise on a missing, unreadable or
#: non-DocBin file (msgpack errors are ValueErrors).
DOCBIN_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, zlib.error)


def read_doc_bin(path: str | Path, error: str = Errors.E019, **fields: Any) -> DocBin:
    """Read a DocBin file, so that a missing or broken file gets a message rather than a traceback.

    path (str | Path): The .spacy file.
    error (str): The message for a file that cannot be read, with the fields
        {path}, {err} and those of `fields`.
    **fields (Any): More fields of `error` (e.g. the option the file came from).
    RETURNS (DocBin): The file's contents.
    RAISES (BioNERInputError): If the file is missing or not a DocBin.
    """
    path = Path(path)
    if not path.is_file():
        raise BioNERInputError(error.format(path=path, err="no such file", **fields))
    try:
        return DocBin().from_disk(path)
    except DOCBIN_ERRORS as err:
        raise BioNERInputError(error.format(path=path, err=err, **fields)) from err


def get_docs(doc_bin: DocBin, vocab: Vocab, path: str | Path, error: str = Errors.E019, **fields: Any) -> list[Doc]:
    """The documents of a DocBin; damaged contents only show up when they are decoded.

    doc_bin (DocBin): From `read_doc_bin`.
    vocab (Vocab): The vocabulary to read into.
    path (str | Path): The file it was read from, for errors.
    error (str): As for `read_doc_bin`.
    **fields (Any): As for `read_doc_bin`.
    RETURNS (list[Doc]): The documents.
    RAISES (BioNERInputError): If the contents cannot be decoded.
    """
    try:
        return list(doc_bin.get_docs(vocab))
    except DOCBIN_ERRORS as err:
        raise BioNERInputError(error.format(path=path, err=err, **fields)) from err


def pct(value: float | None) -> str:
    """A score as a percentage with two decimals, for tables and progress messages.

    value (float | None): A fraction, or None where there is no score.
    RETURNS (str): E.g. "61.62", or "-" for None.
    """
    return "-" if value is None else f"{value * 100:.2f}"
