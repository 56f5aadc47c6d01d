"""The evaluation step of the few-shot experiment: hidden-label references."""
from __future__ import annotations

from fewshot_helpers import TEST, labels_of, make_doc
from spacy.language import Language

from spacy_bioner.experiments.fewshot.evaluation import hidden_references


def test_hidden_references(nlp: Language) -> None:
    docs = [make_doc(nlp, text, gold) for text, gold in TEST] + [nlp.make_doc("Not annotated .")]
    refs = hidden_references(docs, ["Gene"], "sc")
    assert len(refs) == 2
    assert [labels_of(ref) for ref in refs] == [{"ents": ["Gene", "Gene"], "sc": ["Gene", "Gene"]},
                                                {"ents": [], "sc": []}]

