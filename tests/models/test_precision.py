"""bf16 settings where the hardware has no native bf16: the layers run in
float32 (torch's emulated bf16 ran ~100x slower than float32 on an AVX2 CPU)
and say so once in the log."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy
import pytest
import torch
from thinc.api import fix_random_seed

from spacy_bioner.models import precision
from spacy_bioner.models.label_matcher import LabelMatcherShim, build_label_matcher
from spacy_bioner.models.prompt_tagger import build_prompt_tagger
from spacy_bioner.models.queries import PromptQuery
from spacy_bioner.models.tagger_layer import get_shim

QUERIES = [PromptQuery(("cisplatin", "induced", "nephrotoxicity"), "chemical", "chemical", 0),
           PromptQuery(("patients", "with", "breast", "cancer"), "disease", "disease", 1)]


@pytest.fixture
def emulated_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device_type: False)
    monkeypatch.setattr(precision, "_told", set())


def _classifier_dtypes(layer) -> list[torch.dtype]:
    seen: list[torch.dtype] = []
    layer.shims[0]._model.classifier.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    return seen


@pytest.mark.usefixtures("emulated_bf16")
def test_bf16_settings_run_in_float32_without_native_bf16(tiny_bert_dir: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    fix_random_seed(0)
    fp32 = build_prompt_tagger(str(tiny_bert_dir), dropout=0.0)
    fp32.initialize()
    both = build_prompt_tagger(str(tiny_bert_dir), dropout=0.0, inference_bf16=True,
                               training_bf16=True).from_bytes(fp32.to_bytes())
    seen = _classifier_dtypes(both)
    with caplog.at_level(logging.WARNING, logger="spacy_bioner"):
        for _ in range(2):
            scores, _backprop = both.begin_update(QUERIES)
            predicted = both.predict(QUERIES)
    assert seen and set(seen) == {torch.float32}
    for a, b in zip(fp32.predict(QUERIES).logits, predicted.logits, strict=True):
        numpy.testing.assert_array_equal(a, b)
    told = [r.getMessage() for r in caplog.records if r.name == "spacy_bioner"]
    # once per setting, however many calls
    assert len(told) == 2
    assert any(m.startswith("training_bf16 = true") for m in told)
    assert any(m.startswith("inference_bf16 = true") and "float32" in m for m in told)


@pytest.mark.usefixtures("emulated_bf16")
def test_label_vectors_run_in_float32_without_native_bf16(tiny_bert_dir: Path) -> None:
    fix_random_seed(0)
    fp32 = build_label_matcher(str(tiny_bert_dir), dim=16, dropout=0.0)
    fp32.initialize()
    bf16 = build_label_matcher(str(tiny_bert_dir), dim=16, dropout=0.0,
                               inference_bf16=True).from_bytes(fp32.to_bytes())
    for a, b in zip(fp32.predict(QUERIES).logits, bf16.predict(QUERIES).logits, strict=True):
        numpy.testing.assert_array_equal(a, b)
    cached = get_shim(bf16, LabelMatcherShim).label_cache
    assert cached and all(v.dtype == torch.float32 for v in cached.values())


def test_bf16_is_used_where_native(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "native_bf16", lambda device_type: True)
    assert precision.use_bf16(True, "cpu", "inference_bf16")
    assert not precision.use_bf16(False, "cpu", "inference_bf16")
