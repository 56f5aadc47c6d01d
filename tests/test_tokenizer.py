"""The biomedical tokenizer: splits that put entity boundaries on token boundaries."""
from __future__ import annotations

import pytest
import spacy
from spacy.language import Language

from spacy_bioner.tokenizer import create_bio_tokenizer

REGISTERED_NAME = "spacy_bioner.BioTokenizer.v1"
CONFIG = {"nlp": {"tokenizer": {"@tokenizers": REGISTERED_NAME}}}


@pytest.fixture(scope="module")
def nlp() -> Language:
    return spacy.blank("en", config=CONFIG)


def words(nlp: Language, text: str) -> list[str]:
    return [t.text for t in nlp(text)]


def test_hyphenated_compound_splits_so_entity_aligns(nlp):
    text = "IL-6-induced expression"
    doc = nlp(text)
    assert [t.text for t in doc] == ["IL", "-", "6", "-", "induced", "expression"]
    span = doc.char_span(0, 4)  # strict alignment
    assert span is not None and span.text == "IL-6"
    assert doc.char_span(5, 12).text == "induced"


def test_slash_splits_where_spacy_default_does_not(nlp):
    text = "BRCA1/2 carriers"
    assert spacy.blank("en")(text).char_span(0, 5) is None
    assert nlp(text).char_span(0, 5).text == "BRCA1"


def test_ion_pump(nlp):
    doc = nlp("the Na+/K+ pump")
    assert [t.text for t in doc] == ["the", "Na+", "/", "K+", "pump"]
    assert doc.char_span(4, 7).text == "Na+"
    assert doc.char_span(8, 10).text == "K+"


def test_brackets_around_abbreviation(nlp):
    doc = nlp("levels of (TNF-α) rose")
    assert [t.text for t in doc] == ["levels", "of", "(", "TNF", "-", "α", ")", "rose"]
    assert doc.char_span(11, 16).text == "TNF-α"


def test_state_abbreviation_at_sentence_end_is_split(nlp):
    # "Ia." is an Iowa abbreviation in spaCy's exceptions
    assert "Ia." in nlp.Defaults.tokenizer_exceptions
    assert words(nlp, "of type Ia.") == ["of", "type", "Ia", "."]
    assert words(nlp, "for 2 d.") == ["for", "2", "d", "."]


def test_latin_abbreviations_kept(nlp):
    assert words(nlp, "drugs, e.g. aspirin, i.e. ASA") == ["drugs", ",", "e.g.", "aspirin", ",", "i.e.", "ASA"]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("a\u200bb", ["a", "\u200b", "b"]),
        ("weeks;\u200bp53", ["weeks", ";", "\u200b", "p53"]),
        ("PA3553::lux", ["PA3553", "::", "lux"]),
        ("closed layer.[10] Time", ["closed", "layer", ".", "[", "10", "]", "Time"]),
        ("asymptomatic.3 The", ["asymptomatic", ".", "3", "The"]),
        ("≥30% and ANC>0.5", ["≥", "30", "%", "and", "ANC", ">", "0.5"]),
        ("pH 7.4.", ["pH", "7.4", "."]),
        ("E. coli", ["E", ".", "coli"]),
    ],
)
def test_splits(nlp, text, expected):
    assert words(nlp, text) == expected


def test_registered_name_resolves():
    factory = spacy.registry.tokenizers.get(REGISTERED_NAME)
    assert factory is create_bio_tokenizer
    tokenizer = factory()(spacy.blank("en"))
    assert [t.text for t in tokenizer("IL-6-induced")] == ["IL", "-", "6", "-", "induced"]


def test_config_round_trip(tmp_path, nlp):
    text = "IL-6-induced (TNF-α) of type Ia. e.g. Na+/K+ in PA3553::lux"
    assert nlp.config["nlp"]["tokenizer"] == {"@tokenizers": REGISTERED_NAME}
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.config["nlp"]["tokenizer"] == {"@tokenizers": REGISTERED_NAME}
    assert words(loaded, text) == words(nlp, text)
    assert "IL" in words(loaded, text)
    # and through bytes into a fresh pipeline built from the config
    again = spacy.blank("en", config=CONFIG)
    again.tokenizer.from_bytes(nlp.tokenizer.to_bytes())
    assert words(again, text) == words(nlp, text)


def test_whitespace_is_kept(nlp):
    text = "Dose 5\u200aμg/kg\r\nnext"
    doc = nlp(text)
    assert doc.text == text
    assert doc.char_span(5, 12).text == "5\u200aμg/kg"
