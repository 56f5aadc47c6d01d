"""bioner_prompted trained on several corpora: each sentence is paired only with
the labels its corpus annotates (recorded by spacy_bioner.MultiDatasetCorpus.v1),
with a bounded number of sampled negatives, and reads label names or
descriptions."""
from __future__ import annotations

import random
from pathlib import Path

import pytest
import spacy
from pipe_helpers import TRAIN, make_examples
from spacy.language import Language

from spacy_bioner.corpora.multi_dataset import set_dataset_info

LABELS = {
    "Disease": "disease or syndrome",
    "Chemical": "chemical compound or drug",
    "Gene": "gene or gene product",
    "Species": "organism species",
    "Cell line": "cell line",
}


def make_nlp(encoder: Path, **config: object) -> Language:
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "bioner_prompted",
        config={"model": {"encoder": str(encoder), "dropout": 0.0}, "labels": LABELS, **config},
    )
    return nlp


def corpus_examples(nlp: Language, labels: list[str] | None) -> list:
    examples = make_examples(nlp, TRAIN, doc_id=None)
    for eg in examples:
        for doc in (eg.reference, eg.predicted):
            set_dataset_info(doc, "corpus", labels)
    return examples


def test_sentences_pair_only_with_their_corpus_labels(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir)
    pipe = nlp.get_pipe("bioner_prompted")
    examples = corpus_examples(nlp, ["Disease", "Chemical"])
    nlp.initialize(lambda: examples)
    # no doc ids: without corpus information every sentence would meet every label
    assert pipe._pair_all
    paired = pipe._training_labels(examples)
    assert paired == [["Disease", "Chemical"]] * 3
    # a corpus that annotates Disease only never trains "no Chemical here"
    disease_only = corpus_examples(nlp, ["Disease"])
    assert pipe._training_labels(disease_only)[2] == ["Disease"]


def test_prediction_asks_a_doc_its_corpus_labels_only(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir)
    examples = corpus_examples(nlp, ["Disease", "Chemical"])
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    doc = nlp.make_doc(TRAIN[0][0])
    set_dataset_info(doc, "corpus", ["Chemical"])
    (prediction,) = pipe.predict([doc])
    assert set(prediction.word_probs) == {"Chemical"}
    (unrestricted,) = pipe.predict([nlp.make_doc(TRAIN[0][0])])
    assert set(unrestricted.word_probs) == set(LABELS)


def test_initialize_collects_the_corpus_labels_without_spans(tiny_bert_dir: Path) -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_prompted", config={"model": {"encoder": str(tiny_bert_dir), "dropout": 0.0}})
    examples = corpus_examples(nlp, ["Disease", "Chemical", "Species"])
    nlp.initialize(lambda: examples)
    # Species has no span in the examples but its corpus annotates it
    assert set(nlp.get_pipe("bioner_prompted").labels) == {"Disease", "Chemical", "Species"}


def test_max_negatives_bounds_the_labels_of_a_sentence(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir, max_negatives=1)
    examples = corpus_examples(nlp, list(LABELS))
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    random.seed(0)
    seen_negatives: set[str] = set()
    for _ in range(30):
        first, second, empty = pipe._training_labels(examples)
        # every positive is kept, plus exactly one sampled negative
        assert {"Disease", "Chemical"} <= set(first) and len(first) == 3
        assert len(empty) == 1
        seen_negatives |= set(first) - {"Disease", "Chemical"}
    # the negative is sampled, not always the same one
    assert len(seen_negatives) >= 2
    unbounded = make_nlp(tiny_bert_dir)
    unbounded.initialize(lambda: examples)
    assert len(unbounded.get_pipe("bioner_prompted")._training_labels(examples)[0]) == len(LABELS)


def test_name_rate_switches_the_text_the_model_reads(tiny_bert_dir: Path) -> None:
    examples_texts = {}
    for rate in (0.0, 1.0):
        nlp = make_nlp(tiny_bert_dir, name_rate=rate)
        examples = corpus_examples(nlp, ["Disease", "Chemical"])
        nlp.initialize(lambda examples=examples: examples)
        _, queries = nlp.get_pipe("bioner_prompted")._training_queries(examples)
        examples_texts[rate] = {q.key[3]: q.description for q in queries}
    assert examples_texts[0.0] == {"Disease": "disease or syndrome", "Chemical": "chemical compound or drug"}
    assert examples_texts[1.0] == {"Disease": "Disease", "Chemical": "Chemical"}


def test_example_rate_reads_mentions_of_other_sentences(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir, example_rate=1.0, example_count=3)
    examples = corpus_examples(nlp, ["Disease", "Chemical"])
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    random.seed(0)
    _, queries = pipe._training_queries(examples)
    texts = {(q.key[0], q.key[3]): q.description for q in queries}
    # each sentence reads the other sentence's mention, never its own
    assert texts[(0, "Disease")] == "Disease, e.g. nephrotoxicity"
    assert texts[(0, "Chemical")] == "Chemical, e.g. Cisplatin"
    assert texts[(1, "Disease")] == "Disease, e.g. breast cancer"
    assert texts[(1, "Chemical")] == "Chemical, e.g. tamoxifen"
    prefix = "Disease, e.g. "
    assert texts[(2, "Disease")].startswith(prefix)
    assert set(texts[(2, "Disease")][len(prefix):].split(", ")) <= {"breast cancer", "nephrotoxicity"}
    # prediction always reads the description
    docs = [eg.predicted for eg in examples]
    predicted = pipe._queries(docs, [["Disease", "Chemical"]] * len(docs))
    assert {q.description for q in predicted} == {LABELS["Disease"], LABELS["Chemical"]}
    # and the augmented queries train
    losses = nlp.update(examples, sgd=nlp.create_optimizer())
    assert losses["bioner_prompted"] > 0


def test_example_rate_falls_back_to_the_description_without_other_mentions(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir, example_rate=1.0)
    examples = corpus_examples(nlp, ["Disease", "Chemical"])[:1]
    nlp.initialize(lambda: examples)
    _, queries = nlp.get_pipe("bioner_prompted")._training_queries(examples)
    assert {q.key[3]: q.description for q in queries} == {
        "Disease": LABELS["Disease"], "Chemical": LABELS["Chemical"]}


@pytest.mark.parametrize(
    "setting,value,error",
    [
        ("max_negatives", -1, r"\[E321\] Invalid max_negatives = -1"),
        ("name_rate", 2.0, r"\[E305\] Invalid name_rate"),
        ("example_rate", -0.5, r"\[E305\] Invalid example_rate"),
        ("example_count", 0, r"\[E321\] Invalid example_count = 0"),
        # the factory's type hint: spaCy's config validation names the setting
        ("max_negatives", 1.5, r"max_negatives.*1\.5 is not"),
    ],
)
def test_invalid_multi_corpus_settings(tiny_bert_dir: Path, setting: str, value: object, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        make_nlp(tiny_bert_dir, **{setting: value})


def _docbin(nlp: Language, path: Path, texts: list[str]) -> Path:
    from spacy.tokens import DocBin

    docs = []
    for text in texts:
        doc = nlp.make_doc(text)
        doc.ents = [doc.char_span(0, len(doc[0].text), label="X")]
        docs.append(doc)
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def test_temperature_sampling_of_the_datasets(tmp_path: Path) -> None:
    from spacy_bioner.corpora.multi_dataset import create_multi_dataset_corpus

    nlp = spacy.blank("en")
    big = _docbin(nlp, tmp_path / "big.spacy", [f"big {i}" for i in range(8)])
    small = _docbin(nlp, tmp_path / "small.spacy", ["small 0", "small 1"])
    datasets = [{"name": "big", "path": str(big)}, {"name": "small", "path": str(small)}]

    def draw(**settings: object) -> list[str]:
        random.seed(0)
        return [eg.reference.text for eg in create_multi_dataset_corpus(datasets, **settings)(nlp)]

    # by size (the default): every example exactly once
    assert sorted(draw()) == sorted([f"big {i}" for i in range(8)] + ["small 0", "small 1"])
    # equal shares: 5 + 5, the small corpus repeated, the big one sampled without repeats
    equal = draw(sampling_exponent=0.0)
    assert sum(t.startswith("small") for t in equal) == 5 and len(equal) == 10
    bigs = [t for t in equal if t.startswith("big")]
    assert len(set(bigs)) == 5
    # a fixed pass size, shares by the square root of the sizes (sqrt 8 : sqrt 2 = 2 : 1)
    sqrt = draw(sampling_exponent=0.5, examples_per_pass=30)
    assert sum(t.startswith("big") for t in sqrt) == 20 and sum(t.startswith("small") for t in sqrt) == 10
    with pytest.raises(ValueError, match=r"\[E712\].*sampling_exponent"):
        create_multi_dataset_corpus(datasets, sampling_exponent=-1.0)


def test_catalogue_corpus_maps_raw_tags_and_holds_labels_out(tmp_path: Path, tiny_bert_dir: Path) -> None:
    from spacy.tokens import DocBin

    from spacy_bioner.catalogue import load_catalogue
    from spacy_bioner.catalogue.reader import create_catalogue_corpus

    catalogue = load_catalogue()
    nlp = spacy.blank("en")
    (tmp_path / "conll" / "BC5CDR-IOB").mkdir(parents=True)
    doc = nlp.make_doc("Cisplatin induced nephrotoxicity in two rats .")
    doc.ents = [doc.char_span(0, 9, label="Chemical"), doc.char_span(18, 32, label="Disease")]
    DocBin(docs=[doc], store_user_data=True).to_disk(tmp_path / "conll" / "BC5CDR-IOB" / "train.spacy")
    corpora = ["conll/BC5CDR-IOB"]
    (eg,) = list(create_catalogue_corpus(str(tmp_path), corpora)(nlp))
    assert sorted(e.label_ for e in eg.reference.ents) == ["cdr.chemical", "cdr.disease"]
    assert eg.reference.user_data["bioner_dataset"]["labels"] == ["cdr.chemical", "cdr.disease"]
    # held out: the label and every label overlapping it go, spans and negatives alike
    (held,) = list(create_catalogue_corpus(str(tmp_path), corpora, hold_out=["cdr.chemical"])(nlp))
    assert [e.label_ for e in held.reference.ents] == ["cdr.disease"]
    assert held.reference.user_data["bioner_dataset"]["labels"] == ["cdr.disease"]
    assert "cdr.disease" not in catalogue.overlap_closure(["cdr.chemical"])
    with pytest.raises(ValueError, match=r"\[E806\].*dev split"):
        create_catalogue_corpus(str(tmp_path), corpora, split="dev")
    # initialize(catalogue=True): descriptions and names from the catalogue
    pipe_nlp = spacy.blank("en")
    pipe = pipe_nlp.add_pipe("bioner_prompted", config={"model": {"encoder": str(tiny_bert_dir)}, "name_rate": 1.0})
    pipe.initialize(lambda: [eg], nlp=pipe_nlp, catalogue=True)
    assert pipe.label_descriptions["cdr.disease"] == catalogue.labels["cdr.disease"].description
    assert pipe.label_name("cdr.disease") == catalogue.labels["cdr.disease"].name
    _, queries = pipe._training_queries([eg])
    assert {q.description for q in queries} == {catalogue.labels[x].name for x in ("cdr.chemical", "cdr.disease")}
