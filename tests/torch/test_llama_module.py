"""The network of bioner_llama (pure torch): the bidirectional mask, the
labeler module on a tiny random LLaMA (and Mistral, Qwen2), and its loss."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from spacy_bioner.torch.llama_labeler import (
    IGNORE_INDEX,
    LlamaLabelerModule,
    bidirectional_mask,
    labeler_loss,
)


@pytest.fixture(scope="module")
def decoder(tiny_llama_dir: Path) -> AutoModel:
    torch.manual_seed(0)
    return AutoModel.from_pretrained(tiny_llama_dir, attn_implementation="sdpa").eval()



def test_bidirectional_mask_values() -> None:
    mask = bidirectional_mask(torch.tensor([[1, 1, 1], [1, 1, 0]]), torch.float32)
    assert mask.shape == (2, 1, 3, 3)
    minimum = torch.finfo(torch.float32).min
    assert (mask[0] == 0).all()
    # every query of row 1 may attend keys 0 and 1, never the padding key 2
    assert (mask[1, 0, :, :2] == 0).all() and (mask[1, 0, :, 2] == minimum).all()


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_bidirectional_sees_later_tokens_causal_does_not(tiny_llama_dir: Path, attn: str) -> None:
    decoder = AutoModel.from_pretrained(tiny_llama_dir, attn_implementation=attn).eval()
    ids = torch.tensor([[1, 20, 30, 40, 50, 60]])
    changed = ids.clone()
    changed[0, -1] = 70
    ones = torch.ones_like(ids)
    for bidirectional, first_moves in ((True, True), (False, False)):
        module = LlamaLabelerModule(decoder, 3, 0.0, bidirectional).eval()
        with torch.no_grad():
            a = module.hidden_states(ids, ones)
            b = module.hidden_states(changed, ones)
        moved = float((a[0, 0] - b[0, 0]).abs().max())
        assert (moved > 1e-4) == first_moves, (bidirectional, moved)
        # the changed token itself differs either way
        assert float((a[0, -1] - b[0, -1]).abs().max()) > 1e-4


@pytest.mark.parametrize("model_type", ["mistral", "qwen2"])
def test_mask_switch_for_mistral_and_qwen2(model_type: str) -> None:
    """The other supported families take the 4-D mask as given too (sliding
    window on, shorter than the row, so the custom mask must replace it)."""
    from transformers import AutoConfig

    config = AutoConfig.for_model(
        model_type, vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, sliding_window=4,
        use_sliding_window=True, attn_implementation="sdpa",
    )
    torch.manual_seed(0)
    decoder = AutoModel.from_config(config).eval()
    ids = torch.tensor([[1, 20, 30, 40, 50, 60, 61, 62]])
    changed = ids.clone()
    changed[0, -1] = 70
    padded = torch.cat([ids, torch.zeros((1, 3), dtype=torch.long)], dim=1)
    pad_mask = torch.cat([torch.ones_like(ids), torch.zeros((1, 3), dtype=torch.long)], dim=1)
    for bidirectional, first_moves in ((True, True), (False, False)):
        module = LlamaLabelerModule(decoder, 3, 0.0, bidirectional).eval()
        with torch.no_grad():
            a = module.hidden_states(ids, torch.ones_like(ids))
            b = module.hidden_states(changed, torch.ones_like(ids))
            c = module.hidden_states(padded, pad_mask)
        moved = float((a[0, 0] - b[0, 0]).abs().max())
        assert (moved > 1e-4) == first_moves, (model_type, bidirectional, moved)
        torch.testing.assert_close(c[0, : ids.shape[1]], a[0], atol=1e-5, rtol=1e-5)


def test_padding_does_not_change_outputs(decoder: AutoModel) -> None:
    module = LlamaLabelerModule(decoder, 3, 0.0, True).eval()
    ids = torch.tensor([[1, 20, 30, 40]])
    padded = torch.tensor([[1, 20, 30, 40, 0, 0, 0], [1, 50, 60, 70, 80, 90, 99]])
    mask = torch.tensor([[1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1]])
    with torch.no_grad():
        alone = module(ids, torch.ones_like(ids))
        batched = module(padded, mask)
        # whatever sits in the padding positions
        other = padded.clone()
        other[0, 4:] = torch.tensor([5, 6, 7])
        batched_other = module(other, mask)
    torch.testing.assert_close(batched[0, :4], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(batched_other[0, :4], alone[0], atol=1e-6, rtol=1e-6)


def test_module_rejects_other_model_types(tiny_bert_dir: Path) -> None:
    with pytest.raises(ValueError, match="model type 'bert'"):
        LlamaLabelerModule(AutoModel.from_pretrained(tiny_bert_dir))


def test_labeler_loss_ignores_unlabelled_positions() -> None:
    logits = torch.randn(2, 4, 3, requires_grad=True)
    targets = torch.tensor([[IGNORE_INDEX, 1, 2, IGNORE_INDEX], [0, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    loss = labeler_loss(logits, targets)
    kept = targets != IGNORE_INDEX
    expected = torch.nn.functional.cross_entropy(logits[kept], targets[kept])
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logits.grad is not None
    assert (logits.grad[~kept] == 0).all() and (logits.grad[kept].abs().sum(-1) > 0).all()
    none = labeler_loss(logits, torch.full((2, 4), IGNORE_INDEX))
    assert float(none.detach()) == 0.0


