"""What the component test sets share: the training sentences, gold examples,
span read-out, overfitting and cloning, and one `ComponentSpec` per component:
how the tests build, train and configure it. test_contract.py runs the
component contract over the specs; each component's own module builds its
pipelines from its spec and reuses the pipeline trained once per session."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import spacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

import spacy_bioner  # noqa: F401  (registers the components)
from spacy_bioner.pipeline import btl, llama, prompted

Gold = list[tuple[int, int, str]]
# (text, [(start char, end char, label)])
TRAIN: list[tuple[str, Gold]] = [
    ("Patients with breast cancer received tamoxifen daily .", [(14, 27, "Disease"), (37, 46, "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [(0, 9, "Chemical"), (18, 32, "Disease")]),
    ("No adverse events were seen .", []),
]
# longer than max_length = 16: many windows
LONG_TEXT = (
    "Tamoxifen was given to women treated for breast cancer after surgery and both groups showed "
    "similar results over time while every patient had follow up visits at month one three six "
    "and twelve and two rats had lung carcinoma"
)
Labels = dict[str, str] | list[str]


@dataclass(frozen=True)
class ComponentSpec:
    """How the tests build, train and configure one component.

    factory (str): The factory name (also the component's name in the test pipelines).
    cls (type): The component class.
    default_config (str): The DEFAULT_CONFIG_STR of the component's module.
    model_fixture (str): The tiny-model fixture of tests/conftest.py it runs on.
    model_key (str): The [model] setting that names the model directory.
    labels (Labels): The component's `labels` setting in the contract tests;
        its order is the label order.
    load_error (str): What initialize() raises when the model directory is missing (a regex).
    label_order_fixes_layout (bool): Whether the label order fixes the output
        layout (then labels cannot be reordered after training).
    model (dict): [model] settings of every test pipeline (fast and deterministic).
    config (dict): Component settings of the trained pipeline; a pipeline
        that loads its bytes needs them too (they are config, not saved state).
    fit (dict): Keyword arguments of `train_until_gold`.
    after_training (Callable | None): Run on (nlp, examples) once the gold is fitted.
    roundtrip (dict): Non-default component settings (each a public attribute
        of the component) for the config round trip.
    roundtrip_model (dict): Non-default [model] settings for it.
    train (list): The training data.
    variant (str): Tells apart specs of one factory (e.g. another architecture).
    """

    factory: str
    cls: type
    default_config: str
    model_fixture: str
    model_key: str
    labels: Labels
    load_error: str
    label_order_fixes_layout: bool = False
    model: dict[str, Any] = field(default_factory=lambda: {"dropout": 0.0})
    config: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    after_training: Callable[[Language, list[Example]], Any] | None = None
    roundtrip: dict[str, Any] = field(default_factory=dict)
    roundtrip_model: dict[str, Any] = field(default_factory=dict)
    train: list[tuple[str, Gold]] = field(default_factory=lambda: list(TRAIN))
    variant: str = ""

    @property
    def id(self) -> str:
        """RETURNS (str): The spec's name in test ids and caches: the factory, and its variant."""
        return f"{self.factory}-{self.variant}" if self.variant else self.factory

    def __repr__(self) -> str:
        return self.id


def _fit_knn(nlp: Language, examples: list[Example]) -> int:
    return nlp.get_pipe("bioner_btl").fit_knn(lambda: examples)


PROMPTED = ComponentSpec(
    factory="bioner_prompted",
    cls=prompted.PromptedTagger,
    default_config=prompted.DEFAULT_CONFIG_STR,
    model_fixture="tiny_bert_dir",
    model_key="encoder",
    labels={"Disease": "disease", "Chemical": "chemical"},
    load_error=r"\[E313\] Encoder .* could not be loaded",
    fit={"lr": 5e-3, "max_steps": 300, "every": 10},
    roundtrip={"threshold": 0.4, "negative_rate": 0.2},
    roundtrip_model={"tag_scheme": "bio", "max_length": 64},
)
# bioner_prompted with the bi-encoder layer: the same pipe, another [model]
LABEL_MATCHER = replace(
    PROMPTED,
    model={"@architectures": "spacy_bioner.LabelMatcher.v1", "dropout": 0.0, "dim": 32},
    roundtrip_model={"tag_scheme": "bio", "max_length": 64, "label_pooling": "cls", "dim": 16},
    variant="label_matcher",
)
# the late interaction: each subword attends over the label's token vectors
LABEL_MATCHER_TOKENS = replace(
    LABEL_MATCHER,
    model={**LABEL_MATCHER.model, "label_interaction": "tokens"},
    roundtrip_model={"tag_scheme": "bio", "label_interaction": "tokens", "dim": 16},
    variant="label_matcher_tokens",
)
BTL = ComponentSpec(
    factory="bioner_btl",
    cls=btl.BTLTagger,
    default_config=btl.DEFAULT_CONFIG_STR,
    model_fixture="tiny_bert_dir",
    model_key="encoder",
    labels=["Chemical", "Disease"],
    load_error=r"\[E313\] Encoder .* could not be loaded",
    label_order_fixes_layout=True,
    # one neighbour: the k-NN of the overfitted words reproduces the gold
    config={"knn_k": 1},
    fit={"lr": 5e-3, "max_steps": 200, "every": 5},
    after_training=_fit_knn,
    roundtrip={"loss": "atl", "knn_k": 5, "knn_metric": "cosine"},
    roundtrip_model={"max_length": 64},
)
LLAMA = ComponentSpec(
    factory="bioner_llama",
    cls=llama.LlamaLabeler,
    default_config=llama.DEFAULT_CONFIG_STR,
    model_fixture="tiny_llama_dir",
    model_key="base_model",
    labels=["Chemical", "Disease"],
    load_error=r"\[E702\] Base model .* could not be loaded",
    # fp32 and every weight trained: fast; QLoRA has its own tests in test_llama.py
    model={"dropout": 0.0, "quantize_4bit": False, "lora": False},
    # DBR stays on (its default): the trained pipeline is trained with pseudo-sentences
    config={"dataset": "sample"},
    fit={"lr": 1e-3, "max_steps": 200, "every": 5},
    roundtrip={"dataset": "NCBI", "dbr": "random"},
    roundtrip_model={"max_length": 64, "bidirectional": False},
)


def build_pipeline(spec: ComponentSpec, model_dir: Path | str, *, model: dict[str, Any] | None = None,
                   **config: Any) -> Language:
    """A blank pipeline with the component on a model directory (read at initialize only).

    spec (ComponentSpec): The component.
    model_dir (Path | str): The encoder or base-model directory.
    model (dict | None): [model] settings on top of the spec's.
    config (Any): Component settings.
    RETURNS (Language): The pipeline.
    """
    nlp = spacy.blank("en")
    settings = {spec.model_key: str(model_dir), **spec.model, **(model or {})}
    nlp.add_pipe(spec.factory, config={"model": settings, **config})
    return nlp


def trained_pipeline(spec: ComponentSpec, request: pytest.FixtureRequest, *, labels: Labels | None = None) -> Language:
    """The component overfitted on `spec.train`, trained once per session and
    shared by every test module: copy it (`clone`) before changing it.

    spec (ComponentSpec): The component.
    request (pytest.FixtureRequest): The asking fixture's request (for the session fixtures).
    labels (Labels | None): Other labels (e.g. reordered) than `spec.labels`.
    RETURNS (Language): The trained pipeline.
    """
    labels = spec.labels if labels is None else labels
    cache = request.getfixturevalue("session_cache")
    key = ("trained", spec.id, json.dumps(labels))
    if key not in cache:
        source = Path(request.getfixturevalue(spec.model_fixture))
        tmp = request.getfixturevalue("tmp_path_factory").mktemp(f"{spec.id}_model")
        cache[key] = _overfit(spec, Path(shutil.copytree(source, tmp / "model")), labels)
    return cache[key]


def _overfit(spec: ComponentSpec, model_dir: Path, labels: Labels) -> Language:
    """The model directory is a private copy, deleted right after initialize:
    every test of the trained pipeline shows that it no longer needs it."""
    fix_random_seed(0)
    nlp = build_pipeline(spec, model_dir, labels=labels, **spec.config)
    examples = make_examples(nlp, spec.train)
    nlp.initialize(lambda: examples)
    shutil.rmtree(model_dir)
    train_until_gold(nlp, examples, **spec.fit)
    if spec.after_training is not None:
        spec.after_training(nlp, examples)
    return nlp


def label_names(labels: Labels) -> tuple[str, ...]:
    """labels (Labels): A `labels` setting. RETURNS (tuple[str, ...]): Its labels, in order."""
    return tuple(labels)


def reordered(labels: Labels) -> Labels:
    """labels (Labels): A `labels` setting. RETURNS (Labels): The same labels, reversed."""
    if isinstance(labels, dict):
        return dict(reversed(list(labels.items())))
    return list(reversed(labels))


def long_gold() -> Gold:
    """The gold spans of LONG_TEXT, the last one in its last window."""
    out = []
    for phrase, label in (("Tamoxifen", "Chemical"), ("breast cancer", "Disease"), ("lung carcinoma", "Disease")):
        start = LONG_TEXT.index(phrase)
        out.append((start, start + len(phrase), label))
    return out


def make_examples(nlp: Language, data: Iterable[tuple[str, Gold]], doc_id: str | None = "d1") -> list[Example]:
    """Examples with the gold in doc.spans["sc"] and doc.ents, from one source document."""
    examples = []
    for text, spans in data:
        ref = nlp.make_doc(text)
        group = [ref.char_span(s, e, label=label) for s, e, label in spans]
        assert all(span is not None for span in group)
        ref.spans["sc"] = group
        ref.set_ents(spacy.util.filter_spans(group), default="outside")
        if doc_id is not None:
            ref.user_data["bioner_source"] = {"doc_id": doc_id}
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def spans_of(doc: Doc, key: str = "sc") -> Gold:
    """doc (Doc): An annotated doc. RETURNS (Gold): Its spans in character offsets, sorted."""
    return sorted((s.start_char, s.end_char, s.label_) for s in doc.spans[key])


def scored_spans(doc: Doc, key: str = "sc") -> list[tuple[int, int, str, float]]:
    """doc (Doc): An annotated doc. RETURNS (list): (start token, end token, label, score) per span."""
    group = doc.spans[key]
    return [(s.start, s.end, s.label_, score) for s, score in zip(group, group.attrs["scores"], strict=True)]


def train_until_gold(
    nlp: Language, examples: list[Example], *, lr: float = 5e-3, max_steps: int = 300, every: int = 10
) -> int:
    """Update until the predictions equal the gold spans; return the steps taken."""
    optimizer = Adam(lr)
    texts = [eg.reference.text for eg in examples]
    gold = [spans_of(eg.reference) for eg in examples]
    for step in range(1, max_steps + 1):
        nlp.update(examples, sgd=optimizer)
        if step % every == 0 and [spans_of(d) for d in nlp.pipe(texts)] == gold:
            return step
    raise AssertionError(f"no fit after {max_steps} steps: {[spans_of(d) for d in nlp.pipe(texts)]} != {gold}")


def clone(nlp: Language) -> Language:
    """nlp (Language): A pipeline. RETURNS (Language): A copy, through its config and bytes."""
    copy = spacy.util.load_model_from_config(nlp.config, auto_fill=False)
    return copy.from_bytes(nlp.to_bytes())


_LOAD_AND_PREDICT = """\
import json, sys, spacy, spacy_bioner
nlp = spacy.load(sys.argv[1])
docs = list(nlp.pipe(json.loads(sys.argv[2])))
groups = [doc.spans["sc"] for doc in docs]
print(json.dumps([[[s.start, s.end, s.label_, x] for s, x in zip(g, g.attrs["scores"])] for g in groups]))
"""


def predict_in_fresh_process(pipeline_dir: Path, texts: list[str], home: Path) -> list[list[list[Any]]]:
    """Load a saved pipeline in a new Python process with the hub switched off
    and an empty HF home, and predict: what a user's `spacy.load` sees.

    pipeline_dir (Path): The saved pipeline.
    texts (list[str]): The texts.
    home (Path): A directory for the empty HF home.
    RETURNS (list): Per text, [start, end, label, score] per span of doc.spans["sc"].
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "HF_HOME": str(home / "no-hf-home")}
    out = subprocess.run(
        [sys.executable, "-c", _LOAD_AND_PREDICT, str(pipeline_dir), json.dumps(texts)],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
