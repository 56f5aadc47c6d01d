"""The component contract (STYLE habit 12): what every spacy_bioner component
passes, one test module parametrized over SPECS. A new component gets these
tests by being listed there (its ComponentSpec, in pipe_helpers.py, says how
to build and train it); what is specific to a method stays in its own module.

Each component is trained once per session (`trained_pipeline`) and shared
with its own test module: tests copy it (`clone`) before changing it."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import spacy
from pipe_helpers import (
    BTL,
    LABEL_MATCHER,
    LABEL_MATCHER_TOKENS,
    LLAMA,
    PROMPTED,
    TRAIN,
    ComponentSpec,
    build_pipeline,
    clone,
    label_names,
    make_examples,
    predict_in_fresh_process,
    reordered,
    scored_spans,
    spans_of,
    trained_pipeline,
)
from spacy.language import Language
from spacy.training import Example
from thinc.api import Config

SPECS = [PROMPTED, LABEL_MATCHER, LABEL_MATCHER_TOKENS, BTL, LLAMA]
SCORE_WEIGHTS = {"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0}
# the training texts and two unseen ones
TEXTS = [text for text, _ in TRAIN] + ["Tamoxifen and cisplatin in breast cancer .", "Tamoxifen ."]
Predictions = list[list[tuple[int, int, str, float]]]


@pytest.fixture(scope="module", params=SPECS, ids=[spec.id for spec in SPECS])
def spec(request: pytest.FixtureRequest) -> ComponentSpec:
    return request.param


@pytest.fixture(scope="module")
def model_dir(spec: ComponentSpec, request: pytest.FixtureRequest) -> Path:
    return Path(request.getfixturevalue(spec.model_fixture))


@pytest.fixture(scope="module")
def trained(spec: ComponentSpec, request: pytest.FixtureRequest) -> Language:
    return trained_pipeline(spec, request)


@pytest.fixture(scope="module")
def initialized(spec: ComponentSpec, model_dir: Path) -> Language:
    """Initialized on the training data, not trained (for tests that update)."""
    nlp = build_pipeline(spec, model_dir, labels=spec.labels, **spec.config)
    examples = make_examples(nlp, spec.train)
    nlp.initialize(lambda: examples)
    return nlp


def predictions(nlp: Language, texts: list[str] = TEXTS) -> Predictions:
    return [scored_spans(doc) for doc in nlp.pipe(texts)]


# ---- building, configuration, uninitialised use -------------------------------------------


def test_add_pipe_default_config(spec: ComponentSpec) -> None:
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe(spec.factory)
    assert isinstance(pipe, spec.cls)
    assert pipe.labels == () and not pipe.is_initialized
    cfg = nlp.config["components"][spec.factory]
    # the defaults are the string next to the factory, every hyperparameter visible
    defaults = Config().from_str(spec.default_config)
    assert cfg["model"] == defaults["model"] and cfg["scorer"] == defaults["scorer"]
    assert cfg["scorer"]["@scorers"] == "spacy_bioner.span_scorer.v1"
    assert (cfg["labels"], cfg["spans_key"], cfg["ents"]) == (None, "sc", True)
    assert nlp.get_pipe_meta(spec.factory).default_score_weights == SCORE_WEIGHTS


def test_building_reads_no_model(spec: ComponentSpec, tmp_path: Path) -> None:
    # the model directory is read at initialize, not when the pipeline is built
    nlp = build_pipeline(spec, tmp_path / "no-such-model", labels=spec.labels)
    examples = make_examples(nlp, spec.train)
    with pytest.raises(ValueError, match=spec.load_error):
        nlp.initialize(lambda: examples)


def test_uninitialized_use_raises(spec: ComponentSpec, model_dir: Path) -> None:
    nlp = build_pipeline(spec, model_dir, labels=spec.labels)
    pipe = nlp.get_pipe(spec.factory)
    examples = make_examples(nlp, spec.train)
    for call in (lambda: nlp("Patients with breast cancer ."), lambda: list(nlp.pipe(["a", "b"])),
                 lambda: pipe.predict([nlp.make_doc("a")]), lambda: nlp.update(examples)):
        with pytest.raises(ValueError, match=rf"\[E300\] Component '{spec.factory}'"):
            call()


def test_initialize_without_labels_raises(spec: ComponentSpec, model_dir: Path) -> None:
    nlp = build_pipeline(spec, model_dir)
    with pytest.raises(ValueError, match=rf"\[E301\] Component '{spec.factory}'.* has no labels"):
        nlp.initialize(lambda: make_examples(nlp, [("No entities here .", [])]))


def test_initialize_labels_replace_config_labels_with_warning(spec: ComponentSpec, model_dir: Path) -> None:
    nlp = build_pipeline(spec, model_dir, labels=spec.labels)
    examples = make_examples(nlp, spec.train)
    # a label the data annotates: a component may warn about labels it has no data for
    given = [label_names(spec.labels)[-1]]
    nlp.config["initialize"]["components"][spec.factory] = {"labels": given}
    with pytest.warns(UserWarning, match=rf"\[W300\] Component '{spec.factory}'"):
        nlp.initialize(lambda: examples)
    assert nlp.get_pipe(spec.factory).labels == tuple(given)


def test_config_roundtrip(spec: ComponentSpec, model_dir: Path) -> None:
    default = spacy.blank("en")
    default.add_pipe(spec.factory)
    custom = build_pipeline(spec, model_dir, labels=spec.labels, model=spec.roundtrip_model, **spec.roundtrip)
    assert all(custom.config["components"][spec.factory]["model"][key] == value
               for key, value in spec.roundtrip_model.items())
    for nlp, labels in ((default, ()), (custom, label_names(spec.labels))):
        config = nlp.config
        again = spacy.util.load_model_from_config(
            spacy.util.load_config_from_str(config.to_str()), auto_fill=True, validate=True)
        assert again.config == config
        assert again.config["components"][spec.factory] == config["components"][spec.factory]
        assert again.get_pipe(spec.factory).labels == labels
    pipe = again.get_pipe(spec.factory)
    for setting, value in spec.roundtrip.items():  # the settings reach the component
        assert getattr(pipe, setting) == value


def test_uninitialized_roundtrip_stays_uninitialized(spec: ComponentSpec, model_dir: Path) -> None:
    given = build_pipeline(spec, model_dir, labels=spec.labels)
    again = build_pipeline(spec, model_dir)
    again.from_bytes(given.to_bytes())
    pipe = again.get_pipe(spec.factory)
    assert not pipe.is_initialized and pipe.labels == label_names(spec.labels)


# ---- overfitting, serialization --------------------------------------------------------------


def test_overfit_predicts_gold(spec: ComponentSpec, trained: Language) -> None:
    texts = [text for text, _ in spec.train]
    docs = list(trained.pipe(texts))
    assert [spans_of(d) for d in docs] == [sorted(gold) for _, gold in spec.train]
    for doc in docs:
        # the gold has no overlaps, so doc.ents holds every span
        assert sorted((e.start_char, e.end_char, e.label_) for e in doc.ents) == spans_of(doc)
        assert all(0.0 < score <= 1.0 for *_, score in scored_spans(doc))
    pipe = trained.get_pipe(spec.factory)
    for doc, pred in zip(docs, pipe.predict([trained.make_doc(t) for t in texts]), strict=True):
        assert set(pred.word_probs) == set(pipe.labels)
        assert all(len(probs) == len(doc) for probs in pred.word_probs.values())


def test_disk_roundtrip_identical(spec: ComponentSpec, trained: Language, model_dir: Path, tmp_path: Path) -> None:
    before = predictions(trained)
    trained.to_disk(tmp_path / "pipeline")
    assert predictions(spacy.load(tmp_path / "pipeline")) == before
    # the component alone, into a fresh pipeline of the same settings
    trained.get_pipe(spec.factory).to_disk(tmp_path / "component")
    fresh = build_pipeline(spec, model_dir, **spec.config)
    fresh.get_pipe(spec.factory).from_disk(tmp_path / "component")
    assert fresh.get_pipe(spec.factory).labels == trained.get_pipe(spec.factory).labels
    assert predictions(fresh) == before


def test_bytes_roundtrip_identical(spec: ComponentSpec, trained: Language, model_dir: Path) -> None:
    before = predictions(trained)
    assert predictions(clone(trained)) == before
    fresh = build_pipeline(spec, model_dir, **spec.config)
    fresh.get_pipe(spec.factory).from_bytes(trained.get_pipe(spec.factory).to_bytes())
    assert fresh.get_pipe(spec.factory).labels == trained.get_pipe(spec.factory).labels
    assert predictions(fresh) == before


def test_load_offline_in_fresh_process(trained: Language, tmp_path: Path) -> None:
    """Habit 5: a saved pipeline loads with no hub and no model directory (the
    trained pipeline's was deleted after initialize), in a process that never saw it."""
    texts = [text for text, _ in TRAIN]
    expected = [[list(s) for s in doc] for doc in predictions(trained, texts)]
    trained.to_disk(tmp_path / "pipeline")
    assert predict_in_fresh_process(tmp_path / "pipeline", texts, tmp_path) == expected


# ---- empty input, batching, label order --------------------------------------------------------


def test_empty_docs_and_batches(spec: ComponentSpec, trained: Language) -> None:
    pipe = trained.get_pipe(spec.factory)
    for text in ("", " ", "\n\n"):
        doc = trained(text)
        assert len(doc.spans["sc"]) == 0 and doc.spans["sc"].attrs["scores"] == [] and doc.ents == ()
    assert list(trained.pipe([])) == []
    assert pipe.predict([]) == []
    pipe.set_annotations([], [])
    docs = list(trained.pipe(["", "Cisplatin induced nephrotoxicity in two rats .", " "]))
    assert [spans_of(d) for d in docs] == [[], sorted(TRAIN[1][1]), []]
    assert pipe.score([]) is not None


def test_update_on_empty_input(spec: ComponentSpec, initialized: Language) -> None:
    pipe = initialized.get_pipe(spec.factory)
    nothing = {spec.factory: 0.0}
    assert pipe.update([]) == nothing
    assert pipe.update(make_examples(initialized, [("", [])])) == nothing
    assert pipe.update(make_examples(initialized, [(" ", [])])) == nothing
    # a doc with neither doc.spans["sc"] nor doc.ents set is not annotated: nothing to learn
    unannotated = Example(initialized.make_doc("Patients ."), initialized.make_doc("Patients ."))
    assert pipe.update([unannotated]) == nothing


def test_update_honours_spacys_drop(spec: ComponentSpec, initialized: Language) -> None:
    """`update(drop=...)` (spaCy passes [training] dropout) sets the dropout
    before the head for that update, not the model's config value."""
    pipe = initialized.get_pipe(spec.factory)
    head_dropout = pipe.model.shims[0]._model.dropout
    examples = make_examples(initialized, TRAIN)
    for drop in (0.7, 0.0):
        pipe.update(examples, drop=drop)
        assert pipe.model.attrs["dropout_rate"] == drop
        assert head_dropout.p == drop


def test_pipe_equals_call(trained: Language) -> None:
    """`nlp.pipe` in batches gives what `nlp(text)` gives, text by text."""
    texts = TEXTS + ["Rats with breast cancer received cisplatin daily ."]
    batched = [scored_spans(d) for d in trained.pipe(texts, batch_size=2)]
    called = [scored_spans(trained(t)) for t in texts]
    # padding to another length can move scores in the last float bits
    assert [[s[:3] for s in doc] for doc in batched] == [[s[:3] for s in doc] for doc in called]
    for b_doc, c_doc in zip(batched, called, strict=True):
        numpy.testing.assert_allclose([s[3] for s in b_doc], [s[3] for s in c_doc], rtol=0, atol=1e-5)


def test_label_order_changes_nothing(spec: ComponentSpec, trained: Language, request: pytest.FixtureRequest) -> None:
    """The same labels in another order give the same spans per label.

    Where labels are text the model reads, one (sentence, label) row at a time
    (bioner_prompted, bioner_llama), the trained pipeline is given its labels
    reversed: every label's spans and scores must stay exactly the same.
    Where the label order fixes the output layout (bioner_btl: O, then B-/I-
    per label, in label order), labels cannot be reordered after training;
    what must hold is that a pipeline trained with the same seed on the labels
    reversed learns the same spans per label: its tags follow its own order and
    decode to the right names. Only the training texts are compared, and no
    scores: the reversed layout gives each label other random output weights
    (the seed fixes the draws, not which label gets them), so the two models
    agree only where training made them.
    """
    labels = reordered(spec.labels)
    if spec.label_order_fixes_layout:
        other = trained_pipeline(spec, request, labels=labels)
        texts = [text for text, _ in spec.train]
        ours, theirs = predictions(trained, texts), predictions(other, texts)
        ours, theirs = [[s[:3] for s in doc] for doc in ours], [[s[:3] for s in doc] for doc in theirs]
    else:
        other = clone(trained)
        other.get_pipe(spec.factory).set_labels(labels)
        ours, theirs = predictions(trained), predictions(other)
    assert other.get_pipe(spec.factory).labels == label_names(labels) != trained.get_pipe(spec.factory).labels
    assert any(ours)
    for label in label_names(labels):
        assert [[s for s in doc if s[2] == label] for doc in ours] == [[s for s in doc if s[2] == label]
                                                                       for doc in theirs]
