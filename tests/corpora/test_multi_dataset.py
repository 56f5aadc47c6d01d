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




def test_fast_msgpack_reads_the_same_docs_and_restores_srsly(tmp_path: Path) -> None:
    import srsly
    from spacy.tokens import DocBin

    from spacy_bioner.corpora.multi_dataset import fast_msgpack

    nlp = spacy.blank("en")
    doc = nlp.make_doc("Cisplatin induced nephrotoxicity .")
    doc.spans["sc"] = [doc.char_span(0, 9, label="Chemical")]
    doc.user_data["bioner_source"] = {"doc_id": "d1"}
    DocBin(docs=[doc], store_user_data=True).to_disk(tmp_path / "one.spacy")
    before = srsly.msgpack_decoders.get_all
    with fast_msgpack():
        (fast,) = DocBin().from_disk(tmp_path / "one.spacy").get_docs(nlp.vocab)
        assert srsly.msgpack_decoders.get_all is not before
    assert srsly.msgpack_decoders.get_all == before
    (slow,) = DocBin().from_disk(tmp_path / "one.spacy").get_docs(nlp.vocab)
    assert fast.to_json() == slow.to_json() and fast.user_data == slow.user_data
    assert [(s.start, s.end, s.label_) for s in fast.spans["sc"]] == [(0, 1, "Chemical")]


def test_reader_reads_each_docbin_once_per_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spacy.tokens import DocBin

    import spacy_bioner.corpora.multi_dataset as multi

    nlp = spacy.blank("en")
    doc = nlp.make_doc("Cisplatin induced nephrotoxicity .")
    doc.ents = [doc.char_span(0, 9, label="Chemical")]
    DocBin(docs=[doc]).to_disk(tmp_path / "one.spacy")
    reads = []
    real = multi.Corpus

    def counting(*args, **kwargs):
        reads.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(multi, "Corpus", counting)
    reader = multi.create_multi_dataset_corpus([{"name": "x", "path": str(tmp_path / "one.spacy")}])
    first, second = list(reader(nlp)), list(reader(nlp))
    assert len(reads) == 1
    # the predicted docs are new on every pass, and carry the dataset too
    assert first[0].predicted is not second[0].predicted
    assert second[0].predicted.user_data["bioner_dataset"] == {"name": "x", "labels": None}
    # a changed file is read again
    DocBin(docs=[doc, doc]).to_disk(tmp_path / "one.spacy")
    assert len(list(reader(nlp))) == 2 and len(reads) == 2
