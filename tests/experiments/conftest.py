"""Fixtures of the experiment tests."""
from __future__ import annotations

import pytest
import spacy
from spacy.language import Language


@pytest.fixture(scope="module")
def nlp() -> Language:
    """A blank English pipeline (spaCy's tokenizer)."""
    return spacy.blank("en")
