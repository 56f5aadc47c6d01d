"""spacy_bioner.LabelMatcher.v1 with a tiny BERT: the row layout (sentences
once, labels once, no description subwords), one encoder pass per distinct
sentence whatever the labels, the prediction cache of label vectors and its
invalidation, label invariance of spans and scores, overfitting, the
separate label encoder and its offline round trip, and the errors."""
from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy
import pytest
import spacy
import torch
from spacy.language import Language
from spacy.training import Example
from thinc.api import SGD, Adam, fix_random_seed

from spacy_bioner.models.label_matcher import LabelMatcherShim, build_label_matcher, encode_matches
from spacy_bioner.models.queries import PromptQuery
from spacy_bioner.models.tagger_layer import get_shim
from spacy_bioner.models.targets import chunk_targets
from spacy_bioner.models.windows import window_starts
from spacy_bioner.pipeline.prompted import PromptedTagger

ROOT = Path(__file__).resolve().parents[2]
ARCH = "spacy_bioner.LabelMatcher.v1"
WORDS = ("patients", "with", "breast", "cancer", ".")
LONG = ("tamoxifen", "was", "given", "to", "women", "treated", "for", "breast", "cancer", "after", "surgery")
TRAIN = [
    ("Patients with breast cancer received tamoxifen daily .", [(14, 27, "Disease"), (37, 46, "Chemical")]),
    ("Cisplatin induced nephrotoxicity in two rats .", [(0, 9, "Chemical"), (18, 32, "Disease")]),
    ("No adverse events were seen .", []),
]
LABELS = {"Disease": "disease", "Chemical": "chemical"}


def queries_of(sentences: list[tuple[str, ...]], labels: list[str], group: bool = True) -> list[PromptQuery]:
    return [PromptQuery(words, label, label if group else "", (i, label))
            for i, words in enumerate(sentences) for label in labels]


def layer(model_dir: Path, **settings: Any) -> Any:
    out = build_label_matcher(str(model_dir), dim=16, dropout=0.0, **settings)
    out.initialize()
    return out


def count_calls(module: torch.nn.Module, method: str) -> list[int]:
    """Wrap module.method; the list gets the number of rows of each call."""
    calls: list[int] = []
    original = getattr(module, method)

    def wrapped(input_ids: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        calls.append(int(input_ids.shape[0]))
        return original(input_ids, *args, **kwargs)

    setattr(module, method, wrapped)
    return calls


# ---- rows ---------------------------------------------------------------------------------------


def test_rows_encode_each_sentence_once(tiny_bert_dir: Path) -> None:
    shim = get_shim(layer(tiny_bert_dir), LabelMatcherShim)
    sentences = [WORDS, LONG, WORDS]
    queries = queries_of(sentences, ["disease", "chemical", "gene"])
    m = encode_matches(shim.tokenizer, shim.tokenizer, queries, max_length=8, label_max_length=16, stride=2,
                       batch_size=4)
    assert m.label_texts == ["disease", "chemical", "gene"]
    # two distinct sentences, the long one windowed; every query has its own rows
    n_windows = m.text.n_rows
    assert len(m.text.queries) == 2 and n_windows > 2
    assert m.batch.n_rows == 3 * (n_windows + 1)
    flat_ids = numpy.concatenate([c.input_ids[c.attention_mask == 1] for c in m.text.chunks] + [[-1]])
    for chunk, (positions, label) in zip(m.batch.chunks, m.gathers, strict=True):
        assert (chunk.label_pos == -1).all()  # single-segment rows: no description subwords
        # each position reads its own token's vector; padding reads the zero row
        numpy.testing.assert_array_equal(flat_ids[positions], numpy.where(chunk.attention_mask == 1,
                                                                          chunk.input_ids, -1))
        assert [m.label_texts[i] for i in label] == [queries[q].description for q in chunk.query]
        assert len({queries[q].group for q in chunk.query}) == 1  # labels never share a chunk
    # no subword dropped: each query's subwords are all covered
    covered = numpy.concatenate([c.subword[c.subword >= 0] for c in m.batch.chunks])
    assert set(covered.tolist()) == set(range(m.batch.n_subwords))


def test_targets_have_no_label_subwords(tiny_bert_dir: Path) -> None:
    shim = get_shim(layer(tiny_bert_dir), LabelMatcherShim)
    m = encode_matches(shim.tokenizer, shim.tokenizer, queries_of([WORDS], ["disease"]), max_length=16,
                       label_max_length=16, stride=2, batch_size=4)
    tags = numpy.asarray([0, 0, 1, 1, 0])
    on, off = (chunk_targets(m.batch, tags, tag_scheme="binary", first_subword_only=False,
                             label_tokens_positive=flag) for flag in (True, False))
    assert all(numpy.array_equal(a, b) for a, b in zip(on, off, strict=True))
    assert sorted(set(numpy.concatenate([t.ravel() for t in on]).tolist())) == [-1, 0, 1]


def test_sentence_encoded_once_whatever_the_labels(tiny_bert_dir: Path) -> None:
    model = layer(tiny_bert_dir, max_length=8, stride=2)
    module = get_shim(model, LabelMatcherShim).module
    rows = count_calls(module, "encode_text")
    sentences = [WORDS, LONG, WORDS]
    seen = []
    for labels in (["disease"], ["disease", "chemical", "gene", "cell line"]):
        for train in (False, True):
            rows.clear()
            queries = queries_of(sentences, labels, group=not train)
            if train:
                model.begin_update(queries)
            else:
                model.predict(queries)
            seen.append(sum(rows))
    tokenizer = get_shim(model, LabelMatcherShim).tokenizer
    n_subwords = [len(tokenizer(list(words), is_split_into_words=True, add_special_tokens=False)["input_ids"])
                  for words in (WORDS, LONG)]
    # the windows of the two distinct sentences, 6 subwords each (8 minus [CLS] and [SEP])
    n_text_rows = sum(len(window_starts(n, 6, 2)) for n in n_subwords)
    assert n_text_rows > 2 and seen == [n_text_rows] * 4


# ---- the label cache ----------------------------------------------------------------------------


def test_label_cache_hit_and_invalidation(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    model = layer(tiny_bert_dir)
    shim = get_shim(model, LabelMatcherShim)
    calls = count_calls(shim.module, "encode_labels")
    queries = queries_of([WORDS, LONG], ["disease", "chemical"])
    first = model.predict(queries).logits
    assert calls == [1, 1]  # each label text encoded once, alone
    again = model.predict(queries).logits
    assert calls == [1, 1] and set(shim.label_cache) == {"disease", "chemical"}  # hits
    assert all(numpy.array_equal(a, b) for a, b in zip(first, again, strict=True))
    model.predict(queries_of([WORDS], ["gene"]))
    assert len(calls) == 3
    # training computes label vectors in the graph (one padded pass), never from the cache
    calls.clear()
    scores, backprop = model.begin_update(queries_of([WORDS], ["disease", "chemical"], group=False))
    assert calls == [2]
    backprop([numpy.ones_like(x) for x in scores.logits])
    assert shim.module.label_proj.weight.grad.abs().sum() > 0
    model.finish_update(Adam(0.01))
    assert shim.label_cache == {}
    updated = model.predict(queries).logits
    fresh = build_label_matcher(str(tiny_bert_dir), dim=16, dropout=0.0).from_bytes(model.to_bytes())
    assert all(numpy.array_equal(a, b) for a, b in zip(updated, fresh.predict(queries).logits, strict=True))
    assert not all(numpy.array_equal(a, b) for a, b in zip(first, updated, strict=True))


def test_label_cache_follows_any_weight_change(tiny_bert_dir: Path) -> None:
    model = layer(tiny_bert_dir)
    shim = get_shim(model, LabelMatcherShim)
    queries = queries_of([WORDS], ["disease"])
    before = model.predict(queries).logits[0]
    with torch.no_grad():  # an in-place change no hook sees
        shim.module.label_proj.weight.mul_(2.0)
    after = model.predict(queries).logits[0]
    assert not numpy.array_equal(before, after)
    calls = count_calls(shim.module, "encode_labels")
    with model.use_params({}):  # averaged weights in, then out again: recomputed each time
        model.predict(queries)
    model.predict(queries)
    assert len(calls) == 2
    model.from_bytes(model.to_bytes())
    assert shim.label_cache == {}
    calls = count_calls(shim.module, "encode_labels")
    model.predict(queries)
    assert len(calls) == 1


# ---- the component --------------------------------------------------------------------------------


def make_examples(nlp: Language) -> list[Example]:
    examples = []
    for text, spans in TRAIN:
        ref = nlp.make_doc(text)
        ref.spans["sc"] = [ref.char_span(s, e, label=label) for s, e, label in spans]
        ref.set_ents(list(ref.spans["sc"]), default="outside")
        ref.user_data["bioner_source"] = {"doc_id": "d1"}
        examples.append(Example(nlp.make_doc(text), ref))
    return examples


def build(model_dir: Path, **model: Any) -> Language:
    nlp = spacy.blank("en")
    settings = {"@architectures": ARCH, "encoder": str(model_dir), "dropout": 0.0, "dim": 32, **model}
    nlp.add_pipe("bioner_prompted", config={"model": settings, "labels": LABELS})
    return nlp


def overfit(nlp: Language, steps: int = 300) -> int:
    examples = make_examples(nlp)
    gold = [sorted((s.start_char, s.end_char, s.label_) for s in eg.reference.spans["sc"]) for eg in examples]
    optimizer = Adam(5e-3)
    for step in range(1, steps + 1):
        nlp.update(examples, sgd=optimizer)
        if step % 10 == 0 and [spans(d) for d in nlp.pipe([t for t, _ in TRAIN])] == gold:
            return step
    raise AssertionError("no fit")


def spans(doc: Any) -> list[tuple[int, int, str]]:
    return sorted((s.start_char, s.end_char, s.label_) for s in doc.spans["sc"])


@pytest.fixture(scope="module", params=["pooled", "tokens"])
def trained(tmp_path_factory: pytest.TempPathFactory, make_tiny_bert: Callable[[Path], Path],
            request: pytest.FixtureRequest) -> Iterator[Language]:
    fix_random_seed(0)
    model_dir = make_tiny_bert(tmp_path_factory.mktemp("lm_bert"))
    label_dir = make_tiny_bert(tmp_path_factory.mktemp("lm_label_bert"))
    nlp = build(model_dir, label_encoder=str(label_dir), label_interaction=request.param)
    nlp.initialize(lambda: make_examples(nlp))
    # both directories gone: everything needed is in the pipeline now
    shutil.rmtree(model_dir)
    shutil.rmtree(label_dir)
    overfit(nlp)
    yield nlp


def scored(doc: Any, label: str) -> list[tuple[int, int, float]]:
    group = doc.spans["sc"]
    return [(s.start, s.end, x) for s, x in zip(group, group.attrs["scores"], strict=True) if s.label_ == label]


def test_two_encoders_overfit_and_roundtrip_offline(trained: Language, tmp_path: Path) -> None:
    pipe = trained.get_pipe("bioner_prompted")
    assert isinstance(pipe, PromptedTagger) and pipe.model.shims[0].module.label_encoder is not None
    texts = [t for t, _ in TRAIN] + ["Tamoxifen and cisplatin in breast cancer ."]
    before = [(spans(d), scored(d, "Disease")) for d in trained.pipe(texts)]
    trained.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    assert [(spans(d), scored(d, "Disease")) for d in loaded.pipe(texts)] == before
    # the saved model has a separate label encoder: a shared-encoder config cannot load it
    other = build(tmp_path / "unused")
    with pytest.raises(ValueError, match=r"\[E341\] .* label_encoder = 'separate'"):
        other.get_pipe("bioner_prompted").from_bytes(pipe.to_bytes())
    interaction = pipe.model.shims[0].interaction
    other = build(tmp_path / "unused", label_encoder="x", dim=8, label_interaction=interaction)
    with pytest.raises(ValueError, match=r"\[E341\] .* dim = 32"):
        other.get_pipe("bioner_prompted").from_bytes(pipe.to_bytes())
    other = build(tmp_path / "unused", label_encoder="x",
                  label_interaction="pooled" if interaction == "tokens" else "tokens")
    with pytest.raises(ValueError, match=rf"\[E341\] .* label_interaction = '{interaction}'"):
        other.get_pipe("bioner_prompted").from_bytes(pipe.to_bytes())


def test_label_results_independent_of_other_labels(trained: Language) -> None:
    texts = [t for t, _ in TRAIN] + ["Tamoxifen and cisplatin in breast cancer .", "Rats ."]
    pipe = trained.get_pipe("bioner_prompted")
    results = {}
    for labels in ({"Disease": "disease"}, LABELS, {"Chemical": "chemical", "Gene": "gene", "Disease": "disease"},
                   {"Cell": "cell line", "Disease": "disease"}):
        pipe.set_labels(labels)
        docs = [trained.make_doc(t) for t in texts]
        preds = pipe.predict(docs)
        pipe.set_annotations(docs, preds)
        results[tuple(labels)] = ([scored(d, "Disease") for d in docs],
                                  [p.word_probs["Disease"].tolist() for p in preds])
    pipe.set_labels(LABELS)
    first, *others = results.values()
    assert any(first[0])
    assert all(other == first for other in others)  # exactly equal, scores and word probabilities
    shim = get_shim(pipe.model, LabelMatcherShim)
    assert set(shim.label_cache) == {"disease", "chemical", "gene", "cell line"}
    # pooled: one vector per tag; tokens: one per token of "[CLS] cell line [SEP]"
    n_ids = len(shim.label_tokenizer("cell line")["input_ids"])
    expected = (n_ids, 32) if shim.interaction == "tokens" else (2, 32)
    assert tuple(shim.label_cache["cell line"].shape) == expected
    copy = spacy.util.load_model_from_config(trained.config, auto_fill=False).from_bytes(trained.to_bytes())
    copy_shim = get_shim(copy.get_pipe("bioner_prompted").model, LabelMatcherShim)
    copy("Rats .")
    assert set(copy_shim.label_cache) == set(LABELS.values())
    copy.update(make_examples(copy), sgd=Adam(1e-3))  # an update empties the cache
    assert copy_shim.label_cache == {}


@pytest.mark.usefixtures("native_bf16")
def test_bf16_inference_close_to_fp32(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    fp32 = layer(tiny_bert_dir)
    bf16 = build_label_matcher(str(tiny_bert_dir), dim=16, inference_bf16=True).from_bytes(fp32.to_bytes())
    queries = queries_of([WORDS, LONG], ["disease", "chemical"])
    for a, b in zip(fp32.predict(queries).logits, bf16.predict(queries).logits, strict=True):
        assert b.dtype == numpy.float32
        numpy.testing.assert_allclose(a, b, atol=0.05)


@pytest.mark.usefixtures("native_bf16")
def test_bf16_training_gives_float32_logits_and_gradients(tiny_bert_dir: Path) -> None:
    model = layer(tiny_bert_dir, training_bf16=True)
    scores, backprop = model.begin_update(queries_of([WORDS, LONG], ["disease", "chemical"], group=False))
    assert all(logits.dtype == numpy.float32 for logits in scores.logits)
    backprop([numpy.ones_like(x) for x in scores.logits])
    grad = get_shim(model, LabelMatcherShim).module.text_proj.weight.grad
    assert grad is not None and grad.dtype == torch.float32 and grad.abs().sum() > 0



def test_frozen_label_encoder_keeps_its_weights_and_trains_the_rest(tiny_bert_dir: Path,
                                                                    make_tiny_bert: Callable[[Path], Path],
                                                                    tmp_path: Path) -> None:
    fix_random_seed(0)
    label_dir = make_tiny_bert(tmp_path / "label_bert")
    nlp = build(tiny_bert_dir, label_encoder=str(label_dir), freeze_label_encoder=True)
    nlp.initialize(lambda: make_examples(nlp))
    module = get_shim(nlp.get_pipe("bioner_prompted").model, LabelMatcherShim).module
    frozen = {k: v.clone() for k, v in module.label_encoder.state_dict().items()}
    text = {k: v.clone() for k, v in module.encoder.state_dict().items()}
    proj = module.label_proj.weight.detach().clone()
    optimizer = Adam(1e-3)
    for _ in range(3):
        nlp.update(make_examples(nlp), sgd=optimizer)
    assert not module.label_encoder.training and module.encoder.training
    assert all(torch.equal(v, frozen[k]) for k, v in module.label_encoder.state_dict().items())
    assert any(not torch.equal(v, text[k]) for k, v in module.encoder.state_dict().items() if v.is_floating_point())
    assert not torch.equal(module.label_proj.weight.detach(), proj)
    # the same module, not frozen: the label encoder learns too
    fix_random_seed(0)
    free = build(tiny_bert_dir, label_encoder=str(label_dir))
    free.initialize(lambda: make_examples(free))
    free_module = get_shim(free.get_pipe("bioner_prompted").model, LabelMatcherShim).module
    before = {k: v.clone() for k, v in free_module.label_encoder.state_dict().items()}
    free.update(make_examples(free), sgd=Adam(1e-3))
    assert any(not torch.equal(v, before[k]) for k, v in free_module.label_encoder.state_dict().items()
               if v.is_floating_point())
    # a saved frozen model loads with its settings and predicts the same
    nlp.to_disk(tmp_path / "frozen")
    loaded = spacy.load(tmp_path / "frozen")
    texts = [t for t, _ in TRAIN]
    assert [scored(d, "Disease") for d in loaded.pipe(texts)] == [scored(d, "Disease") for d in nlp.pipe(texts)]
    assert get_shim(loaded.get_pipe("bioner_prompted").model, LabelMatcherShim).module.freeze_labels


def test_head_learns_at_head_learn_rate_scale_times_the_rate_and_the_encoders_at_the_rate(
        tiny_bert_dir: Path, make_tiny_bert: Callable[[Path], Path], tmp_path: Path) -> None:
    label_dir = make_tiny_bert(tmp_path / "label_bert")

    def one_update(scale: float) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        fix_random_seed(0)
        nlp = build(tiny_bert_dir, label_encoder=str(label_dir), head_learn_rate_scale=scale)
        nlp.initialize(lambda: make_examples(nlp))
        module = get_shim(nlp.get_pipe("bioner_prompted").model, LabelMatcherShim).module
        before = {k: v.detach().clone() for k, v in module.named_parameters()}
        fix_random_seed(0)
        nlp.update(make_examples(nlp), sgd=SGD(0.01))
        return before, {k: v.detach() - before[k] for k, v in module.named_parameters()}

    before_1, step_1 = one_update(1.0)
    before_8, step_8 = one_update(8.0)
    assert all(torch.equal(before_1[k], before_8[k]) for k in before_1)
    head = [k for k in step_1 if not k.startswith(("encoder.", "label_encoder."))]
    assert sorted(head) == ["bias", "label_proj.bias", "label_proj.weight", "text_proj.bias", "text_proj.weight"]
    for name, step in step_1.items():
        if step.abs().sum() == 0:
            continue
        expected = step * 8.0 if name in head else step
        assert torch.allclose(step_8[name], expected, rtol=1e-3, atol=1e-7), name
    assert any(step_1[k].abs().sum() > 0 for k in head)
    assert any(step_1[k].abs().sum() > 0 for k in step_1 if k.startswith("label_encoder."))


def test_frozen_identity_label_side_is_the_pretrained_embedding_before_and_after_training(
        tiny_bert_dir: Path, make_tiny_bert: Callable[[Path], Path], tmp_path: Path) -> None:
    label_dir = make_tiny_bert(tmp_path / "label_bert")
    # the tiny BERTs' hidden size is 32, the build() default dim
    nlp = build(tiny_bert_dir, label_encoder=str(label_dir), freeze_label_encoder=True, head_init="identity",
                freeze_label_projection=True)
    nlp.initialize(lambda: make_examples(nlp))
    shim = get_shim(nlp.get_pipe("bioner_prompted").model, LabelMatcherShim)
    module = shim.module
    texts = ["disease", "a cell line never trained on"]
    ids = [shim.label_tokenizer(t)["input_ids"] for t in texts]

    def vectors() -> torch.Tensor:
        shim.clear_cache()
        return shim.label_vectors(texts, ids)

    def pretrained(text: str) -> torch.Tensor:
        row = torch.tensor([shim.label_tokenizer(text)["input_ids"]])
        with torch.no_grad():
            return module.label_encoder(input_ids=row).last_hidden_state.mean(1)[0]

    before = vectors()
    text_proj = module.text_proj.weight.detach().clone()
    optimizer = Adam(1e-3)
    for _ in range(3):
        nlp.update(make_examples(nlp), sgd=optimizer)
    after = vectors()
    assert not torch.equal(module.text_proj.weight.detach(), text_proj)
    torch.testing.assert_close(after, before)
    for i, text in enumerate(texts):
        torch.testing.assert_close(after[i, 0], torch.zeros(32))
        torch.testing.assert_close(after[i, 1], pretrained(text), rtol=1e-4, atol=1e-5)
    # the free projection (same init) learns
    fix_random_seed(0)
    free = build(tiny_bert_dir, label_encoder=str(label_dir), freeze_label_encoder=True, head_init="identity")
    free.initialize(lambda: make_examples(free))
    free_module = get_shim(free.get_pipe("bioner_prompted").model, LabelMatcherShim).module
    start = free_module.label_proj.weight.detach().clone()
    free.update(make_examples(free), sgd=Adam(1e-3))
    assert not torch.equal(free_module.label_proj.weight.detach(), start)
    nlp.to_disk(tmp_path / "frozen")
    loaded = spacy.load(tmp_path / "frozen")
    sentences = [t for t, _ in TRAIN]
    assert [scored(d, "Disease") for d in loaded.pipe(sentences)] == [scored(d, "Disease") for d in nlp.pipe(sentences)]
    assert not get_shim(loaded.get_pipe("bioner_prompted").model, LabelMatcherShim).module.label_proj.weight.requires_grad


# ---- settings and errors --------------------------------------------------------------------------


def test_errors(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"\[E300\].*LabelMatcher"):
        build_label_matcher(str(tiny_bert_dir)).predict(queries_of([WORDS], ["disease"]))
    with pytest.raises(ValueError, match=r"\[E342\]"):
        build_label_matcher(str(tiny_bert_dir), label_pooling="max")
    with pytest.raises(ValueError, match=r"\[E310\] Invalid dim"):
        build_label_matcher(str(tiny_bert_dir), dim=0)
    with pytest.raises(ValueError, match=r"\[E310\] Invalid max_length"):
        build_label_matcher(str(tiny_bert_dir), max_length=2)
    with pytest.raises(ValueError, match=r"\[E306\]"):
        build_label_matcher(str(tiny_bert_dir), tag_scheme="bilou")
    with pytest.raises(ValueError, match=r"\[E310\] Invalid freeze_label_encoder = True.*label_encoder"):
        build_label_matcher(str(tiny_bert_dir), freeze_label_encoder=True)
    for scale in (0, -1.0, True):
        with pytest.raises(ValueError, match=r"\[E310\] Invalid head_learn_rate_scale"):
            build_label_matcher(str(tiny_bert_dir), head_learn_rate_scale=scale)
    with pytest.raises(ValueError, match=r"\[E310\] Invalid head_init = 'eye'.*random, identity"):
        build_label_matcher(str(tiny_bert_dir), head_init="eye")
    # the hidden sizes are known at initialize: the tiny BERT's is 32
    with pytest.raises(ValueError, match=r"\[E310\] Invalid dim = 16.*text encoder's hidden size, 32"):
        layer(tiny_bert_dir, head_init="identity")
    with pytest.raises(ValueError, match=r"\[E310\] Invalid freeze_label_projection = 'yes'"):
        build_label_matcher(str(tiny_bert_dir), freeze_label_projection="yes")
    with pytest.raises(ValueError, match=r"\[E310\] Invalid label_interaction = 'cross'.*pooled, tokens"):
        build_label_matcher(str(tiny_bert_dir), label_interaction="cross")
    with pytest.raises(ValueError, match=r"\[E310\] Invalid head_init = 'identity'.*label_interaction"):
        build_label_matcher(str(tiny_bert_dir), label_interaction="tokens", head_init="identity", dim=32)
    model = layer(tiny_bert_dir)
    too_long = " ".join(["disease"] * 200)
    with pytest.raises(ValueError, match=r"\[E340\] Label text 'disease disease"):
        model.predict(queries_of([WORDS], [too_long]))


def test_bio_scheme_and_cls_pooling(tiny_bert_dir: Path) -> None:
    model = layer(tiny_bert_dir, tag_scheme="bio", label_pooling="cls")
    scores = model.predict(queries_of([WORDS, ()], ["disease"]))
    assert all(logits.shape[-1] == 3 for logits in scores.logits) and scores.batch.n_words == len(WORDS)
    assert model.predict([PromptQuery((), "disease")]).logits == []


def test_config_switches_one_line() -> None:
    cross = (ROOT / "configs" / "prompted.cfg").read_text(encoding="utf8").splitlines()
    bi = (ROOT / "configs" / "prompted_biencoder.cfg").read_text(encoding="utf8").splitlines()
    changed = [(a, b) for a, b in zip(cross, bi, strict=True) if a != b]
    assert [b for _, b in changed if not b.startswith("#")] == [f'@architectures = "{ARCH}"']
    config = spacy.util.load_config(ROOT / "configs" / "prompted_biencoder.cfg")
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    assert nlp.get_pipe("bioner_prompted").model.name == "label_matcher"
