"""What is specific to bioner_llama (instructions, datasets, DBR, QLoRA), with
a tiny random LLaMA (hidden 64). The component contract (add_pipe,
uninitialised use, config and serialization round trips, empty input, pipe
vs call, label order) is in test_contract.py."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy
import pytest
import spacy
import srsly
import torch
from pipe_helpers import (
    LLAMA,
    LONG_TEXT,
    TRAIN,
    build_pipeline,
    clone,
    long_gold,
    make_examples,
    predict_in_fresh_process,
    scored_spans,
    spans_of,
    trained_pipeline,
)
from pipe_helpers import train_until_gold as fit_gold
from safetensors.torch import load as safetensors_load
from spacy.language import Language
from spacy.tokens import DocBin
from spacy.training import Example
from thinc.api import Adam, fix_random_seed

from spacy_bioner.corpora.multi_dataset import set_dataset_info
from spacy_bioner.pipeline.llama import DEFAULT_INSTRUCTION, LlamaLabeler, RowKey

ROOT = Path(__file__).resolve().parents[2]
QLORA = {"quantize_4bit": True, "lora": True, "lora_dropout": 0.0}
# fp32, every weight trained (LLAMA.model), unless a test says otherwise
make_nlp = partial(build_pipeline, LLAMA)


def train_until_gold(nlp: Language, examples: list[Example], lr: float = 1e-3) -> int:
    return fit_gold(nlp, examples, lr=lr, max_steps=200, every=5)


def shim_data(model_bytes: bytes) -> dict[str, Any]:
    """What LlamaLabelerShim.to_bytes stored, from the bytes of the thinc layer."""
    return srsly.msgpack_loads(srsly.msgpack_loads(model_bytes)["shims"][0][0])


def pipe_of(nlp: Language) -> LlamaLabeler:
    pipe = nlp.get_pipe("bioner_llama")
    assert isinstance(pipe, LlamaLabeler)
    return pipe


def shim_of(nlp: Language) -> Any:
    """The layer's shim (thinc's Model.shims), holding the torch module and its settings."""
    shims = pipe_of(nlp).model.shims
    assert len(shims) == 1
    return shims[0]


@pytest.fixture(scope="module")
def trained(request: pytest.FixtureRequest) -> Language:
    """fp32, every weight trained, DBR on, overfit on TRAIN, once per session
    (shared with test_contract.py)."""
    return trained_pipeline(LLAMA, request)


@pytest.fixture(scope="module")
def trained_qlora(tiny_llama_dir: Path) -> Language:
    """4-bit NF4 base, LoRA adapters and head trained (bitsandbytes on the CPU)."""
    fix_random_seed(0)
    nlp = make_nlp(tiny_llama_dir, model=QLORA, dbr="off")
    examples = make_examples(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    train_until_gold(nlp, examples, lr=5e-3)
    return nlp


def test_default_settings_are_the_papers() -> None:
    nlp = spacy.blank("en")
    nlp.add_pipe("bioner_llama")
    cfg = nlp.config["components"]["bioner_llama"]
    model = cfg["model"]
    assert model["@architectures"] == "spacy_bioner.LlamaLabeler.v1"
    assert model["base_model"] == "smollm2-135m-instruct" and model["bidirectional"] is True
    assert (model["quantize_4bit"], model["lora"], model["lora_r"], model["lora_alpha"]) == (True, True, 16, 32)
    assert model["lora_target_modules"] == "all-linear" and model["base_weights"] == "save"
    assert cfg["instruction"] == DEFAULT_INSTRUCTION and cfg["dataset"] is None
    assert (cfg["dbr"], cfg["dbr_retriever"], cfg["dbr_same_type"], cfg["dbr_other_type"]) == ("retrieved", "tfidf", 10, 5)


def test_invalid_settings_raise(tiny_llama_dir: Path) -> None:
    for config, match in (
        ({"instruction": "Tag it: "}, r"\[E708\] .* no \{type\} field"),
        ({"instruction": "{type} {corpus}"}, r"\[E708\] .* unknown field"),
        ({"dataset": ""}, r"\[E321\] Invalid dataset"),
        ({"dbr": "always"}, r"\[E321\] Invalid dbr "),
        ({"dbr_pooling": "max"}, r"\[E321\] Invalid dbr_pooling"),
        ({"dbr_threshold": 2.0}, r"\[E321\] Invalid dbr_threshold"),
        ({"dbr_top_k": 0}, r"\[E321\] Invalid dbr_top_k"),
        ({"dbr_same_type": -1}, r"\[E321\] Invalid dbr_same_type"),
        ({"labels": {"Disease": ""}}, r"\[E304\] Invalid description"),
        ({"model": {"quantize_4bit": True, "lora": False}}, r"\[E701\] .* 4-bit weights cannot be trained"),
        ({"model": {"base_weights": "cloud"}}, r"\[E701\] Invalid base_weights"),
    ):
        with pytest.raises(ValueError, match=match):
            make_nlp(tiny_llama_dir, **config)


def test_project_config_builds() -> None:
    config = spacy.util.load_config(ROOT / "configs" / "llama.cfg")
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    pipe = pipe_of(nlp)
    settings = shim_of(nlp).settings
    assert settings.quantize_4bit and settings.lora and settings.bidirectional and pipe.dbr == "retrieved"
    assert settings.encoder == "assets/decoders/smollm2-135m-instruct"
    assert "meta-llama/Llama-2-7b-hf" in (ROOT / "configs" / "llama.cfg").read_text()


# ---- labels, instructions, initialize ----------------------------------------------------


def test_labels_and_instructions(tiny_llama_dir: Path) -> None:
    nlp = make_nlp(tiny_llama_dir, dataset="NCBI-disease", dbr="off")
    examples = make_examples(nlp, TRAIN)
    pipe = pipe_of(nlp)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlp.initialize(lambda: examples)
    assert pipe.labels == ("Chemical", "Disease") and pipe.type_names == {"Chemical": "Chemical", "Disease": "Disease"}
    pipe.add_label("Disease", "disease")
    assert pipe.instruction_for("Disease", "NCBI-disease") == (
        "If any disease entity is mentioned in the NCBI-disease input, extract it. ##input: "
    )
    queries = pipe._queries([nlp.make_doc("Tamoxifen .")])
    assert [q.description for q in queries] == [
        "If any Chemical entity is mentioned in the NCBI-disease input, extract it. ##input: ",
        "If any disease entity is mentioned in the NCBI-disease input, extract it. ##input: ",
    ]
    assert [q.key for q in queries] == [RowKey(0, 0, 2, "Chemical"), RowKey(0, 0, 2, "Disease")]
    # labels given to initialize ([initialize.components.NAME]) win; a label can be added after training
    given = make_nlp(tiny_llama_dir, dbr="off")
    pipe_of(given).initialize(lambda: examples, labels={"Disease": "disease"})
    assert pipe_of(given).labels == ("Disease",)
    pipe_of(given).add_label("Species")
    assert pipe_of(given).instruction_for("Species", None) == (
        "If any Species entity is mentioned in the input, extract it. ##input: "
    )


def test_dataset_of_a_doc_sets_name_and_labels(tiny_llama_dir: Path) -> None:
    nlp = make_nlp(tiny_llama_dir, labels=["Chemical", "Disease"], dataset="default", dbr="off")
    pipe = pipe_of(nlp)
    doc = nlp.make_doc("Tamoxifen .")
    set_dataset_info(doc, "BC5CDR", ["Chemical"])
    plain = nlp.make_doc("Tamoxifen .")
    queries = pipe._queries([doc, plain])
    assert [(q.key.doc, q.key.label, q.description) for q in queries] == [
        (0, "Chemical", "If any Chemical entity is mentioned in the BC5CDR input, extract it. ##input: "),
        (1, "Chemical", "If any Chemical entity is mentioned in the default input, extract it. ##input: "),
        (1, "Disease", "If any Disease entity is mentioned in the default input, extract it. ##input: "),
    ]
    adapt = nlp.make_doc("Tamoxifen .")
    set_dataset_info(adapt, None, None)  # VANER_adapt: no dataset, every label
    assert {q.description for q in pipe._queries([adapt])} == {
        "If any Chemical entity is mentioned in the input, extract it. ##input: ",
        "If any Disease entity is mentioned in the input, extract it. ##input: ",
    }


# ---- training rows, loss, DBR --------------------------------------------------------------


def test_training_rows_with_dbr(tiny_llama_dir: Path, tmp_path: Path) -> None:
    kb = tmp_path / "kb.tsv"
    kb.write_text("lung carcinoma\tDisease\ncisplatin\tChemical\n", encoding="utf8")
    nlp = make_nlp(tiny_llama_dir, dataset="sample", dbr_same_type=2, dbr_other_type=1)
    examples = make_examples(nlp, TRAIN)
    pipe = pipe_of(nlp)
    pipe.initialize(lambda: examples, kb_path=kb)
    names = set(zip(pipe.knowledge_base.names, pipe.knowledge_base.types, strict=True))
    assert ("breast cancer", "Disease") in names and ("lung carcinoma", "Disease") in names
    assert ("tamoxifen", "Chemical") in names and len(names) == 6
    kept, queries = pipe._training_queries(examples)
    assert len(kept) == 3
    sentences = [q for q in queries if q.key.tags is None]
    pseudo = [q for q in queries if q.key.tags is not None]
    assert len(sentences) == 3 * 2 and pseudo
    assert all("the sample input" in q.description for q in sentences)
    for q in pseudo:
        assert q.description == pipe.instruction_for(q.key.label, None) and "the input" in q.description
        assert len(q.key.tags) == len(q.words) and q.key.doc == -1
        assert q.key.tags.count(1) <= 2  # at most dbr_same_type names of the type
    # the first sentence retrieves its own names: breast cancer (Disease) and tamoxifen (Chemical)
    first = [q for q in pseudo if q.words and "cancer" in q.words and q.key.label == "Disease"]
    assert first and all(tag in (0, 1, 2) for tag in first[0].key.tags)
    # one update runs on sentence and pseudo rows
    losses = nlp.update(examples)
    assert losses["bioner_llama"] > 0
    # ablation: random names keep the numbers
    random_nlp = make_nlp(tiny_llama_dir, dbr="random")
    pipe_of(random_nlp).initialize(lambda: examples)
    assert any(q.key.tags is not None for q in pipe_of(random_nlp)._training_queries(examples)[1])
    off = make_nlp(tiny_llama_dir, dbr="off")
    pipe_of(off).initialize(lambda: examples, kb_path=kb)
    assert pipe_of(off).knowledge_base is None
    assert all(q.key.tags is None for q in pipe_of(off)._training_queries(examples)[1])


def test_loss_trains_first_subwords_only(tiny_llama_dir: Path) -> None:
    fix_random_seed(0)
    nlp = make_nlp(tiny_llama_dir, dbr="off")
    # "xyzzy" takes several tokens of the tiny vocabulary
    examples = make_examples(nlp, [("Patients with xyzzy cancer .", [(14, 26, "Disease")])])
    nlp.initialize(lambda: examples)
    pipe = pipe_of(nlp)
    _, queries = pipe._training_queries(examples)
    scores = pipe.model.predict(queries)
    loss, grads = pipe.get_loss(examples, scores)
    batch = scores.batch
    chunk, grad = batch.chunks[0], grads[0]
    trained_pos = numpy.abs(grad).sum(-1) > 0
    first = numpy.zeros_like(trained_pos)
    sub = chunk.subword >= 0
    first[sub] = batch.subword_first[chunk.subword[sub]]
    assert loss > 0 and numpy.array_equal(trained_pos, first) and not numpy.array_equal(first, sub)
    # the instruction, BOS and padding get no gradient
    assert not trained_pos[chunk.label_pos >= 0].any() and not trained_pos[:, 0].any()
    assert pipe._token_tags(examples[0])["Disease"].tolist() == [0, 0, 1, 2, 0]


def test_update_without_knowledge_base_warns(trained: Language) -> None:
    nlp = clone(trained)  # loaded pipelines have no knowledge base
    pipe = pipe_of(nlp)
    assert pipe.dbr == "retrieved" and pipe.knowledge_base is None
    with pytest.warns(UserWarning, match=r"\[W700\] .* no knowledge base"):
        nlp.update(make_examples(nlp, TRAIN[:1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nlp.update(make_examples(nlp, TRAIN[:1]))  # once per component


# ---- overfitting and serialization ----------------------------------------------------------


def test_span_scores_are_inside_probabilities(trained: Language) -> None:
    # no threshold: a span's words have P(B) + P(I) above P(O)
    docs = list(trained.pipe([text for text, _ in TRAIN]))
    assert all(0.5 < s <= 1.0 for doc in docs for *_, s in scored_spans(doc))
    pred = pipe_of(trained).predict([trained.make_doc(TRAIN[1][0])])[0]
    assert pred.word_probs["Chemical"][0] > 0.5


def test_saved_data(trained: Language, tmp_path: Path) -> None:
    """The base model directory of `trained` is gone: loading reads the pipeline only
    (a fresh process with HF_HUB_OFFLINE=1: test_contract.py and
    test_qlora_save_load_offline_fresh_process)."""
    trained.to_disk(tmp_path / "pipeline")
    folder = tmp_path / "pipeline" / "bioner_llama"
    assert srsly.read_json(folder / "cfg") == {"labels": {"Chemical": "Chemical", "Disease": "Disease"}}
    saved = shim_data((folder / "model").read_bytes())
    # weights are safetensors: the head in "adapters", the trained decoder in "base"
    assert "classifier.weight" in safetensors_load(saved["adapters"])
    assert "embed_tokens.weight" in safetensors_load(saved["base"])


def test_loading_into_other_structure_raises(trained: Language, tiny_llama_dir: Path) -> None:
    other = make_nlp(tiny_llama_dir, model={"lora": True})
    with pytest.raises(ValueError, match=r"\[E706\] .* lora = False"):
        pipe_of(other).from_bytes(pipe_of(trained).to_bytes())


def test_causal_ablation_predicts(trained: Language) -> None:
    copy = clone(trained)
    module = shim_of(copy).module
    module.bidirectional = False
    causal = [scored_spans(d) for d in copy.pipe([text for text, _ in TRAIN])]
    assert causal != [scored_spans(d) for d in trained.pipe([text for text, _ in TRAIN])]


# ---- QLoRA: 4-bit base, LoRA adapters -------------------------------------------------------------


def test_qlora_trains_adapters_and_head_only(trained_qlora: Language) -> None:
    module = shim_of(trained_qlora).module
    trainable = [name for name, p in module.named_parameters() if p.requires_grad]
    assert trainable and all(".lora_" in name or name.startswith("classifier.") for name in trainable)
    assert "classifier.weight" in trainable
    assert any(type(m).__name__ == "Linear4bit" for m in module.decoder.modules())
    docs = list(trained_qlora.pipe([text for text, _ in TRAIN]))
    assert [spans_of(d) for d in docs] == [sorted(g) for _, g in TRAIN]


def test_qlora_save_load_offline_fresh_process(trained_qlora: Language, tmp_path: Path) -> None:
    texts = [text for text, _ in TRAIN]
    expected = [[list(s) for s in scored_spans(d)] for d in trained_qlora.pipe(texts)]
    trained_qlora.to_disk(tmp_path / "pipeline")
    saved = shim_data((tmp_path / "pipeline" / "bioner_llama" / "model").read_bytes())
    assert saved["structure"]["quantize_4bit"] is True and "base" in saved
    # the base is stored 4-bit: packed uint8 weights and their scales; the adapters apart
    base = safetensors_load(saved["base"])
    assert base["layers.0.mlp.up_proj.weight"].dtype == torch.uint8
    assert "layers.0.mlp.up_proj.weight.quant_state.bitsandbytes__nf4" in base
    assert not any(".lora_" in key for key in base)
    assert any(".lora_A." in key for key in safetensors_load(saved["adapters"]))
    assert predict_in_fresh_process(tmp_path / "pipeline", texts, tmp_path) == expected


def test_lora_without_4bit_roundtrip(tiny_llama_dir: Path) -> None:
    fix_random_seed(0)
    nlp = make_nlp(tiny_llama_dir, model={"quantize_4bit": False, "lora": True, "lora_r": 4, "lora_alpha": 8,
                                          "lora_target_modules": ["q_proj", "v_proj"]}, dbr="off")
    examples = make_examples(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    module = shim_of(nlp).module
    trainable = {name for name, p in module.named_parameters() if p.requires_grad}
    assert trainable and all(("q_proj.lora_" in n or "v_proj.lora_" in n or n.startswith("classifier.")) for n in trainable)
    frozen_before = {n: p.detach().clone() for n, p in module.named_parameters() if not p.requires_grad}
    for _ in range(3):
        nlp.update(examples, sgd=Adam(5e-3))
    assert all(torch.equal(p, frozen_before[n]) for n, p in module.named_parameters() if not p.requires_grad)
    texts = [text for text, _ in TRAIN]
    assert [scored_spans(d) for d in clone(nlp).pipe(texts)] == [scored_spans(d) for d in nlp.pipe(texts)]


def test_base_weights_reference_roundtrip(
    tiny_llama_dir: Path, tmp_path: Path, make_tiny_llama: Callable[..., Path]
) -> None:
    """Only the adapters, head, config and tokenizer are saved; loading reads the
    referenced local directory again (no hub: it is a path)."""
    base = shutil.copytree(tiny_llama_dir, tmp_path / "base")
    fix_random_seed(0)
    nlp = make_nlp(base, model={**QLORA, "base_weights": "reference"}, dbr="off")
    examples = make_examples(nlp, TRAIN)
    nlp.initialize(lambda: examples)
    for _ in range(3):
        nlp.update(examples, sgd=Adam(5e-3))
    texts = [text for text, _ in TRAIN]
    before = [scored_spans(d) for d in nlp.pipe(texts)]
    data = nlp.to_bytes()
    model_bytes = srsly.msgpack_loads(srsly.msgpack_loads(data)["bioner_llama"])["model"]
    saved = shim_data(model_bytes)
    assert "base" not in saved and saved["structure"]["base_weights"] == "reference"
    # adapters, head, config and tokenizer only
    assert len(model_bytes) < 200_000 and set(safetensors_load(saved["adapters"])) >= {"classifier.weight"}
    copy = spacy.util.load_model_from_config(nlp.config, auto_fill=False).from_bytes(data)
    assert [scored_spans(d) for d in copy.pipe(texts)] == before
    # the referenced model must still be the one trained on
    shutil.rmtree(base)
    make_tiny_llama(base, hidden=64, layers=3)
    with pytest.raises(ValueError, match=r"\[E707\] .*num_hidden_layers 3, not 2"):
        spacy.util.load_model_from_config(nlp.config, auto_fill=False).from_bytes(data)


# ---- windowing, multi-dataset training, spacy train ------------------------------------------------


def test_windowing_long_doc_drops_no_token(tiny_llama_dir: Path) -> None:
    gold = long_gold()
    fix_random_seed(0)
    nlp = make_nlp(tiny_llama_dir, model={"max_length": 40, "stride": 4}, dbr="off", instruction="Tag {type}: ")
    examples = make_examples(nlp, [(LONG_TEXT, gold)])
    nlp.initialize(lambda: examples)
    pipe = pipe_of(nlp)
    doc = nlp.make_doc(LONG_TEXT)
    scores = pipe.model.predict(pipe._queries([doc]))
    assert scores.batch.n_rows >= 4 and max(c.input_ids.shape[1] for c in scores.batch.chunks) <= 40
    train_until_gold(nlp, examples, lr=2e-3)
    pred = pipe.predict([nlp.make_doc(LONG_TEXT)])[0]
    assert all(numpy.isfinite(pred.word_probs[label]).all() for label in pipe.labels)
    doc = nlp(LONG_TEXT)
    assert spans_of(doc) == sorted(gold) and doc.spans["sc"][-1].text == "lung carcinoma"


def test_multi_dataset_training(tiny_llama_dir: Path, tmp_path: Path) -> None:
    nlp = make_nlp(tiny_llama_dir, labels=["Chemical", "Disease"], dbr="off")
    examples = make_examples(nlp, TRAIN)
    set_dataset_info(examples[0].reference, "NCBI-disease", ["Disease"])
    set_dataset_info(examples[1].reference, "BC5CDR", ["Chemical", "Disease"])
    nlp.initialize(lambda: examples)
    _, queries = pipe_of(nlp)._training_queries(examples)
    asked = [(q.key.doc, q.key.label, "NCBI" in q.description, "BC5CDR" in q.description) for q in queries]
    assert asked == [
        (0, "Disease", True, False),
        (1, "Chemical", False, True), (1, "Disease", False, True),
        (2, "Chemical", False, False), (2, "Disease", False, False),
    ]


def test_spacy_train_with_project_config(tiny_llama_dir: Path, tmp_path: Path) -> None:
    nlp = spacy.blank("en")
    for split, data in (("train", TRAIN), ("dev", TRAIN[:2])):
        DocBin(docs=[eg.reference for eg in make_examples(nlp, data)], store_user_data=True).to_disk(
            tmp_path / f"{split}.spacy")
    kb = tmp_path / "kb.tsv"
    kb.write_text("lung carcinoma\tDisease\n", encoding="utf8")
    code = tmp_path / "code.py"
    code.write_text("import spacy_bioner  # noqa: F401\n", encoding="utf8")
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "spacy", "train", str(ROOT / "configs" / "llama.cfg"), "--output", str(out),
        "--code", str(code), "--paths.train", str(tmp_path / "train.spacy"), "--paths.dev", str(tmp_path / "dev.spacy"),
        "--paths.base_model", str(tiny_llama_dir), "--paths.kb", str(kb), "--training.max_steps", "2",
        "--training.eval_frequency", "1",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    loaded = spacy.load(out / "model-best")
    assert pipe_of(loaded).labels == ("Chemical", "Disease")
    assert "scores" in loaded("Cisplatin induced nephrotoxicity in two rats .").spans["sc"].attrs
