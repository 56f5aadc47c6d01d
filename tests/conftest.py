"""Shared fixtures: blank pipelines and a writer for tiny standoff files."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from spacy.language import Language

from spacy_bioner.corpora.convert import make_nlp


@pytest.fixture(scope="session")
def nlp_bio() -> Language:
    """A blank English pipeline with spacy_bioner's biomedical tokenizer."""
    return make_nlp(tokenizer="bio")


@pytest.fixture(scope="session")
def nlp_spacy() -> Language:
    """A blank English pipeline with spaCy's default tokenizer."""
    return make_nlp(tokenizer="spacy")


def _write(directory: Path, name: str, text: str | bytes, **annotations: str | bytes | None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    txt = directory / f"{name}.txt"
    txt.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    for ext, content in annotations.items():
        if content is not None:
            data = content.encode("utf-8") if isinstance(content, str) else content
            (directory / f"{name}.{ext}").write_bytes(data)
    return txt


@pytest.fixture
def write_brat() -> Callable[..., Path]:
    """``write_brat(dir, name, text, ann=..., a1=..., a2=...)`` writes the files
    byte-exactly (no newline translation) and returns the ``.txt`` path."""
    return _write

