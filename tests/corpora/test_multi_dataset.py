"""spacy_bioner.MultiDatasetCorpus.v1: several corpora in one reader, each
document tagged with its dataset name and labels, labels mapped or dropped."""
from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

import spacy_bioner  # noqa: F401  (registers the reader)
from spacy_bioner.corpora.multi_dataset import DATASET_KEY, create_multi_dataset_corpus


def test_multi_dataset_corpus(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    paths = {}
    for name, text, spans in (
        ("ncbi", "Breast cancer patients .", [(0, 13, "Disease")]),
        ("cdr", "Cisplatin induced nephrotoxicity .", [(0, 9, "Chemical"), (18, 32, "Disease")]),
    ):
        doc = nlp.make_doc(text)
        doc.spans["sc"] = [doc.char_span(s, e, label=label) for s, e, label in spans]
        doc.ents = list(doc.spans["sc"])
        paths[name] = tmp_path / f"{name}.spacy"
        DocBin(docs=[doc]).to_disk(paths[name])
    reader = create_multi_dataset_corpus(
        {"ncbi": {"name": "NCBI-disease", "path": str(paths["ncbi"]), "labels": {"Disease": "Disease"}},
         "cdr": {"name": None, "path": str(paths["cdr"]), "labels": {"Chemical": "Drug"}}},
        shuffle=False,
    )
    examples = list(reader(nlp))
    assert len(examples) == 2
    ncbi, cdr = examples
    for doc in (ncbi.reference, ncbi.predicted):
        assert doc.user_data[DATASET_KEY] == {"name": "NCBI-disease", "labels": ["Disease"]}
    assert cdr.reference.user_data[DATASET_KEY] == {"name": None, "labels": ["Drug"]}
    # relabelled, and labels outside the mapping dropped
    assert [(s.text, s.label_) for s in cdr.reference.spans["sc"]] == [("Cisplatin", "Drug")]
    assert [(e.text, e.label_) for e in cdr.reference.ents] == [("Cisplatin", "Drug")]
    # a list works as well; bad settings are named
    assert len(list(create_multi_dataset_corpus([{"name": "x", "path": str(paths["ncbi"])}])(nlp))) == 1
    for datasets, match in (([], "`datasets`"), ([{"name": "x", "path": str(tmp_path / "none.spacy")}], "does not exist"),
                            ([{"name": "x", "path": str(paths["ncbi"]), "label": {}}], "unknown settings"),
                            ([{"name": "x", "path": str(paths["ncbi"]), "labels": ["Disease"]}], "has the labels"),
                            ([{"name": "", "path": str(paths["ncbi"])}], "has the name")):
        with pytest.raises(ValueError, match=match):
            create_multi_dataset_corpus(datasets)


def test_multi_dataset_reader_in_a_config(tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    doc = nlp.make_doc("Breast cancer .")
    doc.spans["sc"] = [doc.char_span(0, 13, label="Disease")]
    DocBin(docs=[doc]).to_disk(tmp_path / "a.spacy")
    config = spacy.util.load_config_from_str(f"""
[corpora]
[corpora.train]
@readers = "spacy_bioner.MultiDatasetCorpus.v1"
spans_key = "sc"
[corpora.train.datasets]
[corpora.train.datasets.a]
name = "A"
path = "{tmp_path / 'a.spacy'}"
labels = {{"Disease": "Disease"}}
""")
    reader = spacy.util.registry.resolve(config)["corpora"]["train"]
    (eg,) = list(reader(nlp))
    assert eg.predicted.user_data[DATASET_KEY]["name"] == "A"


