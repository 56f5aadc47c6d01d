"""The network of bioner_prompted (pure torch): PromptTaggerModule."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from spacy_bioner.torch import PromptTaggerModule


def test_prompt_tagger_module(tiny_bert_dir: Path) -> None:
    encoder = AutoModel.from_pretrained(str(tiny_bert_dir))
    module = PromptTaggerModule(encoder, n_tags=3, dropout=0.0)
    assert float(module.classifier.bias.detach().abs().sum()) == 0.0
    ids = torch.tensor([[2, 40, 3, 41, 42, 3], [2, 40, 3, 41, 3, 0]])
    mask = (ids != 0).long()
    types = torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 1, 1, 0]])
    module.eval()
    logits = module(ids, mask, types)
    assert logits.shape == (2, 6, 3)
    assert module(ids, mask).shape == (2, 6, 3)
    # a padded row gives the same logits as the row alone
    alone = module(ids[1:, :5], mask[1:, :5], types[1:, :5])
    assert torch.allclose(alone[0], logits[1, :5], atol=1e-6)
    with pytest.raises(ValueError):
        PromptTaggerModule(encoder, n_tags=1)
