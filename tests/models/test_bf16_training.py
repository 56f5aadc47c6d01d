"""Training under bfloat16 autocast (training_bf16): the forward pass runs in
bf16, the logits, weights and gradients stay float32."""
from __future__ import annotations

from pathlib import Path

import numpy
import pytest
import torch
from spacy.util import fix_random_seed
from thinc.api import Adam

from spacy_bioner.models.btl_tagger import build_btl_tagger
from spacy_bioner.models.prompt_tagger import build_prompt_tagger
from spacy_bioner.models.queries import PromptQuery

SENTENCES = [("cisplatin", "induced", "nephrotoxicity"), ("patients", "with", "breast", "cancer")]


def _queries(kind: str) -> list[PromptQuery]:
    # the prompted layer reads a label description first; the BTL layer reads the sentence alone
    text = "chemical" if kind == "prompt" else ""
    return [PromptQuery(words, text, "", i) for i, words in enumerate(SENTENCES)]


def _dtype_recorder(seen: list[torch.dtype]):
    return lambda module, inputs, output: seen.append(output.dtype)


def _layer(kind: str, encoder: Path, bf16: bool):
    if kind == "prompt":
        return build_prompt_tagger(str(encoder), dropout=0.0, training_bf16=bf16)
    layer = build_btl_tagger(str(encoder), dropout=0.0, training_bf16=bf16)
    layer.set_dim("nO", 5)
    return layer


@pytest.mark.parametrize("kind", ["prompt", "btl"])
@pytest.mark.usefixtures("native_bf16")
def test_training_bf16_runs_the_forward_pass_in_bf16(kind: str, tiny_bert_dir: Path) -> None:
    outputs = {}
    for bf16 in (False, True):
        fix_random_seed(0)
        layer = _layer(kind, tiny_bert_dir, bf16)
        layer.initialize()
        shim = layer.shims[0]
        seen: list[torch.dtype] = []
        hook = shim._model.classifier.register_forward_hook(_dtype_recorder(seen))
        scores, backprop = layer.begin_update(_queries(kind))
        hook.remove()
        assert seen == [torch.bfloat16 if bf16 else torch.float32] * len(scores.logits)
        assert all(x.dtype == numpy.float32 for x in scores.logits)
        backprop([numpy.ones_like(x) for x in scores.logits])
        layer.finish_update(Adam(1e-3))
        assert all(p.dtype == torch.float32 for p in shim._model.parameters())
        outputs[bf16] = numpy.concatenate([x.reshape(-1) for x in scores.logits])
    # the same model, at bf16 precision
    numpy.testing.assert_allclose(outputs[True], outputs[False], atol=0.05)
    assert not numpy.array_equal(outputs[True], outputs[False])
