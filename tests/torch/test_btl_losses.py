"""The losses and the module of bioner_btl (pure torch): the BTL restricted
softmax per label, ATL's weighted cross-entropy, and BTLTaggerModule."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel

from spacy_bioner.torch import BTLTaggerModule, atl_loss, btl_loss
from spacy_bioner.torch.btl_tagger import btl_targets

# 3 positions, 2 labels: tags O, B-0, I-0, B-1, I-1
LOGITS = [
    [0.5, 1.0, -0.3, 0.2, 0.0],
    [0.1, 2.0, 0.4, -1.0, 0.3],
    [1.2, -0.5, 0.0, 0.7, 1.5],
]
TARGETS = [0, 1, 4]  # O, B-0, I-1


def _restricted_ce(row: list[float], cols: list[int], gold: int) -> float:
    """-log softmax over the logits `cols` of `row`, at `gold` (an index into cols)."""
    exps = [math.exp(row[c]) for c in cols]
    return -math.log(exps[gold] / sum(exps))


def _hand_btl(weights: list[float]) -> float:
    copies = []
    for c in range(2):
        cols = [0, 1 + 2 * c, 2 + 2 * c]
        num = den = 0.0
        for row, tag in zip(LOGITS, TARGETS, strict=True):
            # in copy c only c's tags stay; everything else is O
            gold = tag - 2 * c if tag in (1 + 2 * c, 2 + 2 * c) else 0
            w = weights[cols[gold]]
            num += w * _restricted_ce(row, cols, gold)
            den += w
        copies.append(num / den)
    return sum(copies) / len(copies)


def test_btl_loss_equals_hand_computed_restricted_softmax() -> None:
    logits, targets = torch.tensor(LOGITS), torch.tensor(TARGETS)
    unweighted = btl_loss(logits, targets, n_labels=2)
    assert unweighted.item() == pytest.approx(_hand_btl([1.0] * 5), rel=1e-6)
    weights = [0.2, 0.9, 0.9, 0.7, 0.7]
    weighted = btl_loss(logits, targets, n_labels=2, weights=torch.tensor(weights))
    assert weighted.item() == pytest.approx(_hand_btl(weights), rel=1e-6)
    assert weighted.item() != pytest.approx(unweighted.item(), rel=1e-3)
    # not the ordinary cross-entropy over all five tags
    assert unweighted.item() != pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-3)


def test_btl_loss_gradient() -> None:
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    weights = torch.tensor([0.2, 0.9, 0.9, 0.7, 0.7], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda x: btl_loss(x, torch.tensor(TARGETS), 2, weights), (logits,))
    btl_loss(logits, torch.tensor(TARGETS), 2).backward()
    # each copy reaches only its own label's logits and O: all columns get gradient
    assert logits.grad is not None and bool((logits.grad != 0).all())


def test_btl_copies_present() -> None:
    logits = torch.tensor(LOGITS)
    only_label_0 = torch.tensor([0, 1, 2])
    present = btl_loss(logits, only_label_0, 2, copies="present")
    cols = [0, 1, 2]
    hand = sum(_restricted_ce(row, cols, g) for row, g in zip(LOGITS, [0, 1, 2], strict=True)) / 3
    assert present.item() == pytest.approx(hand, rel=1e-6)
    assert btl_loss(logits, only_label_0, 2, copies="all").item() != pytest.approx(hand, rel=1e-3)
    # an all-O batch falls back to every copy
    all_o = torch.zeros(3, dtype=torch.int64)
    assert btl_loss(logits, all_o, 2, copies="present").item() == pytest.approx(
        btl_loss(logits, all_o, 2, copies="all").item())
    with pytest.raises(ValueError, match="copies"):
        btl_loss(logits, all_o, 2, copies="some")


def test_btl_targets_and_shapes() -> None:
    assert btl_targets(torch.tensor([0, 1, 2, 3, 4]), 2).tolist() == [[0, 1, 2, 0, 0], [0, 0, 0, 1, 2]]
    with pytest.raises(ValueError, match="tags"):
        btl_loss(torch.zeros(2, 4), torch.zeros(2, dtype=torch.int64), 2)
    empty = btl_loss(torch.zeros(0, 5, requires_grad=True), torch.zeros(0, dtype=torch.int64), 2)
    assert empty.item() == 0.0


def test_atl_loss_is_weighted_cross_entropy() -> None:
    logits, targets = torch.tensor(LOGITS), torch.tensor(TARGETS)
    weights = torch.tensor([0.2, 0.9, 0.9, 0.7, 0.7])
    assert atl_loss(logits, targets).item() == pytest.approx(F.cross_entropy(logits, targets).item(), rel=1e-6)
    assert atl_loss(logits, targets, weights).item() == pytest.approx(
        F.cross_entropy(logits, targets, weight=weights).item(), rel=1e-6)
    hand = sum(_restricted_ce(r, list(range(5)), t) for r, t in zip(LOGITS, TARGETS, strict=True)) / 3
    assert atl_loss(logits, targets).item() == pytest.approx(hand, rel=1e-6)




def test_btl_module(tiny_bert_dir: Path) -> None:
    encoder = AutoModel.from_pretrained(str(tiny_bert_dir))
    module = BTLTaggerModule(encoder, n_labels=3, dropout=0.0)
    ids = torch.tensor([[2, 10, 11, 3]])
    out = module(ids, torch.ones_like(ids))
    assert out.shape == (1, 4, 7) and module.n_labels == 3
    with pytest.raises(ValueError, match="n_labels"):
        BTLTaggerModule(encoder, n_labels=0)
