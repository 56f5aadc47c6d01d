"""The thinc layers on the shared tagger shim (spacy_bioner.PromptTagger.v1 and
spacy_bioner.BTLTagger.v1) with a tiny BERT: uninitialised use, the shim
check, and a pickle-free byte round trip that gives the same logits."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import srsly

from spacy_bioner.models.btl_tagger import BTLTaggerShim, build_btl_tagger
from spacy_bioner.models.prompt_tagger import PromptTaggerShim, build_prompt_tagger
from spacy_bioner.models.queries import TAG_SCHEMES, PromptQuery
from spacy_bioner.models.tagger_layer import get_shim

WORDS = ("patients", "with", "breast", "cancer", ".")


def test_uninitialized_layer_raises(tiny_bert_dir: Path) -> None:
    layer = build_prompt_tagger(str(tiny_bert_dir))
    with pytest.raises(ValueError, match=r"\[E300\].*spacy_bioner.PromptTagger.v1"):
        layer.predict([PromptQuery(WORDS, "disease")])
    assert srsly.msgpack_loads(layer.shims[0].to_bytes()) == {"initialized": False}


def test_get_shim_checks_the_kind(tiny_bert_dir: Path) -> None:
    layer = build_btl_tagger(str(tiny_bert_dir))
    assert isinstance(get_shim(layer, BTLTaggerShim), BTLTaggerShim)
    with pytest.raises(TypeError, match=r"\[E333\] Layer 'btl_tagger' holds no PromptTaggerShim"):
        get_shim(layer, PromptTaggerShim)


@pytest.mark.parametrize("tag_scheme", ["binary", "bio"])
def test_prompt_layer_bytes_roundtrip(tiny_bert_dir: Path, tag_scheme: str) -> None:
    layer = build_prompt_tagger(str(tiny_bert_dir), tag_scheme=tag_scheme, max_length=8, stride=2)
    layer.initialize()
    queries = [PromptQuery(WORDS, "disease", "Disease"), PromptQuery(WORDS[:2], "chemical", "Chemical")]
    scores = layer.predict(queries)
    assert scores.batch.n_rows > len(queries)  # windows
    assert all(logits.shape[-1] == len(TAG_SCHEMES[tag_scheme]) for logits in scores.logits)
    data = layer.to_bytes()
    copy = build_prompt_tagger(str(tiny_bert_dir / "unused"), tag_scheme=tag_scheme, max_length=8, stride=2)
    copy.from_bytes(data)
    again = copy.predict(queries)
    assert all(numpy.array_equal(a, b) for a, b in zip(scores.logits, again.logits, strict=True))
    # another scheme has another number of tags: the saved weights do not fit
    other = "bio" if tag_scheme == "binary" else "binary"
    with pytest.raises(ValueError, match=r"\[E317\]"):
        build_prompt_tagger(str(tiny_bert_dir), tag_scheme=other).from_bytes(data)
    # saved data of an uninitialized layer resets the shim
    shim = get_shim(copy, PromptTaggerShim)
    shim.from_bytes(srsly.msgpack_dumps({"initialized": False}))
    assert not shim.is_initialized and shim.tokenizer is None
    with pytest.raises(ValueError, match=r"\[E315\]"):
        shim.from_bytes(srsly.msgpack_dumps({"n_tags": 2}))


def test_btl_layer_bytes_roundtrip(tiny_bert_dir: Path) -> None:
    layer = build_btl_tagger(str(tiny_bert_dir))
    with pytest.raises(ValueError, match=r"\[E604\]"):
        layer.initialize()
    layer.set_dim("nO", 5)
    layer.initialize()
    queries = [PromptQuery(WORDS, "")]
    scores = layer.predict(queries)
    assert scores.logits[0].shape == (1, len(WORDS) + 2, 5)
    copy = build_btl_tagger(str(tiny_bert_dir)).from_bytes(layer.to_bytes())
    assert numpy.array_equal(copy.predict(queries).logits[0], scores.logits[0])
