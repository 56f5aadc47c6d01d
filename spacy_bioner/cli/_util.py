"""What the commands share: failing with a message instead of a traceback,
loading a pipeline, and reading gold documents."""
from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import spacy
import typer
from spacy.language import Language
from spacy.tokens import Doc, DocBin
from wasabi import msg

from .. import util
from ..errors import BioNERInputError, Errors

# What spacy.load raises for a bad name, path, config or meta.json.
_LOAD_ERRORS = (OSError, ValueError, KeyError, ImportError)


def fail(text: str) -> NoReturn:
    """Print an error and exit with status 1: users see the message, not a traceback.

    text (str): The message.
    """
    msg.fail(text)
    raise typer.Exit(code=1) from None


def read_doc_bin(path: Path) -> DocBin:
    """Read a DocBin before anything slow (loading a pipeline) happens.

    path (Path): The .spacy file.
    RETURNS (DocBin): Its contents; a missing or broken file fails the command.
    """
    try:
        return util.read_doc_bin(path)
    except BioNERInputError as err:
        fail(str(err))


def load_pipeline(name: str) -> Language:
    """name (str): Anything spacy.load accepts.
    RETURNS (Language): The pipeline; one that cannot be loaded fails the command."""
    try:
        return spacy.load(name)
    except _LOAD_ERRORS as err:
        fail(Errors.E018.format(name=name, err=err))


def get_docs(doc_bin: DocBin, nlp: Language, path: Path) -> list[Doc]:
    """The gold documents, read into the pipeline's vocabulary.

    doc_bin (DocBin): From `read_doc_bin`.
    nlp (Language): The pipeline.
    path (Path): The file, for errors.
    RETURNS (list[Doc]): The documents; damaged or no documents fail the command.
    """
    try:
        docs = util.get_docs(doc_bin, nlp.vocab, path)
    except BioNERInputError as err:
        fail(str(err))
    if not docs:
        fail(Errors.E101.format(path=path))
    return docs
